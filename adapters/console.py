"""The terminal as a chat platform: the offline demo, and a plain adapter for tests.

Each line typed is a message in the current thread. Commands: ``/new`` starts
a new thread, ``/like`` and ``/dislike`` rate the last answer, ``/unrate``
revokes that, ``/choose N [text]`` answers a workflow's waiting form with its
N-th action (``text`` fills its field), ``/forget`` deletes the conversation
on the Dify side (the next message shows how the bridge recovers), ``/help``,
``/quit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from dify_bridge.core import (
    Bridge,
    EditBudget,
    Incoming,
    Message,
    MessageKey,
    Rating,
    Reaction,
    SinkError,
    SinkLimits,
    ThreadKey,
    notices,
)
from dify_bridge.errors import DifyError, StoreError

log = logging.getLogger(__name__)

HELP = (
    "Type a message and press Enter. Commands: /new (new thread), /like, /dislike, "
    "/unrate (rate the last answer), /ask N (ask a suggested follow-up), "
    "/choose N [text] (answer a workflow's form), "
    "/forget (delete the conversation on the Dify side), /quit."
)


class ConsoleSink:
    """Prints an answer as it grows; later edits print only what was appended."""

    limits = SinkLimits(message_chars=4000, edit_interval=0.05)
    edit_budget: EditBudget | None = None

    def __init__(self, out: TextIO, thread: ThreadKey, counter: itertools.count[int]) -> None:
        self._out = out
        self._thread = thread
        self._counter = counter
        self._shown: dict[str, str] = {}
        self._last_key = ""
        self._thinking = False
        self.keys: list[str] = []
        self.suggestions: list[str] = []

    def render(self, markdown: str) -> str:
        return markdown

    async def show_thinking(self) -> None:
        if self._out.isatty():
            self._write("bot> …")
            self._thinking = True

    async def clear_thinking(self) -> None:
        self._write("\n" if self.keys else "")

    async def post(self, message: Message) -> str:
        text = message.text
        key = str(MessageKey.console(self._thread, next(self._counter)))
        lead = "\r" if self._thinking else ""
        self._thinking = False
        self._write(lead + ("bot> " if not self.keys else "\nbot> (continued) ") + text)
        self._shown[key] = text
        self._last_key = key
        self.keys.append(key)
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        text, controls = message.text, message.controls
        old = self._shown.get(message_key, "")
        if message_key == self._last_key and text.startswith(old):
            self._write(text[len(old) :])
        else:
            self._write(f"\nbot> (edited) {text}")
        self._shown[message_key] = text
        if final and controls is not None:
            self.suggestions = list(controls.suggestions)
            for number, question in enumerate(controls.suggestions, start=1):
                self._write(f"\n     /ask {number}: {question}")

    def _write(self, text: str) -> None:
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError) as exc:  # the terminal went away (a closed pipe)
            raise SinkError("console write", type(exc).__name__) from None


class ConsoleAdapter:
    """Reads lines from ``source`` until it ends or ``/quit``."""

    name = "console"

    def __init__(
        self,
        bridge: Bridge,
        *,
        source: TextIO | None = None,
        out: TextIO | None = None,
        banner: str = "",
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._bridge = bridge
        self._source = source or sys.stdin
        self._out = out or sys.stdout
        self._banner = banner
        self._on_exit = on_exit
        self._thread_number = 1
        self._message_ids = itertools.count(1)
        self._last_answer: list[str] = []
        self._suggestions: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()

    @property
    def thread_key(self) -> str:
        return str(ThreadKey.console(self._thread_number))

    @property
    def healthy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._banner:
            self._print(self._banner)
        self._print(HELP)
        self._task = asyncio.create_task(self._read_loop(), name="console")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _start_reader(self) -> asyncio.Queue[str]:
        """Lines from a daemon thread, so a blocked read never holds up the exit."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str] = asyncio.Queue()

        def read() -> None:
            while True:
                line = self._source.readline()
                loop.call_soon_threadsafe(lines.put_nowait, line)
                if not line:
                    return

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return lines

    async def _read_loop(self) -> None:
        lines = self._start_reader()
        try:
            while True:
                self._out.write("you> ")
                self._out.flush()
                line = await lines.get()
                if not line:
                    break
                if not self._source.isatty():
                    self._out.write(line if line.endswith("\n") else line + "\n")
                if not await self.handle_line(line.strip()):
                    break
        finally:
            with contextlib.suppress(OSError):  # the output may be gone (a closed pipe)
                self._print("")
            self.finished.set()
            if self._on_exit is not None:
                self._on_exit()

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False ends the session."""
        if not line:
            return True
        if line.startswith("/ask"):
            number = line.removeprefix("/ask").strip()
            if not number.isdigit() or not 0 < int(number) <= len(self._suggestions):
                self._print("(no such suggestion; use /ask N with a number shown under the answer)")
                return True
            line = self._suggestions[int(number) - 1]
            self._print(f"you> {line}")
        elif line.startswith("/choose"):
            await self._choose(line.removeprefix("/choose").strip())
            return True
        elif line.startswith("/"):
            return await self._command(line.split()[0].lower())
        sink = ConsoleSink(self._out, ThreadKey.console(self._thread_number), self._message_ids)
        incoming = Incoming(
            platform="console",
            thread_key=self.thread_key,
            text=line,
            user_id="local",
            user_name="you",
            channel_id="console",
            channel_name="console",
        )
        await self._bridge.handle_message(incoming, sink)
        if sink.keys:
            self._last_answer = sink.keys
            self._suggestions = sink.suggestions
        return True

    async def _command(self, command: str) -> bool:
        if command in ("/quit", "/exit"):
            return False
        if command == "/new":
            self._thread_number += 1
            self._last_answer = []
            self._print(f"(thread {self._thread_number}: a new conversation)")
        elif command in ("/like", "/dislike", "/unrate"):
            await self._rate(command)
        elif command == "/forget":
            await self._forget()
        else:
            self._print(HELP)
        return True

    async def _choose(self, rest: str) -> None:
        """``/choose N [text]``: answer the waiting form with its N-th action; ``text``
        fills its fields (each the same text: a form here has at most one paragraph)."""
        number, _, text = rest.partition(" ")
        form = await self._bridge.pending_form(self.thread_key)
        if form is None:
            self._print("(no form is waiting in this thread)")
            return
        if not number.isdigit() or not 0 < int(number) <= len(form.actions):
            self._print("(no such choice; use /choose N with a number shown under the form)")
            return
        action = form.actions[int(number) - 1]
        inputs = {field.name: text.strip() for field in form.fields if text.strip()}
        sink = ConsoleSink(self._out, ThreadKey.console(self._thread_number), self._message_ids)
        said = await self._bridge.submit_form(form.form_key, action.id, inputs, "you", sink)
        if said:
            self._print(f"({said})")
        if sink.keys:
            self._last_answer = sink.keys

    async def _rate(self, command: str) -> None:
        if not self._last_answer:
            self._print("(no answer to rate yet)")
            return
        # only a complete answer is recorded as Dify's message (as for reactions elsewhere)
        if not await self._bridge.is_answer(self._last_answer[-1]):
            self._print("(the last answer was not complete, so it cannot be rated)")
            return
        rating = {"/like": Rating.LIKE, "/dislike": Rating.DISLIKE}.get(command)
        if not await self._bridge.handle_reaction(Reaction(self._last_answer[-1], rating, "local")):
            self._print(f"({notices.FEEDBACK_NOT_SENT})")
            return
        self._print(f"(sent {rating.value if rating else 'revoke'} to Dify for the last answer)")

    async def _forget(self) -> None:
        try:
            deleted = await self._bridge.delete_conversation(self.thread_key)
        except (DifyError, StoreError) as exc:
            self._print(f"(could not delete the conversation: {exc})")
            return
        if not deleted:
            self._print("(this thread has no conversation yet)")
            return
        self._print(
            f"(conversation {deleted} deleted on the Dify side; "
            "your next message shows the recovery)"
        )

    def _print(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()


__all__ = ["HELP", "ConsoleAdapter", "ConsoleSink"]
