"""Replicas on PostgreSQL when something goes wrong: a database that blips, a first
heartbeat that fails, a row another release wrote. A live replica's answers are
never marked interrupted, and its heartbeat never stops while it runs.

Two stores on one database stand for two processes; the database's failures are
real (the ``replicas`` table renamed away for a while, a row written by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import asyncpg

from dify_bridge.adapters.slack.budgets import WorkspaceBudgets
from dify_bridge.core import Incoming, LeftAnswer, Presence, SinkError
from dify_bridge.core.inflight import AnswerLedger
from dify_bridge.core.stream import TurnResult
from dify_bridge.core.writer import CROWDED_AFTER, ReplyWriter
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import Store, open_store
from dify_bridge.store.replicas import AnswerInFlight
from tests.support import RecordingSink

BEAT = 0.2
SLOW_BEAT = 0.5
"""Beats of a test that paces a second replica by hand beside this one."""


@contextlib.asynccontextmanager
async def two_processes(url: str) -> AsyncIterator[tuple[Store, Store]]:
    one, other = await open_store(url), await open_store(url)
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()


class RecordingMarker:
    """A platform whose marks are remembered (the port adapters implement); while not
    connected it refuses, as a Discord replica standing by (no gateway) does."""

    def __init__(self, *, connected: bool = True) -> None:
        self.marked: list[LeftAnswer] = []
        self.connected = connected
        self.refused = 0

    @property
    def can_mark(self) -> bool:
        return self.connected

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        if not self.connected:
            self.refused += 1
            raise SinkError("Discord edit", "no gateway connected here yet")
        self.marked.append(answer)


@dataclass
class RunningTurn:
    """What the ledger reads of a turn: its question, messages, result and writer."""

    incoming: Incoming
    message_keys: list[str] = field(default_factory=list)
    result: TurnResult = field(default_factory=TurnResult)
    writer: ReplyWriter = field(default_factory=lambda: ReplyWriter(RecordingSink()))


async def sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def rows_in_flight(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["answer_key"] for r in await conn.fetch("SELECT * FROM answers_in_flight")]
    finally:
        await conn.close()


async def beats_of(url: str, replica_id: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        seen = await conn.fetchval(
            "SELECT last_seen FROM replicas WHERE replica_id = $1", replica_id
        )
        return float(seen or 0.0)
    finally:
        await conn.close()


async def renewed(url: str, replica_id: str, times: int, every: float = BEAT) -> None:
    """Wait until ``replica_id``'s row was renewed ``times`` times (generous bound)."""
    last = await beats_of(url, replica_id)
    for _ in range(times):
        for _ in range(500):
            await asyncio.sleep(every / 4)
            seen = await beats_of(url, replica_id)
            if seen > last:
                last = seen
                break
        else:
            raise AssertionError(f"{replica_id} stopped beating")


async def test_a_database_blip_longer_than_the_expiry_marks_no_live_answer(
    postgres_url: str,
) -> None:
    """The database is away for longer than three beats: every row ages, the live
    replica's too. The survivor that beats first afterwards must not take the answers
    of a replica that simply has not beaten again yet."""
    async with two_processes(postgres_url) as (one, other):
        slow = Presence(one.replica_board(), replica_id="slow", interval=3600)
        survivor = Presence(other.replica_board(), replica_id="survivor", interval=SLOW_BEAT)
        marker = RecordingMarker()
        AnswerLedger(other.replica_board(), survivor, Metrics()).mark_with("slack", marker)
        await slow.beat()
        await survivor.start()
        try:
            live = AnswerInFlight("live", "slack", "slack:T1:C1:1.1", "slow", "slack:T1:C1:1.1")
            await one.replica_board().save_answers([live])
            for _ in range(3):  # both beat as usual
                await slow.beat()
                await renewed(postgres_url, "survivor", 1, SLOW_BEAT)
            assert marker.marked == []

            await sql(postgres_url, "ALTER TABLE replicas RENAME TO replicas_away")
            await asyncio.sleep(survivor.ttl * 3)  # every heartbeat fails meanwhile
            await sql(postgres_url, "ALTER TABLE replicas_away RENAME TO replicas")
            await renewed(postgres_url, "survivor", 1, SLOW_BEAT)  # the survivor is back first
            for _ in range(int(survivor.ttl / SLOW_BEAT) + 3):  # ...the slow one a little later
                await slow.beat()
                await renewed(postgres_url, "survivor", 1, SLOW_BEAT)

            assert marker.marked == [], "a live replica's answer was marked interrupted"
            assert await rows_in_flight(postgres_url) == ["live"]
        finally:
            await survivor.stop()


