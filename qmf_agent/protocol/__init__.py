"""The QMFv2 protocol, sans I/O: constants, typed messages, predicates, addressing.

Imports no proton.  The agent decodes requests and encodes answers with
:func:`decode` / :func:`encode`; the console builds requests with
:func:`query_request` and friends and reads answers with
:func:`decode_response`; the transport picks an addressing profile
(:class:`StandardAddressing`, :class:`RabbitAddressing`) to place messages.
"""

from __future__ import annotations

from ._addressing import *  # noqa: F403
from ._addressing import __all__ as _addressing_all
from ._builders import *  # noqa: F403
from ._builders import __all__ as _builders_all
from ._codec import *  # noqa: F403
from ._codec import __all__ as _codec_all
from ._constants import *  # noqa: F403
from ._constants import __all__ as _constants_all
from ._predicate import *  # noqa: F403
from ._predicate import __all__ as _predicate_all
from ._wire import *  # noqa: F403
from ._wire import __all__ as _wire_all

__all__ = [*_constants_all, *_codec_all, *_builders_all, *_predicate_all, *_addressing_all, *_wire_all]
