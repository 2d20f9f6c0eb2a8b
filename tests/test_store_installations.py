"""Slack installations and OAuth states in both stores (schema version 4)."""

from __future__ import annotations

import asyncio
import time

from dify_bridge.store import open_store
from dify_bridge.store.installations import InstallationRecord


async def test_installations_and_bots_are_saved_found_and_deleted_per_workspace(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        records = store.slack_installations()
        latest = InstallationRecord("-:T1:", "-:T1", '{"team_id": "T1"}', "sealed-1")
        by_user = InstallationRecord("-:T1:U1", "-:T1", '{"team_id": "T1"}', "sealed-1")
        other = InstallationRecord("-:T2:", "-:T2", '{"team_id": "T2"}', "sealed-2")
        await records.save_installation([latest, by_user, other])
        await records.save_bot(InstallationRecord("-:T1", "-:T1", "{}", "bot-1"))
        newer = InstallationRecord("-:T1:", "-:T1", '{"team_id": "T1"}', "sealed-1b")
        await records.save_installation([newer])  # a new install replaces the latest

        assert await records.installation("-:T1:") == newer
        assert await records.installation("-:T1:U1") == by_user
        assert (bot := await records.bot("-:T1")) is not None and bot.tokens == "bot-1"

        await records.delete_installations("-:T1", "-:T1:U1")
        assert await records.installation("-:T1:U1") is None
        assert await records.installation("-:T1:") == newer
        await records.delete_installations("-:T1")
        await records.delete_bot("-:T1")
        assert await records.installation("-:T1:") is None and await records.bot("-:T1") is None
        assert await records.installation("-:T2:") == other
    finally:
        await store.close()


async def test_a_state_is_consumed_once_and_not_after_it_expired(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        records = store.slack_installations()
        now = time.time()
        await records.issue_state("fresh", now + 600)
        await records.issue_state("stale", now - 1)
        won = await asyncio.gather(*(records.consume_state("fresh", now) for _ in range(5)))
        assert sorted(won) == [False] * 4 + [True], "of concurrent uses, exactly one wins"
        assert not await records.consume_state("stale", now)
        assert not await records.consume_state("never-issued", now)
    finally:
        await store.close()


async def test_a_bot_is_found_by_its_workspace_alone_in_or_out_of_an_organization(
    database_url: str,
) -> None:
    store = await open_store(database_url)
    try:
        records = store.slack_installations()
        await records.save_bot(InstallationRecord("E1:T1", "E1:T1", "{}", "grid-bot"))
        await records.save_bot(InstallationRecord("-:T2", "-:T2", "{}", "plain-bot"))
        await records.save_bot(InstallationRecord("-:T11", "-:T11", "{}", "other-bot"))
        assert (grid := await records.bot_of_team("T1")) is not None and grid.tokens == "grid-bot"
        assert (plain := await records.bot_of_team("T2")) is not None
        assert plain.tokens == "plain-bot"
        assert await records.bot_of_team("T3") is None
    finally:
        await store.close()