async def test_answers_are_not_recorded_under_a_heartbeat_that_failed(postgres_url: str) -> None:
    """The first beat failed: no row says this replica lives, so an answer recorded now
    would be taken by any survivor at once. It is recorded after a beat that worked."""
    async with two_processes(postgres_url) as (one, _):
        presence = Presence(one.replica_board(), replica_id="new", interval=3600)
        ledger = AnswerLedger(one.replica_board(), presence, Metrics())
        turn = RunningTurn(Incoming("slack", "slack:T1:C1:2.1", "hi", "U1"))
        await sql(postgres_url, "ALTER TABLE replicas RENAME TO replicas_away")
        await presence.start()  # its first beat fails
        try:
            await sql(postgres_url, "ALTER TABLE replicas_away RENAME TO replicas")
            assert await ledger.begin(turn) == ""
            assert await rows_in_flight(postgres_url) == []

            await presence.beat()
            key = await ledger.begin(turn)
            assert key and await rows_in_flight(postgres_url) == [key]
        finally:
            await presence.stop()


async def test_a_row_another_release_wrote_does_not_stop_the_heartbeat(postgres_url: str) -> None:
    """A newer release may write demand or pauses this one cannot read: the entries it
    cannot read are skipped, and the heartbeat goes on."""
    async with two_processes(postgres_url) as (one, _):
        await sql(
            postgres_url,
            "INSERT INTO replicas (replica_id, last_seen, demand, paused) VALUES ('next',"
            " extract(epoch FROM clock_timestamp()) + 3600,"
            """ '{"slack:T1": {"answers": 2}, "slack:T2": 1}', '{"slack:T1 chat.update": "soon"}')""",
        )
        presence = Presence(one.replica_board(), replica_id="this", interval=BEAT)
        await presence.start()
        try:
            await renewed(postgres_url, "this", 3)
            assert presence.live_replicas == 2
            assert presence.share("slack:T2") == 0.5 / 2.0
        finally:
            await presence.stop()


async def test_how_crowded_an_answer_is_comes_from_every_replica(postgres_url: str) -> None:
    """Four idle replicas each hold a quarter of chat.update: a first answer on one of
    them is not crowded (one process would edit it every 1.3 s), while answers
    elsewhere do crowd it, as they would on one process."""
    async with two_processes(postgres_url) as (one, other):
        demand: dict[str, dict[str, int]] = {f"r{n}": {} for n in range(4)}
        replicas = [
            Presence((one if n % 2 else other).replica_board(), replica_id=f"r{n}", interval=3600)
            for n in range(4)
        ]
        for presence in replicas:
            presence.count_demand_with(lambda p=presence: demand[p.replica_id])
            await presence.beat()
        budgets = WorkspaceBudgets(45.0)
        budgets.follow(replicas[0])
        await replicas[0].beat()
        update = budgets.for_team("T1")
        assert update.per_minute == 45.0 / 4, "a quarter of the rate each"
        assert update.seconds_per_answer(joining=True) <= CROWDED_AFTER

        demand["r1"] = {"slack:T1": 1}
        await replicas[1].beat()
        await replicas[0].beat()
        assert update.seconds_per_answer(joining=True) <= CROWDED_AFTER, "two answers in all"

        demand["r2"] = {"slack:T1": 5}
        await replicas[2].beat()
        await replicas[0].beat()
        assert update.seconds_per_answer(joining=True) > CROWDED_AFTER, "seven answers in all"
        for presence in replicas:
            await presence.stop()


async def test_an_answer_that_ended_while_the_database_was_away_is_forgotten(
    postgres_url: str,
) -> None:
    """Its row would outlive it: when this replica stops, a survivor would take it and
    append the interrupted line to an answer that was finished."""
    async with two_processes(postgres_url) as (one, _):
        presence = Presence(one.replica_board(), replica_id="r1", interval=3600)
        ledger = AnswerLedger(one.replica_board(), presence, Metrics())
        await presence.start()
        try:
            key = await ledger.begin(RunningTurn(Incoming("slack", "slack:T1:C1:3.1", "hi", "U1")))
            assert await rows_in_flight(postgres_url) == [key]
            await sql(postgres_url, "ALTER TABLE answers_in_flight RENAME TO away")
            await ledger.end(key)  # the answer is done; its row cannot go now
            await sql(postgres_url, "ALTER TABLE away RENAME TO answers_in_flight")
            for _ in range(200):
                await presence.beat()
                if not await rows_in_flight(postgres_url):
                    break
                await asyncio.sleep(0.05)
            assert await rows_in_flight(postgres_url) == []
        finally:
            await presence.stop()


