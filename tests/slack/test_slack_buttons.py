"""The buttons under an answer: Stop while it streams, then 👍/👎 and suggested questions."""

from __future__ import annotations

from dify_bridge.core.types import ActionKind
from tests.fakes.slack import FakeMessage
from tests.slack.conftest import SlackBot, eventually

STOP = ActionKind.STOP.value
LIKE = f"{ActionKind.FEEDBACK.value}:like"
FIRST_SUGGESTION = f"{ActionKind.SUGGESTED.value}:0"


def button_ids(message: FakeMessage) -> list[str]:
    """Action ids of the buttons; Slack's feedback buttons as ``dify_feedback:like|dislike``."""
    ids: list[str] = []
    for button in message.buttons():
        if button.get("type") == "feedback_buttons":
            ids += [f"{button['action_id']}:{button[side]['value']}" for side in SIDES]
        else:
            ids.append(button["action_id"])
    return ids


SIDES = ("positive_button", "negative_button")


async def click(bot: SlackBot, message: FakeMessage, action_id: str, user: str = "U1") -> None:
    payload = bot.slack.block_action(message, action_id, user=user)
    status, body = await bot.slack.post_action(bot.events_url, payload)
    assert status == 200, f"Slack shows an error on the button: {status} {body!r}"


async def test_stop_ends_the_answer_where_it_is(edits_bot: SlackBot):
    """A streaming message takes no blocks until it stops: the Stop button is an edits thing."""
    slack_bot = edits_bot
    slack, dify = slack_bot.slack, slack_bot.dify
    full = "one two three four five six seven eight nine ten " * 3
    dify.script(full, delay=0.25)
    event = slack.user_message("C1", "count slowly", mention=True, event_type="app_mention")
    await slack_bot.send(event)
    await slack.wait_until(
        lambda: any(STOP in button_ids(m) for m in slack.thread("C1", event["ts"]))
    )

    (answer,) = slack.thread("C1", event["ts"])
    await click(slack_bot, answer, STOP)
    await slack_bot.answered("C1", event["ts"])

    assert answer.visible.startswith("one") and answer.visible.endswith("_(Stopped.)_")
    assert len(answer.visible) < len(full), "the rest of the answer must not appear"
    assert STOP not in button_ids(answer), "no Stop button once the answer has ended"
    assert [user for _, user in dify.stops] == [f"slack:{slack.team_id}:C1:{event['ts']}"]


async def test_feedback_buttons_rate_the_answer_and_thank_the_user(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "rate me with a button")
    (answer,) = slack.thread("C1", ts)
    assert LIKE in button_ids(answer)
    (message,) = dify.messages.values()

    await click(slack_bot, answer, LIKE, user="U2")

    await eventually(lambda: message.rating == "like")
    await slack.wait_until(lambda: bool(slack.calls_to("chat.postEphemeral")))
    (thanks,) = slack.calls_to("chat.postEphemeral")
    assert thanks.args["user"] == "U2" and thanks.args["thread_ts"] == ts


async def test_feedback_dify_no_longer_takes_is_not_thanked_for(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "rate me after the conversation is gone")
    (answer,) = slack.thread("C1", ts)
    (conversation_id,) = dify.conversations
    dify.delete_conversation(conversation_id)  # Dify answers 404 "Message Not Exists."

    await click(slack_bot, answer, LIKE, user="U2")

    await slack.wait_until(lambda: bool(slack.calls_to("chat.postEphemeral")))
    (told,) = slack.calls_to("chat.postEphemeral")
    assert "could not be sent" in told.args["text"] and "Thanks" not in told.args["text"]


async def test_a_suggested_question_is_asked_in_the_same_conversation(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    dify.suggested_questions = ["What <b> & why?", "Tell me more"]
    ts = await slack_bot.ask("C1", "start")
    (answer,) = slack.thread("C1", ts)
    assert FIRST_SUGGESTION in button_ids(answer)

    await click(slack_bot, answer, FIRST_SUGGESTION, user="U2")
    await click(slack_bot, answer, FIRST_SUGGESTION, user="U2")  # a double click
    await slack.wait_until(lambda: len(slack.thread("C1", ts)) == 3)
    asked = slack.thread("C1", ts)[1]
    await slack_bot.answered("C1", asked.ts)

    assert asked.text == "💬 *Bob* asked: What &lt;b&gt; &amp; why?"
    first, second = dify.chat_requests
    assert second["query"] == "Bob: What <b> & why?"
    assert second["conversation_id"] and second["user"] == first["user"]


async def test_a_cut_off_answer_has_no_feedback_buttons(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    dify.script(["Half ", "of ", "the ", "answer"], end_after=2)  # the stream ends cleanly early
    ts = await slack_bot.ask("C1", "a question")
    (answer,) = slack.thread("C1", ts)
    (cut,) = dify.messages.values()

    assert answer.visible.replace(" \n", "\n").startswith("Half of\n\n")
    assert answer.visible.endswith(
        "⚠️ The answer was cut off before it was complete. Please ask again."
    )
    assert button_ids(answer) == [], "no 👍/👎, suggestions or Stop under a partial answer"

    later = await slack_bot.ask("C1", "another question")
    (whole,) = slack.thread("C1", later)
    assert LIKE in button_ids(whole), "a complete answer still has them"
    (complete,) = (m for m in dify.messages.values() if m is not cut)
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "+1"))
    await slack_bot.send(slack.reaction_event("C1", whole.ts, "+1"))
    await eventually(lambda: complete.rating == "like")
    assert cut.rating is None, "a reaction on a partial answer is not feedback"
    assert dify.requests_to(f"/messages/{cut.id}/feedbacks") == []
    assert dify.requests_to(f"/messages/{cut.id}/suggested") == []
