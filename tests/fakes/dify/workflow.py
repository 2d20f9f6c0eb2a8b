"""Chatflow (advanced-chat) runs: workflow and node events, Human Input pauses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from tests.fakes.dify.records import FakeConversation, FakeMessage, now


class WorkflowRun:
    """Builds the workflow/node events of one chatflow run."""

    def __init__(self, conv: FakeConversation, msg: FakeMessage) -> None:
        self.id = str(uuid.uuid4())
        self.workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"workflow-{conv.api_key}"))
        self.conv = conv
        self.msg = msg
        self.started_at = time.monotonic()
        self.nodes: dict[str, str] = {}

    def event(self, base: Mapping[str, Any], event: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": event,
            "task_id": base["task_id"],
            "workflow_run_id": self.id,
            "message_id": base["message_id"],
            "conversation_id": base["conversation_id"],
            "created_at": base["created_at"],
            "data": data,
        }

    def started(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return self.event(
            base,
            "workflow_started",
            {
                "id": self.id,
                "workflow_id": self.workflow_id,
                "sequence_number": len(self.conv.messages),
                "inputs": {"sys.query": self.msg.query, **self.msg.inputs},
                "created_at": now(),
            },
        )

    def node_started(
        self, base: Mapping[str, Any], node_type: str, title: str, index: int
    ) -> dict[str, Any]:
        execution = self.nodes.setdefault(node_type, str(uuid.uuid4()))
        return self.event(
            base,
            "node_started",
            {
                "id": execution,
                "node_id": f"{node_type}-node",
                "node_type": node_type,
                "title": title,
                "index": index,
                "predecessor_node_id": None,
                "inputs": None,
                "created_at": now(),
                "extras": {},
            },
        )

    def node_finished(
        self,
        base: Mapping[str, Any],
        node_type: str,
        title: str,
        index: int,
        outputs: dict[str, Any],
        *,
        error: str | None = None,
    ) -> dict[str, Any]:
        execution = self.nodes.setdefault(node_type, str(uuid.uuid4()))
        return self.event(
            base,
            "node_finished",
            {
                "id": execution,
                "node_id": f"{node_type}-node",
                "node_type": node_type,
                "title": title,
                "index": index,
                "predecessor_node_id": None,
                "inputs": None,
                "process_data": None,
                "outputs": outputs if error is None else None,
                "status": "succeeded" if error is None else "failed",
                "error": error,
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "execution_metadata": None,
                "created_at": now(),
                "finished_at": now(),
                "files": [],
            },
        )

    def human_input_form(self, msg: FakeMessage, given: Mapping[str, Any]) -> dict[str, Any]:
        """``human_input_required.data``: a review form with a comment field, two actions."""
        form: dict[str, Any] = {
            "form_id": str(uuid.uuid4()),
            "node_id": "human-input-node",
            "node_title": "Human Input",
            "form_content": f"Please review the draft answer to: **{msg.query}**",
            "inputs": [
                {
                    "type": "paragraph",
                    "output_variable_name": "comment",
                    "placeholder": "Anything to change?",
                }
            ],
            "actions": [
                {"id": "approve", "title": "Approve", "button_style": "primary"},
                {"id": "reject", "title": "Reject", "button_style": "default"},
            ],
            "display_in_ui": True,
            "form_token": uuid.uuid4().hex,
            "resolved_default_values": {},
            "expiration_time": now() + 24 * 3600,
        }
        form.update(given)
        return form

    def paused(self, base: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
        node_id = form.get("node_id", "human-input-node")
        return self.event(
            base,
            "workflow_paused",
            {
                "workflow_run_id": self.id,
                "paused_nodes": [node_id],
                "outputs": {},
                "reasons": [
                    {
                        "type": "human_input_required",
                        "form_id": form.get("form_id"),
                        "node_id": node_id,
                    }
                ],
                "status": "paused",
                "created_at": now(),
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "total_tokens": 0,
                "total_steps": 3,
            },
        )

    def finished(self, base: Mapping[str, Any], answer: str, error: str | None) -> dict[str, Any]:
        return self.event(
            base,
            "workflow_finished",
            {
                "id": self.id,
                "workflow_id": self.workflow_id,
                "sequence_number": len(self.conv.messages),
                "status": "succeeded" if error is None else "failed",
                "outputs": {"answer": answer} if error is None else None,
                "error": error,
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "total_tokens": 0,
                "total_steps": 4,
                "created_by": {"id": base["conversation_id"], "user": self.msg.user},
                "created_at": now(),
                "finished_at": now(),
                "files": [],
            },
        )
