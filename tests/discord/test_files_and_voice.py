"""Files reach Dify; voice messages become questions; spoken answers follow the text."""

from __future__ import annotations

import base64
from typing import Any

from tests.discord.conftest import Server
from tests.fakes.audio import probe, tone
from tests.fakes.dify import FAKE_MP3
from tests.fakes.discord import VOICE_MESSAGE_FLAG, FakeFile

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TRANSCRIPT = "What is the weather like on Mars?"


def _image_upload_on(server: Server) -> None:
    upload = server.dify.parameters["file_upload"]
    upload.update({"enabled": True, "allowed_file_types": ["image"]})


def _voice_on(server: Server) -> None:
    server.dify.parameters["speech_to_text"] = {"enabled": True}
    server.dify.transcript = TRANSCRIPT


def _bot_messages(server: Server, channel_id: int) -> list[dict[str, Any]]:
    bot = str(server.discord.bot.id)
    return [m for m in server.discord.channel_messages(channel_id) if m["author"]["id"] == bot]


async def _thread_answer(server: Server, thread_id: int, count: int) -> list[str]:
    await server.discord.wait_until(
        lambda: len(server.discord.contents(thread_id)) >= count,
        what=f"{count} bot messages in the thread",
    )
    return server.discord.contents(thread_id)


async def test_an_image_is_uploaded_as_the_threads_user_and_sent_with_the_question(
    server: Server,
) -> None:
    _image_upload_on(server)
    server.dify.script("A cat on a sofa.")
    async with server.bot():
        message = await server.ask(
            "what is in this picture?", files=[FakeFile("photo.png", "image/png", PNG)]
        )
        thread_id = int(message["id"])
        await server.wait_for_answer(thread_id, "A cat on a sofa.")

    [uploaded] = server.dify.files.values()
    assert uploaded.content == PNG and uploaded.name == "photo.png"
    assert uploaded.user == f"discord:{server.guild.id}:{thread_id}", "uploaded as the thread"
    [request] = server.dify.chat_requests
    assert request["files"] == [
        {"type": "image", "transfer_method": "local_file", "upload_file_id": uploaded.id}
    ]


async def test_a_file_the_app_does_not_take_gets_a_notice_and_the_text_is_answered(
    server: Server,
) -> None:
    server.dify.script("Here is my answer.")
    async with server.bot():
        message = await server.ask(
            "summarise this", files=[FakeFile("notes.png", "image/png", PNG)]
        )
        thread_id = int(message["id"])
        [text] = await _thread_answer(server, thread_id, 1)
        await server.discord.wait_until(
            lambda: "not sent" in server.discord.contents(thread_id)[0], what="the notice"
        )

    [text] = server.discord.contents(thread_id)
    assert text.startswith("Here is my answer.")
    assert "notes.png was not sent: this assistant does not accept files" in text
    assert len(text.splitlines()[-1]) < 100, "one short line"
    assert not server.dify.files
    assert server.dify.chat_requests[0]["query"] == "Alice: summarise this"


async def test_a_voice_message_in_a_thread_becomes_the_question(server: Server) -> None:
    _voice_on(server)
    server.dify.script("Hello.")
    server.dify.script("Cold and dusty.")
    voice = tone(seconds=0.6)
    async with server.bot():
        thread_id = int((await server.ask("hi"))["id"])
        await server.wait_for_answer(thread_id, "Hello.")
        await server.discord.send_message(
            thread_id,
            server.alice,
            "",
            files=[FakeFile("voice-message.ogg", "audio/ogg", voice)],
            flags=VOICE_MESSAGE_FLAG,
        )
        await server.wait_for_answer(thread_id, "Cold and dusty.", count=3)

    assert server.discord.contents(thread_id)[1] == f'🎙️ "{TRANSCRIPT}"'
    [sent] = server.dify.transcriptions
    assert sent.user == f"discord:{server.guild.id}:{thread_id}", "as the thread's Dify user"
    assert sent.name == "voice-message.webm" and sent.mime_type == "audio/webm"
    container, codec, seconds = probe(sent.content)
    assert (container, codec) == ("matroska,webm", "opus"), "Ogg/Opus remuxed into WebM"
    assert abs(seconds - 0.6) < 0.1, "the whole recording"
    assert server.dify.chat_requests[1]["query"] == f"Alice: {TRANSCRIPT}"


async def test_an_audio_file_with_a_mention_and_typed_text_in_a_dm(server: Server) -> None:
    _voice_on(server)
    server.dify.script("Answered.")
    dm = server.discord.open_dm(server.bob)
    wav = tone(container="wav", codec="pcm_s16le", seconds=0.3)
    async with server.bot():
        await server.discord.send_message(
            dm, server.bob, "please answer briefly", files=[FakeFile("q.wav", "audio/wav", wav)]
        )
        await server.wait_for_answer(dm, "Answered.", count=2)

    [sent] = server.dify.transcriptions
    assert (sent.name, sent.content) == ("q.wav", wav), "a format Dify takes goes as it is"
    assert sent.user == f"discord:dm:{dm}"
    assert server.dify.chat_requests[0]["query"] == f"{TRANSCRIPT}\n\nplease answer briefly"
    assert not server.dify.files, "the recording is not also uploaded as a file"


