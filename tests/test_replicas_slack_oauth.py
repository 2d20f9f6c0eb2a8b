"""Many workspaces on two ``dify-bridge run`` processes sharing PostgreSQL: an install
started on one replica is finished on the other, and both then answer that workspace;
an answer a killed replica left is marked by the other, which never saw that workspace."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from dify_bridge.core import notices
from tests.fakes.dify import FakeDify
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.pg import PostgresCluster
from tests.slack.browser import finish_install, start_install
from tests.test_replicas_budgets import both_see_each_other, logged
from tests.test_replicas_slack import Replica, Workspace, start_replica, two_bridges


@pytest.mark.timeout(180)
async def test_an_install_started_on_one_replica_is_finished_on_the_other(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    slack = FakeSlack()
    await slack.start()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "DIFY_", "DATABASE_URL", "TOKEN_"))
    }
    env = inherited | {
        "DIFY_API_URL": fake_dify.url,
        "DIFY_API_KEY": "app-test",
        "DATABASE_URL": postgres_url,
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "DEBUG",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    replicas: list[Replica] = []
    try:
        for _ in range(2):
            replicas.append(await start_replica(env, tmp_path))
        one, other = replicas
        ws = Workspace(slack, fake_dify, (one, other))

        started = await start_install(f"http://127.0.0.1:{one.port}")
        code = slack.allow_install("T2", "Second Workspace")
        done = await finish_install(
            f"http://127.0.0.1:{other.port}", code, started.state, started.cookie
        )
        assert done.status == 200, done.page
        slack.add_channel("C2", "T2")

        with slack.acting_in("T2"):
            for replica in (one, other):  # both replicas find the installation
                mention = slack.user_message(
                    "C2", f"hello {replica.port}", mention=True, event_type="app_mention"
                )
                await ws.deliver(replica, slack.event_callback(mention))
                await ws.answered(mention["ts"])
        codes = [await replica.stop() for replica in replicas]
    finally:
        for replica in replicas:
            await replica.stop()
        await slack.close()

    token = slack.installs["T2"].token
    posted = [c for c in slack.calls if c.args.get("channel") == "C2"]
    assert posted and {c.token for c in posted} == {token}
    assert all(c.ok for c in posted)
    assert codes == [0, 0]
    logs = "\n".join(one.log + other.log)
    assert "installed in Slack workspace T2" in logs
    assert token not in logs and CLIENT_SECRET not in logs


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("enterprise", "store_trouble"), [("", False), ("E1GRID", False), ("", True)]
)
async def test_a_survivor_that_never_saw_the_workspace_marks_its_interrupted_answer(
    fake_dify: FakeDify,
    postgres_cluster: PostgresCluster,
    postgres_url: str,
    tmp_path: Path,
    enterprise: str,
    store_trouble: bool,
) -> None:
    """The survivor finds the workspace's token in the store, Enterprise Grid ones too;
    a store that cannot be read at that moment only puts the marking off."""
    oauth = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT_ID}
    oauth["SLACK_CLIENT_SECRET"] = CLIENT_SECRET
    async with two_bridges(fake_dify, postgres_url, tmp_path, env=oauth) as ws:
        one, survivor = ws.replicas
        slack = ws.slack
        await both_see_each_other(ws)
        started = await start_install(f"http://127.0.0.1:{one.port}")
        code = slack.allow_install("T2", "Second Workspace", enterprise_id=enterprise)
        done = await finish_install(
            f"http://127.0.0.1:{one.port}", code, started.state, started.cookie
        )
        assert done.status == 200, done.page
        slack.add_channel("C2", "T2")
        fake_dify.script([f"w{i} " for i in range(600)], delay=0.05)  # about 30 s
        with slack.acting_in("T2"):
            mention = slack.user_message("C2", "long one", mention=True, event_type="app_mention")
            await ws.deliver(one, slack.event_callback(mention))
        await slack.wait_until(
            lambda: any("w3" in m.visible for m in slack.thread("C2", mention["ts"])), within=30
        )
        database = postgres_url.split("?")[0].rsplit("/", 1)[1]
        if store_trouble:
            postgres_cluster.psql("ALTER TABLE slack_bots RENAME TO slack_bots_away", database)
        one.process.send_signal(signal.SIGKILL)
        await one.process.wait()
        if store_trouble:
            await logged(survivor, "not marked (try 1)", within=30)
            postgres_cluster.psql("ALTER TABLE slack_bots_away RENAME TO slack_bots", database)
        interrupted = markdown_to_mrkdwn(f"⚠️ {notices.INTERRUPTED}")
        await slack.wait_until(
            lambda: slack.thread("C2", mention["ts"])[-1].visible.endswith(interrupted), within=30
        )

    (answer,) = slack.thread("C2", mention["ts"])
    assert answer.visible.startswith("w0 w1 w2") and not answer.streaming
    token = slack.installs["T2"].token
    assert {c.token for c in slack.calls if c.args.get("channel") == "C2"} == {token}
    assert any("marked the answer in" in line for line in survivor.log)
