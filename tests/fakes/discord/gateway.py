"""The gateway: HELLO, heartbeats, IDENTIFY, RESUME, and the faults a test injects."""

from __future__ import annotations

import json

from aiohttp import WSMsgType, web

from tests.fakes.discord.records import MESSAGE_CONTENT_INTENT, FakeGuild, Json, now
from tests.fakes.discord.sessions import GatewayConnection, Session
from tests.fakes.discord.shards import receives, valid_shard
from tests.fakes.discord.state import DiscordState


class Gateway(DiscordState):
    """The websocket the client connects to, and the ways it can break."""

    async def disconnect(self, *, code: int = 4000, replay_since: Json | None = None) -> None:
        """Close every gateway socket with ``code`` (4000: the client resumes).

        With ``replay_since`` (a message), the next RESUME replays every event from that
        message's MESSAGE_CREATE on, as if the client had missed them.
        """
        for session in list(self._sessions.values()):
            if replay_since is not None:
                session.replay_from = self._seq_of(session, replay_since)
            if session.conn is not None:
                session.conn.closed_by_server = True
                await session.conn.ws.close(code=code)

    async def drop_connections(self) -> None:
        """Cut every gateway socket without a close frame (a network failure)."""
        for session in list(self._sessions.values()):
            conn, session.conn = session.conn, None
            if conn is not None:
                conn.closed_by_server = True
                transport = conn.ws._req.transport if conn.ws._req else None
                if transport is not None:
                    transport.abort()

    async def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send INVALID_SESSION; with ``resumable=False`` the client identifies anew."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})
            if not resumable:
                self._sessions.pop(session.id, None)

    def connected_sessions(self) -> int:
        return sum(1 for s in self._sessions.values() if s.conn is not None)

    def connected_shards(self) -> list[tuple[int, int] | None]:
        """The shard of every connected session, sorted (a shard twice: a duplicate)."""
        shards = [s.shard for s in self._sessions.values() if s.conn is not None]
        return sorted(shards, key=lambda shard: shard or (-1, 0))

    def _seq_of(self, session: Session, message: Json) -> int:
        for seq, payload in session.log:
            if payload["t"] == "MESSAGE_CREATE" and payload["d"]["id"] == message["id"]:
                return seq
        raise AssertionError(f"message {message['id']} was never dispatched")

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        conn = GatewayConnection(ws, request.query.get("compress"))
        session: Session | None = None
        await conn.send(
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await conn.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                session = await self._identify(conn, frame["d"])
            elif op == 6:
                session = await self._resume(conn, frame["d"])
        if session is not None and session.conn is conn:
            session.conn = None
            if not conn.closed_by_server and ws.close_code in (1000, 1001):
                self._sessions.pop(session.id, None)  # the client ended its session
        await self._notify()
        return ws

    async def _identify(self, conn: GatewayConnection, data: Json) -> Session | None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(data.get("intents", 0))
        if intents & MESSAGE_CONTENT_INTENT and not self.message_content_enabled:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard = valid_shard(data.get("shard"))
        if isinstance(shard, str):
            await conn.ws.close(code=4010, message=shard.encode())
            return None
        guilds = [g for g in self.guilds.values() if receives(shard, g.id)]
        if self.guilds_per_shard is not None and len(guilds) > self.guilds_per_shard:
            await conn.ws.close(code=4011, message=b"Sharding required.")
            return None
        if any(s.conn is not None and s.shard == shard for s in self._sessions.values()):
            self.duplicate_identifies.append(shard)
        session = Session(id=f"session-{self.snowflake()}", conn=conn, shard=shard)
        self._sessions[session.id] = session
        ready = {
            "v": 10,
            "user": self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "private_channels": [],
            "relationships": [],
        }
        async with session.lock:
            for event, payload in [("READY", ready)] + [
                ("GUILD_CREATE", self._guild_create(g)) for g in guilds
            ]:
                session.seq += 1
                frame = {"op": 0, "t": event, "s": session.seq, "d": payload}
                session.log.append((session.seq, frame))
                await conn.send(frame)
        await self._notify()
        return session

    async def _resume(self, conn: GatewayConnection, data: Json) -> Session | None:
        self.resumes.append(data)
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        async with session.lock:
            after = int(data.get("seq") or 0)
            if session.replay_from is not None:
                after = min(after, session.replay_from - 1)
                session.replay_from = None
            for seq, frame in session.log:
                if seq > after:
                    await conn.send(frame)
            session.conn = conn
            session.seq += 1
            resumed = {"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}
            session.log.append((session.seq, resumed))
            await conn.send(resumed)
        await self._notify()
        return session

    def _guild_create(self, guild: FakeGuild) -> Json:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "unavailable": False,
            "owner_id": str(self.bot.id),
            "member_count": len(guild.members),
            "large": False,
            "roles": guild.roles,
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": guild.channels,
            "threads": guild.threads if self.threads_in_guild_create else [],
            "members": [self._member_payload(guild, self.bot)],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "joined_at": now(),
        }
