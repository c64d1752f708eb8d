"""The engine every API shares: see ``docs/architecture.rst`` for the drawing.

Sans-io: ``_spec`` (what an API is, the keywords, the statistics), ``_adapter`` (what
an API's messages mean), ``_core`` (the state, the decisions, the counters),
``_waiters`` (which message answers which awaited call). Trio: ``_reader``,
``_writer``, ``_replay`` (what a socket that replaced a lost one is written first),
``_drivers`` (keepalive timers, stall watchdog, feeder), ``_requests`` (send a
request, wait for its own reply), ``_queue``, ``_sockets`` (the socket in use:
dropped, pinged, replaced when lost), ``_redial`` (dialling with backoff), ``_engine``
(one connection's parts wired together), ``_open`` (checking, connecting, running
around the caller's block).
"""

from ._adapter import Adapter as Adapter
from ._engine import Engine as Engine
from ._open import open_connection as open_connection
from ._spec import CONNECT_RULES as CONNECT_RULES
from ._spec import ApiSpec as ApiSpec
from ._spec import ConnectionStatistics as ConnectionStatistics
from ._spec import ConnectOptions as ConnectOptions
from ._spec import check_options as check_options
from ._spec import server_error as server_error
from ._waiters import Waiter as Waiter
