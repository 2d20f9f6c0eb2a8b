"""The kinds of events in a Dify answer stream, as typed values.

The answer's own events are in :mod:`dify_bridge.dify.events` with the parser;
here are the base and what a chatflow adds around an answer: forms that wait
for a person, pauses, steps, reasoning, and the client's own resume marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HumanInputFilled",
    "HumanInputRequired",
    "HumanInputTimedOut",
    "NodeStarted",
    "ReasoningDelta",
    "StreamEvent",
    "StreamResumed",
    "WorkflowPaused",
]


@dataclass(frozen=True, kw_only=True)
class StreamEvent:
    conversation_id: str = ""
    message_id: str = ""
    task_id: str = ""


@dataclass(frozen=True, kw_only=True)
class HumanInputRequired(StreamEvent):
    """``human_input_required``: a chatflow's Human Input node waits for a person.

    Everything needed to show the form and submit it later
    (``POST /form/human_input/{form_token}``) is kept as Dify sent it.
    """

    workflow_run_id: str = ""
    form_id: str = ""
    node_id: str = ""
    node_title: str = ""
    form_content: str = ""
    """Markdown shown above the fields."""
    inputs: tuple[dict[str, Any], ...] = ()
    """The fields (paragraph, select, file, file-list)."""
    actions: tuple[dict[str, Any], ...] = ()
    """The buttons: ``{id, title, button_style}``."""
    form_token: str = ""
    """Empty when the form is delivered another way (e-mail)."""
    resolved_default_values: dict[str, Any] = field(default_factory=dict)
    expiration_time: int | float | str | None = None


@dataclass(frozen=True, kw_only=True)
class HumanInputFilled(StreamEvent):
    """``human_input_form_filled``: someone submitted the form; the workflow goes on."""

    form_id: str = ""
    action_id: str = ""


@dataclass(frozen=True, kw_only=True)
class HumanInputTimedOut(StreamEvent):
    """``human_input_form_timeout``: no one answered in time (the timeout path)."""

    form_id: str = ""


@dataclass(frozen=True, kw_only=True)
class WorkflowPaused(StreamEvent):
    """``workflow_paused``: the chatflow waits; its stream then ends without ``message_end``."""

    workflow_run_id: str = ""
    reasons: tuple[Any, ...] = ()


@dataclass(frozen=True, kw_only=True)
class NodeStarted(StreamEvent):
    """``node_started``: a chatflow step begins (shown as a passing status, never as text)."""

    title: str = ""
    node_type: str = ""
    node_id: str = ""
    index: int = 0


@dataclass(frozen=True, kw_only=True)
class ReasoningDelta(StreamEvent):
    """``reasoning_chunk``: the model's thoughts (the LLM node's "separated" reasoning format).

    Never answer text; ``final`` is the last (possibly empty) piece."""

    text: str = ""
    final: bool = False


@dataclass(frozen=True, kw_only=True)
class StreamResumed(StreamEvent):
    """Not Dify's: the client lost a chatflow's stream and reconnects to its workflow run.

    What follows restates the answer from its start (a ``message_replace`` with the
    answer so far, or the run's whole event log again), then goes on live. Sent
    before each try, ``attempt`` counting from 1."""

    workflow_run_id: str = ""
    attempt: int = 1
