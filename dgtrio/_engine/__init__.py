"""The engine every API shares: see ``docs/architecture.md`` for the drawing.

``_spec`` (what an API is, the keywords, the statistics), ``_adapter`` (what an
API's messages mean, sans-io), ``_waiters`` (requests and their replies, sans-io),
``_engine`` (the channel, the sends and the tasks that move frames and time),
``_redial`` (dialling with backoff), ``_open`` (checking, connecting, running).
"""

from ._adapter import Adapter as Adapter
from ._engine import Engine as Engine
from ._open import open_connection as open_connection
from ._spec import ApiSpec as ApiSpec
from ._spec import ConnectionStatistics as ConnectionStatistics
from ._spec import ConnectOptions as ConnectOptions
from ._spec import check_options as check_options
from ._spec import server_error as server_error
from ._waiters import Waiter as Waiter
