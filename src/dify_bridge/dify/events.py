"""Typed events of a Dify chat stream.

Every event carries the ids Dify sends with it; the first one that has a
``conversation_id`` tells a new conversation's id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from dify_bridge.dify.event_types import (
    HumanInputFilled,
    HumanInputRequired,
    HumanInputTimedOut,
    NodeStarted,
    ReasoningDelta,
    StreamEvent,
    StreamResumed,
    WorkflowPaused,
)
from dify_bridge.dify.fields import (
    citations_of,
    data_of,
    expiration_of,
    object_of,
    objects_of,
    text_of,
    usage_of,
)
from dify_bridge.dify.types import Citation, Usage
from dify_bridge.errors import StreamFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AnswerDelta(StreamEvent):
    """More answer text (``message`` in chat apps, ``agent_message`` in agent apps)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AnswerReplaced(StreamEvent):
    """``message_replace``: the whole answer so far is replaced (moderation)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AgentThought(StreamEvent):
    """An agent step: which tool it uses and with what. Never answer text."""

    thought: str = ""
    tool: str = ""
    tool_input: str = ""
    observation: str = ""


@dataclass(frozen=True, kw_only=True)
class FileProduced(StreamEvent):
    """``message_file``: a file the app produced."""

    url: str
    file_type: str = ""
    belongs_to: str = ""


@dataclass(frozen=True, kw_only=True)
class MessageEnded(StreamEvent):
    """``message_end``: the answer is complete."""

    usage: Usage = field(default_factory=Usage)
    citations: tuple[Citation, ...] = ()
    files: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class WorkflowFinished(StreamEvent):
    """``workflow_finished`` of a chatflow app that did not fail (succeeded, or stopped)."""

    status: str = "succeeded"

    @property
    def succeeded(self) -> bool:
        """The run is complete (``partial-succeeded``: a node failed into its fail branch)."""
        return self.status in COMPLETE_WORKFLOW_STATUSES


@dataclass(frozen=True, kw_only=True)
class TtsAudio(StreamEvent):
    """``tts_message``: a base64 piece of spoken answer (empty at ``tts_message_end``)."""

    audio: str = ""
    final: bool = False


COMPLETE_WORKFLOW_STATUSES = frozenset({"succeeded", "partial-succeeded"})


def ends_answer(event: StreamEvent) -> bool:
    """True for an event after which a stream may end without the answer being cut off.

    The answer is complete at ``message_end`` (every app type) or at a successful
    ``workflow_finished`` (chatflows, which send it before or after ``message_end``).
    A chatflow that pauses for a person ends its stream after ``human_input_required``
    and ``workflow_paused`` with neither: that is a pause, not a cut.
    """
    if isinstance(event, WorkflowFinished):
        return event.succeeded
    return isinstance(event, MessageEnded | HumanInputRequired | WorkflowPaused)


def pauses_answer(event: StreamEvent) -> bool:
    """True for the events that say the chatflow now waits for a person."""
    return isinstance(event, HumanInputRequired | WorkflowPaused)


_IGNORED = frozenset(
    {
        "ping",
        "workflow_started",
        "node_finished",
        "node_retry",
        "iteration_started",
        "iteration_next",
        "iteration_completed",
        "loop_started",
        "loop_next",
        "loop_completed",
        "parallel_branch_started",
        "parallel_branch_finished",
        "text_chunk",
        "text_replace",
        "agent_log",
    }
)


def parse_event(payload: dict[str, Any]) -> StreamEvent | None:
    """Turn one decoded SSE ``data`` object into an event; None for kinds we skip.

    Raises :class:`StreamFailed` for an ``error`` event or a failed workflow.
    """
    kind = payload.get("event")
    ids = {
        "conversation_id": text_of(payload.get("conversation_id")),
        "message_id": text_of(payload.get("message_id") or payload.get("id")),
        "task_id": text_of(payload.get("task_id")),
    }
    if kind in ("message", "agent_message"):
        return AnswerDelta(text=text_of(payload.get("answer")), **ids)
    if kind == "message_replace":
        return AnswerReplaced(text=text_of(payload.get("answer")), **ids)
    if kind == "agent_thought":
        return AgentThought(
            thought=text_of(payload.get("thought")),
            tool=text_of(payload.get("tool")),
            tool_input=text_of(payload.get("tool_input")),
            observation=text_of(payload.get("observation")),
            **ids,
        )
    if kind == "message_file":
        ids["message_id"] = text_of(payload.get("message_id"))
        return FileProduced(
            url=text_of(payload.get("url")),
            file_type=text_of(payload.get("type")),
            belongs_to=text_of(payload.get("belongs_to")),
            **ids,
        )
    if kind == "message_end":
        ids["message_id"] = text_of(payload.get("message_id") or payload.get("id"))
        metadata = payload.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        files = payload.get("files")
        return MessageEnded(
            usage=usage_of(metadata.get("usage")),
            citations=citations_of(metadata.get("retriever_resources")),
            files=tuple(f for f in files if isinstance(f, dict)) if isinstance(files, list) else (),
            **ids,
        )
    if kind == "workflow_finished":
        data = payload.get("data")
        data = data if isinstance(data, dict) else {}
        status = text_of(data.get("status")) or "succeeded"
        if status == "failed":  # "stopped" carries its reason in "error" too: not a failure
            reason = text_of(data.get("error")) or "no reason given"
            raise StreamFailed(f"workflow failed: {reason}", code="workflow_failed")
        return WorkflowFinished(status=status, **ids)
    if kind == "human_input_required":
        data = data_of(payload)
        return HumanInputRequired(
            workflow_run_id=text_of(payload.get("workflow_run_id") or data.get("workflow_run_id")),
            form_id=text_of(data.get("form_id")),
            node_id=text_of(data.get("node_id")),
            node_title=text_of(data.get("node_title")),
            form_content=text_of(data.get("form_content")),
            inputs=objects_of(data.get("inputs")),
            actions=objects_of(data.get("actions")),
            form_token=text_of(data.get("form_token")),
            resolved_default_values=object_of(data.get("resolved_default_values")),
            expiration_time=expiration_of(data.get("expiration_time")),
            **ids,
        )
    if kind == "human_input_form_filled":
        data = data_of(payload)
        action = data.get("action_id") or data.get("action")
        return HumanInputFilled(
            form_id=text_of(data.get("form_id")), action_id=text_of(action), **ids
        )
    if kind == "human_input_form_timeout":
        return HumanInputTimedOut(form_id=text_of(data_of(payload).get("form_id")), **ids)
    if kind == "workflow_paused":
        data = data_of(payload)
        reasons = data.get("reasons")
        return WorkflowPaused(
            workflow_run_id=text_of(payload.get("workflow_run_id") or data.get("workflow_run_id")),
            reasons=tuple(reasons) if isinstance(reasons, list) else (),
            **ids,
        )
    if kind == "node_started":
        data = data_of(payload)
        index = data.get("index")
        return NodeStarted(
            title=text_of(data.get("title")),
            node_type=text_of(data.get("node_type")),
            node_id=text_of(data.get("node_id")),
            index=index if isinstance(index, int) and not isinstance(index, bool) else 0,
            **ids,
        )
    if kind == "reasoning_chunk":
        data = data_of(payload)
        return ReasoningDelta(
            text=text_of(data.get("reasoning")), final=data.get("is_final") is True, **ids
        )
    if kind in ("tts_message", "tts_message_end"):
        return TtsAudio(audio=text_of(payload.get("audio")), final=kind == "tts_message_end", **ids)
    if kind == "error":
        http_status = payload.get("status")
        raise StreamFailed(
            text_of(payload.get("message")) or "error event in the stream",
            status=http_status if isinstance(http_status, int) else 0,
            code=text_of(payload.get("code")),
        )
    if kind not in _IGNORED:
        log.debug("skipping unknown Dify event %r", kind)
    return None


__all__ = [
    "COMPLETE_WORKFLOW_STATUSES",
    "AgentThought",
    "AnswerDelta",
    "AnswerReplaced",
    "FileProduced",
    "HumanInputFilled",
    "HumanInputRequired",
    "HumanInputTimedOut",
    "MessageEnded",
    "NodeStarted",
    "ReasoningDelta",
    "StreamEvent",
    "StreamResumed",
    "TtsAudio",
    "WorkflowFinished",
    "WorkflowPaused",
    "ends_answer",
    "parse_event",
    "pauses_answer",
]
