"""Voice out: with VOICE_REPLIES the answer's audio follows the final text as a file."""

from __future__ import annotations

from pathlib import Path

from dify_bridge.adapters.slack.sink import SPOKEN_ANSWER_TITLE
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, eventually, running_slack_bot

UPLOAD_CALLS = ("files.getUploadURLExternal", "files.completeUploadExternal")


def tts_on(dify: FakeDify) -> None:
    dify.parameters["text_to_speech"] = {"enabled": True, "voice": "alloy", "language": "en"}


async def spoken(bot: SlackBot, channel: str, thread_ts: str | None) -> None:
    await bot.slack.wait_until(lambda: bool(bot.slack.shared_files(channel, thread_ts)))


async def test_streamed_speech_is_shared_in_the_thread_after_the_final_text(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack, dify = fake_slack, fake_dify
    tts_on(dify)
    dify.script("It is cold on Mars.", tts=True)
    async with running_slack_bot(slack, dify, tmp_path / "b.db", VOICE_REPLIES="auto") as bot:
        root = await bot.ask("C1", "weather on Mars?")
        await spoken(bot, "C1", root)

    (audio,) = slack.shared_files("C1", root)
    assert audio.content == dify.speech and audio.name.endswith(".mp3")
    assert audio.title == SPOKEN_ANSWER_TITLE
    assert dify.tts_requests == [], "the streamed tts_message audio is used as it is"
    answer, shared = slack.thread("C1", root)
    assert answer.visible == "It is cold on Mars." and not answer.files and shared.files
    # the text was complete before the upload began
    last_text = max(
        i
        for i, c in enumerate(slack.calls)
        if c.method in ("chat.postMessage", "chat.update") and c.ok
    )
    first_upload = min(i for i, c in enumerate(slack.calls) if c.method in UPLOAD_CALLS)
    assert last_text < first_upload


async def test_without_streamed_speech_the_answer_is_read_aloud_by_dify(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack, dify = fake_slack, fake_dify
    tts_on(dify)
    dify.speech = b"ID3" + b"\x01" * 200
    async with running_slack_bot(slack, dify, tmp_path / "b.db", VOICE_REPLIES="auto") as bot:
        event = slack.user_message("D1", "hello", channel_type="im")
        await bot.send(event)
        await spoken(bot, "D1", None)

    (audio,) = slack.shared_files("D1", None)
    assert audio.content == dify.speech
    (request,) = dify.tts_requests
    (message,) = dify.messages.values()
    assert request["message_id"] == message.id
    assert request["user"] == f"slack:{slack.team_id}:D1:dm", "asked as the thread's Dify user"


async def test_auto_stays_silent_when_the_app_has_no_text_to_speech(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack, dify = fake_slack, fake_dify
    async with running_slack_bot(slack, dify, tmp_path / "b.db", VOICE_REPLIES="auto") as bot:
        root = await bot.ask("C1", "first")
        await bot.reply("C1", root, "second")  # one turn at a time: the first has fully ended

    assert slack.calls_to("files.getUploadURLExternal") == [] and dify.tts_requests == []
    assert len(slack.thread_texts("C1", root)) == 2


async def test_off_by_default_even_when_the_app_can_speak(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    tts_on(dify)
    dify.script("quiet", tts=True)
    root = await slack_bot.ask("C1", "first")
    await slack_bot.reply("C1", root, "second")

    assert slack.calls_to("files.getUploadURLExternal") == [] and dify.tts_requests == []


async def test_a_failed_reading_leaves_the_text_and_the_bot_keeps_serving(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack, dify = fake_slack, fake_dify  # "always", but the app refuses text to speech
    dify.script("text only")
    async with running_slack_bot(slack, dify, tmp_path / "b.db", VOICE_REPLIES="always") as bot:
        root = await bot.ask("C1", "first")
        await eventually(lambda: len(dify.tts_requests) == 1)  # refused: no text to speech
        slack.fail_next("files.completeUploadExternal", status=200, error="channel_not_found")
        tts_on(dify)
        await bot.reply("C1", root, "second")

    assert len(dify.tts_requests) == 2, "both answers were read aloud (the first refused)"
    assert slack.shared_files("C1", root) == [], "the refused share shows nothing"
    assert slack.thread_texts("C1", root)[0] == "text only"
    assert len(dify.chat_requests) == 2
