"""Names the QMFv2 map-message protocol puts on the wire.

Kept in one module so that the codec, the agent, the transport and the
console spell every property, opcode and content kind the same way.
"""

from __future__ import annotations

__all__ = [
    "APP_ID_KEY",
    "APP_ID",
    "METHOD_KEY",
    "OPCODE_KEY",
    "AGENT_KEY",
    "CONTENT_KEY",
    "PARTIAL_KEY",
    "REQUEST_ID_KEY",
    "REQUEST",
    "RESPONSE",
    "INDICATION",
    "AGENT_LOCATE_REQUEST",
    "AGENT_LOCATE_RESPONSE",
    "AGENT_HEARTBEAT_INDICATION",
    "QUERY_REQUEST",
    "QUERY_RESPONSE",
    "METHOD_REQUEST",
    "METHOD_RESPONSE",
    "EXCEPTION",
    "DATA_INDICATION",
    "SUBSCRIBE_REQUEST",
    "SUBSCRIBE_RESPONSE",
    "SUBSCRIBE_REFRESH_INDICATION",
    "SUBSCRIBE_CANCEL_INDICATION",
    "OPCODES",
    "CONTENT_DATA",
    "CONTENT_SCHEMA_ID",
    "CONTENT_SCHEMA",
    "CONTENT_EVENT",
    "CONTENT_OBJECT_ID",
    "CONTENTS",
    "WHAT_OBJECT",
    "WHAT_OBJECT_ID",
    "WHAT_SCHEMA",
    "WHAT_SCHEMA_ID",
    "WHATS",
    "TYPE_DATA",
    "TYPE_EVENT",
    "MAP_CONTENT_TYPE",
    "LIST_CONTENT_TYPE",
    "SEVERITY_NAMES",
]

# application properties
APP_ID_KEY = "x-amqp-0-10.app-id"
APP_ID = "qmf2"
METHOD_KEY = "method"
OPCODE_KEY = "qmf.opcode"
AGENT_KEY = "qmf.agent"
CONTENT_KEY = "qmf.content"
PARTIAL_KEY = "partial"
REQUEST_ID_KEY = "qmf.request_id"  # ours: lets a binding recognise a retried request

# values of the ``method`` property
REQUEST = "request"
RESPONSE = "response"
INDICATION = "indication"

# opcodes
AGENT_LOCATE_REQUEST = "_agent_locate_request"
AGENT_LOCATE_RESPONSE = "_agent_locate_response"
AGENT_HEARTBEAT_INDICATION = "_agent_heartbeat_indication"
QUERY_REQUEST = "_query_request"
QUERY_RESPONSE = "_query_response"
METHOD_REQUEST = "_method_request"
METHOD_RESPONSE = "_method_response"
EXCEPTION = "_exception"
DATA_INDICATION = "_data_indication"
SUBSCRIBE_REQUEST = "_subscribe_request"
SUBSCRIBE_RESPONSE = "_subscribe_response"
SUBSCRIBE_REFRESH_INDICATION = "_subscribe_refresh_indication"
SUBSCRIBE_CANCEL_INDICATION = "_subscribe_cancel_indication"

OPCODES = frozenset(
    {
        AGENT_LOCATE_REQUEST,
        AGENT_LOCATE_RESPONSE,
        AGENT_HEARTBEAT_INDICATION,
        QUERY_REQUEST,
        QUERY_RESPONSE,
        METHOD_REQUEST,
        METHOD_RESPONSE,
        EXCEPTION,
        DATA_INDICATION,
        SUBSCRIBE_REQUEST,
        SUBSCRIBE_RESPONSE,
        SUBSCRIBE_REFRESH_INDICATION,
        SUBSCRIBE_CANCEL_INDICATION,
    }
)

# values of ``qmf.content``
CONTENT_DATA = "_data"
CONTENT_SCHEMA_ID = "_schema_id"
CONTENT_SCHEMA = "_schema"
CONTENT_EVENT = "_event"
CONTENT_OBJECT_ID = "_object_id"  # the answer to an OBJECT_ID query
CONTENTS = frozenset(
    {CONTENT_DATA, CONTENT_SCHEMA_ID, CONTENT_SCHEMA, CONTENT_EVENT, CONTENT_OBJECT_ID}
)

# values of a QUERY's ``_what``
WHAT_OBJECT = "OBJECT"
WHAT_OBJECT_ID = "OBJECT_ID"
WHAT_SCHEMA = "SCHEMA"
WHAT_SCHEMA_ID = "SCHEMA_ID"
WHATS = frozenset({WHAT_OBJECT, WHAT_OBJECT_ID, WHAT_SCHEMA, WHAT_SCHEMA_ID})

# values of a schema id's ``_type``
TYPE_DATA = "_data"
TYPE_EVENT = "_event"

MAP_CONTENT_TYPE = "amqp/map"
LIST_CONTENT_TYPE = "amqp/list"

# syslog severities, as QMFv2 names them in event subjects
SEVERITY_NAMES = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
