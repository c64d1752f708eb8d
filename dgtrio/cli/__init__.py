"""The ``dgtrio`` command line: ``transcribe FILE``, ``mic``, ``agent``, ``speak TEXT``,
``devices``.

Without credentials and without ``--base-url`` it starts the fake Deepgram server
in-process and says so, so the command works offline, out of the box.

Exit status: 0 on success (and when Ctrl-C ends ``mic`` or a spoken ``agent``
conversation, the documented way to stop them); 2 for a bad argument (argparse's usage
line and one ``dgtrio: error:`` line); 1 for any other failure, reported as one line
``dgtrio: error: <message>`` on stderr; 130 when Ctrl-C interrupts anything else.

It uses only dgtrio's public API (one module per command), and imports
:mod:`dgtrio.testing` only when it starts the fake.
"""

from ._app import main as main

__all__ = ["main"]
