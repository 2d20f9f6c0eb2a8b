"""A form from its pause to its answer: shown and stored, claimed once, submitted to Dify.

When a turn pauses at a Human Input node, :meth:`FormDesk.show` posts the
form (the platform's :class:`~dify_bridge.core.forms.FormBoard`, or a plain
message) and stores it with everything a submit needs, so a click after a
restart, or on another replica, works. :meth:`FormDesk.submit` claims the
form in the store (of two clicks, on any replicas, one submits), posts the
answer as the thread's Dify user, and closes the form's message; the bridge
then streams the workflow's continuation into the thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from dify_bridge.core import notices
from dify_bridge.core.forms import (
    FormBoard,
    FormView,
    form_body,
    form_text,
    view_of,
    view_of_record,
)
from dify_bridge.core.layout import notice_message
from dify_bridge.core.output import post_notice
from dify_bridge.core.ports import ReplySink
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.dify.events import HumanInputRequired
from dify_bridge.errors import DifyError, SinkError, StoreError
from dify_bridge.store import Store
from dify_bridge.store.records import FORM_CLOSED, FORM_WAITING, FormRecord

__all__ = ["FormDesk", "Submitted"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    """What became of a click on a form: ``record`` set when Dify took the answer."""

    notice: str = ""
    """The one line for whoever clicked ("" when Dify took it)."""
    record: FormRecord | None = None


class FormDesk:
    def __init__(self, store: Store, apps: AppDirectory) -> None:
        self._store = store
        self._apps = apps
        self._boards: dict[str, FormBoard] = {}

    def register(self, platform: str, board: FormBoard) -> None:
        self._boards[platform] = board

    async def show(
        self,
        event: HumanInputRequired,
        *,
        sink: ReplySink,
        thread_key: str,
        dify_user: str,
        app: str,
    ) -> None:
        """Post the form a paused turn ended with, and store it (SinkError/StoreError leave)."""
        view = view_of(event, thread_key)
        board = self._boards.get(thread_key.split(":", 1)[0])
        if board is not None and view.answerable_here:
            message_key = await board.show_form(view)
        else:
            text = form_text(view, choose="/choose")
            if not view.by_email and not view.answerable_here:
                text += "\n\n" + notices.FORM_IN_DIFY
            message_key = await sink.post(notice_message(text, sink))
        record = FormRecord(
            form_key=view.form_key,
            thread_key=thread_key,
            form_token=event.form_token,
            workflow_run_id=event.workflow_run_id,
            dify_user=dify_user,
            app=app,
            message_key=message_key,
            expires_at=view.expires_at,
            body=form_body(view, message_id=event.message_id),
        )
        await self._store.save_form(record)
        log.info("form %s shown in %s as %s", view.form_key, thread_key, message_key)

    async def waits(self, thread_key: str, sink: ReplySink) -> bool:
        """True when a form waits in the thread: a message there is not a new question
        (it gets a one-line pointer to the form instead)."""
        try:
            form = await self.pending(thread_key)
        except StoreError as exc:
            log.error("cannot tell whether a form waits in %s: %s", thread_key, exc)
            return False
        if form is None:
            return False
        log.info("message in %s while form %s waits", thread_key, form.form_key)
        await post_notice(sink, notices.FORM_BY_EMAIL if form.by_email else notices.FORM_WAITING)
        return True

    async def pending(self, thread_key: str) -> FormView | None:
        record = await self._store.pending_form(thread_key, time.time())
        return None if record is None else view_of_record(record)

    async def find(self, form_key: str) -> FormView | None:
        record = await self._store.get_form(form_key)
        return None if record is None else view_of_record(record)

    async def submit(
        self,
        form_key: str,
        action_id: str,
        inputs: Mapping[str, str],
        clicker_name: str,
        sink: ReplySink,
    ) -> Submitted:
        """Claim the form, send the answer to Dify, close the form's message.

        Refusals by Dify are posted in the thread (one line each); a second click
        is only told to whoever made it."""
        try:
            record = await self._store.get_form(form_key)
            if record is None or not record.form_token:
                return Submitted(notices.FORM_UNKNOWN if record is None else notices.FORM_BY_EMAIL)
            view = view_of_record(record)
            action = view.action(action_id)
            if action is None:
                return Submitted(notices.FORM_UNKNOWN)
            if not await self._store.claim_form(form_key):
                log.info("form %s already answered; click ignored", form_key)
                return Submitted(notices.FORM_TAKEN)
        except StoreError as exc:
            log.error("answer to form %s not sent: %s", form_key, exc)
            return Submitted(notices.UNEXPECTED)
        app = self._apps.get(record.app)
        answer = {f.name: inputs.get(f.name, f.default) for f in view.fields}
        try:
            await app.client.submit_form(
                record.form_token, inputs=answer, action=action.id, user=record.dify_user
            )
        except DifyError as exc:
            line = notices.for_form_error(exc)
            log.warning("Dify refused the answer to form %s: %s", form_key, exc)
            again = exc.code == "invalid_form_data" or exc.status in (0, 429) or exc.status >= 500
            await self._set_state(form_key, FORM_WAITING if again else FORM_CLOSED)
            if not again:
                await self._close(record, view, f"⚠️ {line}", None)
            await post_notice(sink, f"⚠️ {line}")
            return Submitted(line)
        await self._set_state(form_key, FORM_CLOSED)
        await self._close(record, view, notices.form_chosen(clicker_name, action.title), sink)
        log.info("form %s answered with %s", form_key, action.id)
        return Submitted(record=record)

    async def _set_state(self, form_key: str, state: str) -> None:
        try:
            await self._store.set_form_state(form_key, state)
        except StoreError as exc:
            log.error("form %s not marked %s: %s", form_key, state, exc)

    async def _close(
        self, record: FormRecord, view: FormView, outcome: str, sink: ReplySink | None
    ) -> None:
        """The form's message shows ``outcome``; without a board, a line in the thread."""
        board = self._boards.get(record.thread_key.split(":", 1)[0])
        if board is None or not record.message_key or not view.answerable_here:
            if sink is not None:
                await post_notice(sink, outcome)
            return
        try:
            await board.close_form(record.message_key, view, outcome)
        except SinkError as exc:
            log.warning("form %s still shows its buttons: %s", record.form_key, exc)
