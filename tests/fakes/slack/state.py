"""What one fake workspace holds, and what a test reads or breaks in it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from tests.fakes.slack.records import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    ApiCall,
    FakeFile,
    FakeMessage,
    Fault,
    Limit,
    PendingUpload,
    Workspace,
    manifest_scopes,
)


class SlackState:
    """A workspace with one bot user: its messages, files, calls, faults.

    More workspaces join by installing the app (:mod:`.oauth`); :meth:`acting_in`
    makes one of them the workspace the events, threads and ids are of. A token
    answers only for its own workspace's channels (``channel_not_found``).
    """

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        team_id: str = "T0FAKE",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> None:
        self.home = Workspace(team_id, "Fake Team", bot_user_id, bot_id, bot_token)
        self.installs: dict[str, Workspace] = {}
        """Workspaces that installed the app through OAuth, by team id."""
        self.channel_teams: dict[str, str] = {}
        """Channel id → the workspace it belongs to (unlisted: the home workspace)."""
        self._acting: Workspace | None = None
        self._codes: dict[str, str] = {}
        self.granted_codes = 0
        self.oauth_unreachable = False
        """True: ``oauth.v2.access`` drops the connection (Slack out of reach)."""
        """Codes ``oauth.v2.access`` turned into tokens."""
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.calls: list[ApiCall] = []
        self.views: list[dict[str, Any]] = []
        """Modals opened (``views.open``), in order."""
        self.used_triggers: set[str] = set()
        self.messages: dict[tuple[str, str], FakeMessage] = {}
        self.users: dict[str, str] = {"U1": "Alice", "U2": "Bob"}
        self.bot_users: set[str] = set()
        """Users that ``users.info`` reports as other apps' bots."""
        self.channels: dict[str, str] = {}
        self.files: dict[str, FakeFile] = {}
        self.downloads: list[tuple[str, str]] = []
        """(file id, token presented) of every download attempt."""
        self.pending_uploads: dict[str, PendingUpload] = {}
        self.token_revoked = False
        self.scopes = manifest_scopes()
        """Granted to the bot token (``auth.test``'s ``x-oauth-scopes`` header)."""
        self._ts = itertools.count(1)
        self._events = itertools.count(1)
        self._faults: dict[str, deque[Fault]] = {}
        self._limits: dict[str, Limit] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.socket_connected = asyncio.Event()
        self.socket_connections = 0

    @property
    def workspace(self) -> Workspace:
        """The workspace a call or an event is of (the home one unless told otherwise)."""
        return self._acting or self.home

    @property
    def bot_token(self) -> str:
        return self.workspace.token

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.bot_id

    @contextlib.contextmanager
    def acting_in(self, team_id: str) -> Iterator[Workspace]:
        """Events built, threads read and ids given within are those of ``team_id``."""
        before = self._acting
        self._acting = self.home if team_id == self.home.team_id else self.installs[team_id]
        try:
            yield self._acting
        finally:
            self._acting = before

    def workspace_of(self, token: str) -> Workspace | None:
        """The workspace whose bot token ``token`` is (None: no such token)."""
        if token == self.home.token:
            return self.home
        return next((w for w in self.installs.values() if w.token == token), None)

    @property
    def bot_user_ids(self) -> set[str]:
        return {self.home.bot_user_id, *(w.bot_user_id for w in self.installs.values())}

    def team_of_channel(self, channel: str) -> str:
        return self.channel_teams.get(channel, self.home.team_id)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def thread(self, channel: str, thread_ts: str | None) -> list[FakeMessage]:
        """Messages the bot shows in a thread (``None``: top level), oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel
                and m.thread_ts == thread_ts
                and m.user in self.bot_user_ids
                and not m.deleted
            ),
            key=lambda m: float(m.ts),
        )

    def thread_texts(self, channel: str, thread_ts: str | None) -> list[str]:
        return [m.visible for m in self.thread(channel, thread_ts)]

    def shared_files(self, channel: str, thread_ts: str | None) -> list[FakeFile]:
        """Files the bot shared in a thread (``None``: top level), oldest first."""
        return [f for m in self.thread(channel, thread_ts) for f in m.files]

    def reactions_on(self, channel: str, ts: str) -> dict[str, list[str]]:
        return dict(self.messages[(channel, ts)].reactions)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is checked after every API call."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        self._faults.setdefault(method, deque()).append(Fault(times, status, error, retry_after))

    def rate_limit(self, method: str, calls: int, window: float = 60.0) -> None:
        """Answer 429 once ``method`` got ``calls`` calls within ``window`` seconds.

        Like Slack's tiers, calls answered with 429 count too, so a client
        that ignores ``Retry-After`` stays limited.
        """
        self._limits[method] = Limit(calls, window)

    def revoke_token(self) -> None:
        self.token_revoked = True

    # ------------------------------------------------------------ messages

    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def add_message(
        self, channel: str, text: str, *, user: str = "U1", thread_ts: str | None = None
    ) -> FakeMessage:
        message = FakeMessage(channel, self.next_ts(), text, user, thread_ts)
        self.messages[(channel, message.ts)] = message
        return message

    @staticmethod
    def _error(code: str) -> dict[str, Any]:
        return {"ok": False, "error": code}

    def _message(self, args: dict[str, Any]) -> FakeMessage | None:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("ts", ""))))
        return None if message is None or message.deleted else message