async def test_voice_when_the_app_has_no_speech_to_text(server: Server) -> None:
    dm = server.discord.open_dm(server.alice)
    async with server.bot():
        await server.discord.send_message(
            dm,
            server.alice,
            "",
            files=[FakeFile("voice-message.ogg", "audio/ogg", tone())],
            flags=VOICE_MESSAGE_FLAG,
        )
        await _thread_answer(server, dm, 1)

    [notice] = server.discord.contents(dm)
    assert notice.startswith("⚠️") and "Voice messages are not turned on" in notice
    assert "\n" not in notice
    assert not server.dify.chat_requests and not server.dify.transcriptions


async def test_bad_recordings_get_a_notice_and_the_bot_keeps_serving(server: Server) -> None:
    _voice_on(server)
    dm = server.discord.open_dm(server.alice)
    big = FakeFile("long.mp3", "audio/mpeg", b"\xff\xfb" * (8 * 1024 * 1024))
    garbage = FakeFile("voice-message.ogg", "audio/ogg", b"definitely not ogg" * 20)
    silent = FakeFile("voice-message.ogg", "audio/ogg", tone(seconds=0.3))
    server.dify.script("Still here.")
    async with server.bot():
        await server.discord.send_message(dm, server.alice, "", files=[big])
        await _thread_answer(server, dm, 1)
        await server.discord.send_message(dm, server.alice, "", files=[garbage])
        await _thread_answer(server, dm, 2)
        server.dify.transcript = "   "
        await server.discord.send_message(dm, server.alice, "", files=[silent])
        await _thread_answer(server, dm, 3)
        await server.discord.send_message(dm, server.alice, "are you there?")
        await server.wait_for_answer(dm, "Still here.", count=4)

    too_large, unsupported, empty, answer = server.discord.contents(dm)
    assert "too long" in too_large and "15 MB" in too_large
    assert "could not read that audio" in unsupported
    assert "could not hear any words" in empty
    assert all(line.startswith("⚠️") for line in (too_large, unsupported, empty))
    assert answer == "Still here."
    assert len(server.dify.transcriptions) == 1, "only the readable recording went to Dify"
    assert [r["query"] for r in server.dify.chat_requests] == ["are you there?"]


async def test_a_failed_transcription_gets_a_notice(server: Server) -> None:
    _voice_on(server)
    server.dify.script("Voice works.")
    dm = server.discord.open_dm(server.alice)
    recording = FakeFile("v.ogg", "audio/ogg", tone(seconds=0.3))
    async with server.bot():
        await server.discord.send_message(dm, server.alice, "", files=[recording])
        await server.wait_for_answer(dm, "Voice works.", count=2)
        # the bridge still believes speech to text is on; Dify now refuses it (400)
        server.dify.parameters["speech_to_text"] = {"enabled": False}
        await server.discord.send_message(dm, server.alice, "", files=[recording])
        await _thread_answer(server, dm, 3)
    notice = server.discord.contents(dm)[2]
    assert notice.startswith("⚠️") and "could not transcribe" in notice
    assert len(server.dify.transcriptions) == 2
    assert len(server.dify.chat_requests) == 1, "nothing more went to the chat"


async def test_voice_replies_attach_the_spoken_answer_after_the_text(server: Server) -> None:
    server.dify.parameters["text_to_speech"] = {"enabled": True, "voice": "alloy"}
    server.dify.script("Spoken and written.")
    async with server.bot(VOICE_REPLIES="auto"):
        thread_id = int((await server.ask("say it"))["id"])
        await server.wait_for_answer(thread_id, "Spoken and written.")
        await _thread_answer(server, thread_id, 2)

    answer, audio = server.discord.channel_messages(thread_id)
    assert answer["content"] == "Spoken and written."
    [spoken] = server.discord.message_files(audio)
    assert (spoken.filename, spoken.data) == ("answer.mp3", FAKE_MP3)
    [message] = server.dify.messages.values()
    [tts] = server.dify.tts_requests
    assert tts == {"message_id": message.id, "user": f"discord:{server.guild.id}:{thread_id}"}
    text_done = server.discord.requests("PATCH", rf"/messages/{answer['id']}$")
    audio_sent = [
        c for c in server.discord.calls if isinstance(c.json, dict) and c.json.get("_files")
    ]
    assert server.discord.calls.index(audio_sent[0]) > max(
        [server.discord.calls.index(c) for c in text_done] or [0]
    ), "the audio comes after the final text"


async def test_streamed_speech_is_used_without_asking_again(server: Server) -> None:
    server.dify.speech = base64.b64decode(base64.b64encode(b"ID3" + bytes(range(200))))
    server.dify.script("Streamed speech.", tts=True)
    dm = server.discord.open_dm(server.alice)
    async with server.bot(VOICE_REPLIES="always"):
        await server.discord.send_message(dm, server.alice, "talk to me")
        await _thread_answer(server, dm, 2)
    _, audio = _bot_messages(server, dm)
    [spoken] = server.discord.message_files(audio)
    assert spoken.data == server.dify.speech, "the tts_message pieces joined in order"
    assert not server.dify.tts_requests


async def test_no_voice_replies_when_off_or_the_app_has_no_speech(server: Server) -> None:
    server.dify.script("Only text.")
    server.dify.script("Still only text.")
    dm = server.discord.open_dm(server.alice)
    async with server.bot(VOICE_REPLIES="auto"):
        await server.discord.send_message(dm, server.alice, "one")
        await server.wait_for_answer(dm, "Only text.")
    server.dify.parameters["text_to_speech"] = {"enabled": True}
    async with server.bot():
        await server.discord.send_message(dm, server.alice, "two")
        await server.wait_for_answer(dm, "Still only text.", count=2)
    assert server.discord.contents(dm) == ["Only text.", "Still only text."]
    assert not server.dify.tts_requests