async def test_a_replica_standing_by_leaves_the_marks_until_it_can_make_them(
    postgres_url: str,
) -> None:
    """The only survivor stands by (no Discord gateway yet, the dead replica's shard is
    not free yet): the dead replica's answer waits for it instead of using up its tries
    in a few beats, and is marked once the gateway is connected."""
    async with two_processes(postgres_url) as (one, other):
        await one.replica_board().beat("dead", demand={}, paused={}, ttl=0.1)
        left = AnswerInFlight("left", "discord", "discord:G1:C1", "dead", "")
        await one.replica_board().save_answers([left])
        standby = Presence(other.replica_board(), replica_id="standby", interval=BEAT)
        marker = RecordingMarker(connected=False)
        AnswerLedger(other.replica_board(), standby, Metrics()).mark_with("discord", marker)
        await standby.start()
        try:
            await renewed(postgres_url, "standby", int(standby.ttl / BEAT) + 10)
            assert await rows_in_flight(postgres_url) == ["left"], "still waiting for a survivor"
            marker.connected = True
            for _ in range(500):
                if marker.marked:
                    break
                await asyncio.sleep(BEAT / 4)
            assert [a.thread_key for a in marker.marked] == ["discord:G1:C1"]
            assert await rows_in_flight(postgres_url) == []
        finally:
            await standby.stop()


class StuckMarker(RecordingMarker):
    """A platform call that does not come back before this replica stops."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        self.entered.set()
        await asyncio.Event().wait()


async def test_answers_taken_by_a_replica_that_stops_before_marking_them_go_back(
    postgres_url: str,
) -> None:
    async with two_processes(postgres_url) as (one, other):
        await one.replica_board().beat("dead", demand={}, paused={}, ttl=0.1)
        await one.replica_board().save_answers(
            [AnswerInFlight(key, "slack", f"slack:T1:C1:{key}", "dead", "") for key in "ab"]
        )
        survivor = Presence(other.replica_board(), replica_id="survivor", interval=BEAT)
        marker = StuckMarker()
        AnswerLedger(other.replica_board(), survivor, Metrics()).mark_with("slack", marker)
        await survivor.start()
        try:
            await asyncio.wait_for(marker.entered.wait(), timeout=30)
        finally:
            await survivor.stop()
        assert sorted(await rows_in_flight(postgres_url)) == ["a", "b"], "for another survivor"


class FreezingProxy:
    """TCP in front of PostgreSQL's socket whose connections can go silent at once, as
    on a network that drops packets (nothing is closed, nothing arrives); connections
    opened afterwards flow."""

    def __init__(self, socket_path: str) -> None:
        self._socket_path = socket_path
        self._frozen: list[asyncio.Event] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> FreezingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for flowing in self._frozen:
            flowing.set()

    def freeze(self) -> None:
        for flowing in self._frozen:
            flowing.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self._socket_path)
        flowing = asyncio.Event()
        flowing.set()
        self._frozen.append(flowing)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    await flowing.wait()
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_a_heartbeat_on_a_connection_gone_silent_gives_up_and_beats_again(
    postgres_url: str,
) -> None:
    parts = urlsplit(postgres_url)
    query = dict(parse_qsl(parts.query))
    socket_path = f"{query['host']}/.s.PGSQL.{query['port']}"
    async with FreezingProxy(socket_path) as proxy:
        url = f"postgresql://bridge@127.0.0.1:{proxy.port}{parts.path}"
        store = await open_store(url)
        try:
            presence = Presence(store.replica_board(), replica_id="r1", interval=BEAT)
            await presence.start()
            try:
                await renewed(postgres_url, "r1", 2)
                proxy.freeze()
                await renewed(postgres_url, "r1", 3)  # over a new connection
            finally:
                await presence.stop()
        finally:
            await store.close()


async def test_a_bug_in_what_follows_a_beat_does_not_stop_the_heartbeat(postgres_url: str) -> None:
    async with two_processes(postgres_url) as (one, _):
        presence = Presence(one.replica_board(), replica_id="r1", interval=BEAT)
        calls: list[str] = []

        def buggy() -> None:
            calls.append("changed")
            raise KeyError("a bug in a budget's re-rating")

        async def buggy_work() -> None:
            calls.append("work")
            raise KeyError("a bug after a beat")

        presence.on_change(buggy)
        presence.after_beat(buggy_work)
        await presence.start()
        try:
            await renewed(postgres_url, "r1", 3)
            assert calls.count("changed") >= 3 and "work" in calls
        finally:
            await presence.stop()
