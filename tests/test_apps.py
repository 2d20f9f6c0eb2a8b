"""Every kind of Dify chat app, app inputs, and several apps routed from one bridge."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.config.routes import load_routes
from dify_bridge.core.types import Rating, Reaction
from dify_bridge.errors import ConfigError
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge
from .test_cli import run_cli

FORM = [
    {
        "text-input": {
            "label": "Department",
            "variable": "department",
            "required": True,
            "max_length": 20,
        }
    },
    {
        "select": {
            "label": "Tone",
            "variable": "tone",
            "required": False,
            "options": ["formal", "casual"],
        }
    },
    {"paragraph": {"label": "Asker", "variable": "asker", "required": False}},
]


async def test_required_input_missing_stops_the_start_naming_it(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["user_input_form"] = FORM
    env = {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-test"}
    code, _, err = await run_cli("demo", "--dify", cwd=tmp_path, env=env, stdin="/quit\n")
    assert code == 2
    assert "DIFY_INPUTS" in err and "'department' is required" in err
    code, out, _ = await run_cli("check", cwd=tmp_path, env=env)
    assert code == 1
    assert "input department (Department): text-input, required up to 20 characters" in out
    bad = env | {"DIFY_INPUTS": '{"department": "sales", "tone": "angry"}'}
    code, _, err = await run_cli("demo", "--dify", cwd=tmp_path, env=bad, stdin="/quit\n")
    assert code == 2 and "'tone' is 'angry', but the app accepts 'formal', 'casual'" in err


async def test_inputs_are_sent_every_turn_with_placeholders_filled(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["user_input_form"] = FORM
    inputs = '{"department": "sales", "asker": "{user_name} on {platform}"}'
    async with running_bridge(fake_dify.url, tmp_path / "b.db", DIFY_INPUTS=inputs) as rt:
        for turn in ("one", "two"):
            await rt.bridge.handle_message(incoming("t1", turn, user_name="Ada"), RecordingSink())
    assert [r["inputs"] for r in fake_dify.chat_requests] == [
        {"department": "sales", "asker": "Ada on test"}
    ] * 2


@pytest.mark.parametrize("mode", ["chat", "advanced-chat", "agent-chat"])
async def test_every_chat_app_mode_answers(mode: str, tmp_path: Path) -> None:
    async with FakeDify(mode=mode) as fake:
        fake.script(
            "Answer for " + mode,
            agent_thoughts=[{"tool": "search", "tool_input": "{}"}]
            if mode == "agent-chat"
            else None,
        )
        sink = RecordingSink()
        async with running_bridge(fake.url, tmp_path / "b.db") as rt:
            await rt.bridge.handle_message(incoming("t1", "hi"), sink)
    assert sink.visible == "Answer for " + mode
    if mode == "agent-chat":
        assert any("Using search" in text for _, _, text in sink.calls), (
            "agent status shown while working"
        )


async def test_failed_chatflow_becomes_a_notice(tmp_path: Path) -> None:
    async with FakeDify(mode="advanced-chat") as fake:
        fake.script(["Partial "], workflow_error="LLM node failed")
        sink = RecordingSink()
        async with running_bridge(fake.url, tmp_path / "b.db") as rt:
            await rt.bridge.handle_message(incoming("t1", "hi"), sink)
    assert sink.visible.startswith("Partial \n\n⚠️ The assistant ran into an error")


@pytest.mark.parametrize("mode", ["completion", "workflow"])
async def test_a_key_of_an_app_without_conversations_is_refused_clearly(
    mode: str, tmp_path: Path
) -> None:
    async with FakeDify(mode=mode) as fake:
        env = {"DIFY_API_URL": fake.url, "DIFY_API_KEY": "app-test"}
        code, _, err = await run_cli("demo", "--dify", cwd=tmp_path, env=env, stdin="/quit\n")
        assert code == 2
        assert f"({mode}), which has no conversations" in err
        code, out, _ = await run_cli("check", cwd=tmp_path, env=env)
        assert code == 1 and "no conversations" in out


async def test_two_apps_routed_from_two_channels(tmp_path: Path) -> None:
    async with (
        FakeDify(api_keys=["app-test"]) as default,
        FakeDify(api_keys=["app-sales"]) as sales,
    ):
        routes = tmp_path / "routes.toml"
        routes.write_text(
            f'[[routes]]\nname = "sales"\nslack_channels = ["CSALES"]\n'
            f'api_url = "{sales.url}"\napi_key = "app-sales"\ninputs = {{ team = "sales" }}\n'
        )
        sales.parameters["user_input_form"] = [
            {"text-input": {"variable": "team", "label": "Team"}}
        ]
        db = tmp_path / "b.db"
        in_sales = incoming("s1", "pricing?", route_scopes=("slack:CSALES", "slack:T1"))
        in_general = incoming("g1", "hello?", route_scopes=("slack:CGEN", "slack:T1"))
        sales_sink, general_sink = RecordingSink(), RecordingSink()
        async with running_bridge(default.url, db, DIFY_ROUTES_FILE=str(routes)) as rt:
            await rt.bridge.handle_message(in_sales, sales_sink)
            await rt.bridge.handle_message(in_general, general_sink)
            await rt.bridge.handle_reaction(Reaction(next(iter(sales_sink.messages)), Rating.LIKE))
            await rt.bridge.handle_reaction(
                Reaction(next(iter(general_sink.messages)), Rating.DISLIKE)
            )
        assert [r["query"] for r in sales.chat_requests] == ["pricing?"]
        assert sales.chat_requests[0]["inputs"] == {"team": "sales"}
        assert [r["query"] for r in default.chat_requests] == ["hello?"]
        assert [m.rating for m in sales.messages.values()] == ["like"]
        assert [m.rating for m in default.messages.values()] == ["dislike"]

        # moving the channel to another app only affects new threads
        routes.write_text(routes.read_text().replace("CSALES", "COTHER"))
        async with running_bridge(default.url, db, DIFY_ROUTES_FILE=str(routes)) as rt:
            await rt.bridge.handle_message(
                incoming("s1", "follow-up", route_scopes=in_sales.route_scopes), RecordingSink()
            )
            await rt.bridge.handle_message(
                incoming("s2", "new thread", route_scopes=in_sales.route_scopes), RecordingSink()
            )
        assert [r["query"] for r in sales.chat_requests] == ["pricing?", "follow-up"]
        assert [r["query"] for r in default.chat_requests] == ["hello?", "new thread"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[routes]\nname = 'x'", "line 1"),
        (
            "[[routes]]\nname = 'a'\napi_key = 'app-1'\nslack_channel = ['C1']\n",
            "unknown key 'slack_channel'",
        ),
        ("[[routes]]\nname = 'a'\nslack_channels = ['C1']\n", "'api_key' is required"),
        (
            "[[routes]]\nname = 'a'\napi_key = 'k'\nslack_channels = ['C1']\n"
            "[[routes]]\nname = 'b'\napi_key = 'k'\nslack_channels = ['C1']\n",
            "route 2 ('b'): C1 is already routed to 'a'",
        ),
        ("[[routes]]\nname = 'a'\napi_key = 'k'\n", "routes nothing"),
    ],
)
def test_a_bad_routes_file_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_routes(str(path), default_api_url="https://api.dify.ai/v1")
    assert caught.value.variable == "DIFY_ROUTES_FILE"
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
