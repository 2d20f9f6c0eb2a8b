"""The engine's face to the adapters: the :class:`Bridge` facade and the values it takes.

Adapters import this package and nothing of the store, the Dify client or
the apps: they turn platform events into :class:`Incoming`, :class:`Reaction`
and :class:`CommandRequest` values, implement :class:`ReplySink`, and call
the facade.
"""

from dify_bridge.core import history, notices
from dify_bridge.core.access import AccessPolicy
from dify_bridge.core.bridge import Bridge
from dify_bridge.core.commands import CommandRequest
from dify_bridge.core.forms import FormAction, FormBoard, FormField, FormView
from dify_bridge.core.history import Said
from dify_bridge.core.keepalive import loop_step
from dify_bridge.core.memory import BoundedDict, BoundedSet
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.pacing import EditBudget
from dify_bridge.core.ports import (
    Adapter,
    AnswerMarker,
    AppendingSink,
    AudioSink,
    LeftAnswer,
    Message,
    ReplySink,
    SinkLimits,
)
from dify_bridge.core.presence import Presence
from dify_bridge.core.tables import tables_as_code
from dify_bridge.core.types import (
    ActionKind,
    Attachment,
    Controls,
    Incoming,
    Opening,
    Rating,
    Reaction,
)
from dify_bridge.errors import BridgeError, ConfigError, FileTooLarge, SinkError
from dify_bridge.keys import MessageKey, RouteScope, ThreadKey, dify_user_for
from dify_bridge.store.installations import InstallationRecord, InstallationRecords
from dify_bridge.store.shards import ShardClaims

__all__ = [
    "AccessPolicy",
    "ActionKind",
    "Adapter",
    "AnswerMarker",
    "AppendingSink",
    "Attachment",
    "AudioSink",
    "BoundedDict",
    "BoundedSet",
    "Bridge",
    "BridgeError",
    "BridgeOptions",
    "CommandRequest",
    "ConfigError",
    "Controls",
    "EditBudget",
    "FileTooLarge",
    "FormAction",
    "FormBoard",
    "FormField",
    "FormView",
    "Incoming",
    "InstallationRecord",
    "InstallationRecords",
    "LeftAnswer",
    "Message",
    "MessageKey",
    "Opening",
    "Presence",
    "Rating",
    "Reaction",
    "ReplySink",
    "RouteScope",
    "Said",
    "ShardClaims",
    "SinkError",
    "SinkLimits",
    "ThreadKey",
    "dify_user_for",
    "history",
    "loop_step",
    "notices",
    "tables_as_code",
]
