"""``python -m dgtrio.testing serve``: ``dgtrio serve`` (see :mod:`dgtrio.cli`) under
the fake's own name."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m dgtrio.testing``; returns the exit status."""
    return cli.main(argv, prog="python -m dgtrio.testing")


if __name__ == "__main__":
    sys.exit(main())
