"""Answer buttons as Block Kit, the pause on 429, and where the token may go."""

from __future__ import annotations

import pytest

from dify_bridge.adapters.slack.blocks import answer_blocks, parse_click
from dify_bridge.adapters.slack.budgets import WorkspaceBudgets
from dify_bridge.adapters.slack.files import SlackFiles
from dify_bridge.adapters.slack.sink import LIMITS
from dify_bridge.core.layout import lay_out
from dify_bridge.core.ports import Message
from dify_bridge.core.types import ActionKind, Controls, Rating


class _Laid:
    """What the writer lays out for a Slack message: its limits, no rendering."""

    limits = LIMITS
    edit_budget = None

    def render(self, markdown: str) -> str:
        return markdown


def laid_out(text: str, controls: Controls) -> list[Message]:
    return lay_out(text, _Laid(), controls=controls)  # type: ignore[arg-type]


def test_long_text_is_cut_into_sections_slack_accepts():
    text = "```\n" + "x = 1\n" * 600 + "```"
    (message,) = laid_out(text, Controls(feedback=True))
    blocks = answer_blocks(message)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 2 and all(len(s) <= 3000 for s in sections)
    assert all(s.startswith("```") and s.endswith("```") for s in sections)
    (feedback,) = [b for b in blocks if b["type"] == "context_actions"]
    (buttons,) = feedback["elements"]
    assert buttons["type"] == "feedback_buttons" and buttons["action_id"] == "dify_feedback"
    assert buttons["positive_button"]["value"] == "like"
    assert buttons["negative_button"]["value"] == "dislike"


def test_suggestions_get_short_labels_and_keep_the_whole_question():
    question = "Could you explain " + "in great detail " * 10 + "how this works?"
    (message,) = laid_out("answer", Controls(stop=True, suggestions=(question,)))
    (_, actions) = answer_blocks(message)
    stop, suggested = actions["elements"]
    assert stop["action_id"] == ActionKind.STOP.value and stop["style"] == "danger"
    assert len(suggested["text"]["text"]) <= 75 and suggested["text"]["text"].endswith("…")
    assert suggested["value"] == question


def test_a_click_names_the_message_and_the_rating():
    body = {
        "type": "block_actions",
        "user": {"id": "U2", "team_id": "T1"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "message": {"ts": "5.5", "thread_ts": "1.1"},
        "actions": [{"action_id": "dify_feedback:dislike", "value": "dislike", "action_ts": "9"}],
    }
    click = parse_click(body)
    assert click is not None
    assert (click.kind, click.rating, click.channel, click.message_ts, click.thread_ts) == (
        ActionKind.FEEDBACK,
        Rating.DISLIKE,
        "C1",
        "5.5",
        "1.1",
    )
    assert parse_click(body | {"actions": [{"action_id": "other_app_button"}]}) is None


async def test_a_burst_of_429s_pauses_edits_once_not_once_per_answer():
    now = [100.0]
    budgets = WorkspaceBudgets(60, clock=lambda: now[0])
    budget = budgets.for_team("T1")
    for _ in range(20):  # twenty answers refused together
        budgets.on_rate_limited("chat.update", 5)
    budgets.on_rate_limited("chat.postMessage", 30)  # another limit, another bucket
    budget._refill()  # what the next acquire would see
    assert budget._tokens == pytest.approx(-5.0, abs=0.01), "paused for 5 s, not 100 s"


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://files.slack.com/files-pri/T1-F1/a.txt", True),
        ("http://files.slack.com/files-pri/T1-F1/a.txt", False),
        ("https://files.slack.com.evil.test/a.txt", False),
        ("https://example.test/a.txt", False),
        ("https://slack.com/api/x", True),
    ],
)
def test_the_token_only_goes_to_slack(url: str, trusted: bool):
    files = SlackFiles(lambda team_id: "xoxb-t", "https://slack.com/api/")
    assert files._trusted(url) is trusted
