"""``python -m dgtrio.cli``: the ``dgtrio`` command (the worker processes of
``dgtrio phone --workers`` start this way)."""

import sys

from ._app import main

sys.exit(main())
