"""Files a user shares with a question reach Dify, downloaded with the bot's token."""

from __future__ import annotations

from tests.slack.conftest import SlackBot


async def test_a_shared_file_is_uploaded_to_dify_with_the_question(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.parameters["file_upload"] = {
        "enabled": True,
        "allowed_file_types": ["document"],
        "allowed_file_extensions": [],
        "allowed_file_upload_methods": ["local_file"],
        "number_limits": 3,
    }
    shared = slack.add_file("notes.txt", b"meeting at noon", "text/plain")
    event = slack.user_message(
        "C1", "summarise this", mention=True, event_type="app_mention", files=[shared]
    )

    await slack_bot.send(event)
    await slack_bot.answered("C1", event["ts"])

    (uploaded,) = dify.files.values()
    assert uploaded.name == "notes.txt" and uploaded.content == b"meeting at noon"
    assert dify.chat_requests[0]["files"][0]["upload_file_id"] == uploaded.id
    assert slack.downloads == [(shared["id"], slack.bot_token)]


async def test_a_file_slack_will_not_hand_over_is_reported_in_the_answer(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.parameters["file_upload"] = {
        "enabled": True,
        "allowed_file_types": ["document"],
        "allowed_file_upload_methods": ["local_file"],
        "number_limits": 3,
    }
    shared = slack.add_file("notes.txt", b"secret", "text/plain")
    del slack.files[shared["id"]]  # gone by the time the bot asks for it
    event = slack.user_message(
        "C1", "read this", mention=True, event_type="app_mention", files=[shared]
    )

    await slack_bot.send(event)
    await slack_bot.answered("C1", event["ts"])

    (answer,) = slack.thread_texts("C1", event["ts"])
    assert "notes.txt was not sent" in answer
    assert dify.files == {}
