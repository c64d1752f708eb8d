"""``python -m dgtrio``: the ``dgtrio`` command line (:mod:`dgtrio.cli`)."""

import sys

from dgtrio.cli import main

if __name__ == "__main__":
    sys.exit(main())
