"""Voice in: a recorded clip or an audio file becomes the question, or one clear line why not."""

from __future__ import annotations

from typing import Any

from tests.fakes.audio import tone
from tests.slack.conftest import SlackBot

TRANSCRIPT = "What is the weather like on Mars?"


def voice_on(bot: SlackBot) -> None:
    bot.dify.parameters["speech_to_text"] = {"enabled": True}
    bot.dify.transcript = TRANSCRIPT


async def send_dm_clip(bot: SlackBot, clip: dict[str, Any], text: str = "") -> dict[str, Any]:
    event = bot.slack.user_message(
        "D1", text, channel_type="im", subtype="file_share", files=[clip]
    )
    await bot.send(event)
    await bot.answered("D1", event["ts"])
    return event


async def test_a_clip_in_a_dm_is_transcribed_shown_and_answered(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    dify.script("Cold and dusty.")
    clip = slack.audio_clip(tone(container="webm", codec="libopus"))

    await send_dm_clip(slack_bot, clip)

    assert slack.thread_texts("D1", None) == [f'🎙️ "{TRANSCRIPT}"', "Cold and dusty."]
    (heard,) = dify.transcriptions
    assert heard.user == f"slack:{slack.team_id}:D1:dm", "transcribed as the thread's Dify user"
    assert heard.name == "audio_message.webm" and heard.content == slack.files[clip["id"]].content
    assert slack.downloads == [(clip["id"], slack.bot_token)], "fetched with the bot token"
    (request,) = dify.chat_requests
    assert request["query"] == TRANSCRIPT and request["user"] == heard.user


async def test_an_mp4_clip_in_a_thread_joins_the_typed_text(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    root = await slack_bot.ask("C1", "hello")
    clip = slack.audio_clip(
        tone(container="mp4", codec="aac"), filetype="mp4", mimetype="video/mp4"
    )
    event = slack.user_message(
        "C1", "answer briefly", thread_ts=root, subtype="file_share", files=[clip]
    )

    await slack_bot.send(event)
    await slack_bot.answered("C1", event["ts"])

    texts = slack.thread_texts("C1", root)
    assert texts[1] == f'🎙️ "{TRANSCRIPT}"' and len(texts) == 3
    (heard,) = dify.transcriptions
    assert heard.mime_type == "audio/mp4", "a clip Slack types as video is sent as audio"
    assert dify.chat_requests[-1]["query"] == f"Alice: {TRANSCRIPT}\n\nanswer briefly"
    assert dify.chat_requests[-1]["conversation_id"], "the thread's conversation continues"


async def test_without_speech_to_text_the_app_says_it_does_not_take_voice(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    clip = slack.audio_clip(tone(container="webm", codec="libopus"))

    await send_dm_clip(slack_bot, clip)
    event = slack.user_message("D1", "typed instead", channel_type="im")
    await slack_bot.send(event)
    await slack_bot.answered("D1", event["ts"])

    notice, answer = slack.thread_texts("D1", None)
    assert notice.startswith("⚠️") and "not turned on" in notice and "\n" not in notice
    assert [r["query"] for r in dify.chat_requests] == ["typed instead"], "the bot keeps serving"
    assert answer


async def test_a_recording_over_15_mb_is_refused_before_download(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    clip = slack.add_file("talk.mp3", b"ID3", "audio/mpeg", size=16 * 1024 * 1024)

    await send_dm_clip(slack_bot, clip)

    (notice,) = slack.thread_texts("D1", None)
    assert notice.startswith("⚠️") and "15 MB" in notice
    assert slack.downloads == [] and dify.transcriptions == [] and dify.chat_requests == []


async def test_an_unreadable_file_and_an_empty_transcript_each_get_one_line(
    slack_bot: SlackBot,
):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    await send_dm_clip(slack_bot, slack.add_file("memo.ogg", b"not audio at all", "audio/ogg"))
    dify.transcript = "   "
    await send_dm_clip(slack_bot, slack.audio_clip(tone(container="webm", codec="libopus")))

    unreadable, silent = slack.thread_texts("D1", None)
    assert unreadable.startswith("⚠️") and "could not read that audio" in unreadable
    assert silent.startswith("⚠️") and "could not hear any words" in silent
    assert dify.chat_requests == []


async def test_a_clip_slack_will_not_hand_over_is_reported(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    clip = slack.audio_clip(tone(container="webm", codec="libopus"))
    del slack.files[clip["id"]]

    await send_dm_clip(slack_bot, clip)

    (notice,) = slack.thread_texts("D1", None)
    assert notice.startswith("⚠️") and "could not transcribe" in notice
    assert dify.chat_requests == []


async def test_a_redelivered_clip_is_transcribed_and_answered_once(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    voice_on(slack_bot)
    clip = slack.audio_clip(tone(container="webm", codec="libopus"))
    event = await send_dm_clip(slack_bot, clip)

    # Slack redelivers the message (a new event id, the same channel and ts)
    assert await slack_bot.resend(slack.event_callback(event), retry_num=1) == 200
    later = slack.user_message("D1", "thanks", channel_type="im")
    await slack_bot.send(later)
    await slack_bot.answered("D1", later["ts"])

    assert len(dify.transcriptions) == 1
    assert [r["query"] for r in dify.chat_requests] == [TRANSCRIPT, "thanks"]
    assert len(slack.thread_texts("D1", None)) == 3
