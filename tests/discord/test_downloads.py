"""Attachments from Discord's CDN reach Dify whole, whatever size Discord states, never past the cap.

The fake CDN serves every attachment in 16 KiB writes; these tests add a
stated ``size`` that lies and a ``Content-Length`` that is missing (chunked)
or promises more than is sent.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.discord.conftest import Server
from tests.fakes.audio import tone
from tests.fakes.bodies import Serving
from tests.fakes.dify import FAKE_MP3
from tests.fakes.discord import FakeFile
from tests.slack.conftest import eventually

MIB = 1024 * 1024
CHUNKED = Serving(content_length="absent")


def _images_on(server: Server, *, limit_mb: float = 10) -> None:
    server.dify.parameters["file_upload"].update({"enabled": True, "allowed_file_types": ["image"]})
    server.dify.parameters["system_parameters"]["image_file_size_limit"] = limit_mb


def _voice_on(server: Server) -> None:
    server.dify.parameters["speech_to_text"] = {"enabled": True}
    server.dify.transcript = "What is on the picture?"


def _png(size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _send(server: Server, dm: int, file: FakeFile, *, text: str = "", count: int) -> None:
    """Alice sends ``file`` in her DM; waits for the bot's ``count``-th message there."""
    await server.discord.send_message(dm, server.alice, text, files=[file])
    await server.discord.wait_until(
        lambda: len(server.discord.contents(dm)) >= count, what=f"{count} bot messages"
    )


async def test_an_image_served_in_pieces_reaches_dify_whole(server: Server) -> None:
    _images_on(server)
    server.dify.script("A cat.")
    body = _png(3 * MIB)
    photo = FakeFile("photo.png", "image/png", body, declared_size=600_000, serving=CHUNKED)
    dm = server.discord.open_dm(server.alice)
    async with server.bot():
        await _send(server, dm, photo, text="what is this?", count=1)
        await server.wait_for_answer(dm, "A cat.")

    [uploaded] = server.dify.files.values()
    assert uploaded.size == len(body) and uploaded.sha256 == _sha(body), "the whole file"
    assert server.dify.chat_requests[0]["files"][0]["upload_file_id"] == uploaded.id


async def test_a_recording_served_in_pieces_is_transcribed_whole(server: Server) -> None:
    _voice_on(server)
    server.dify.script("Noted.")
    wav = tone(container="wav", codec="pcm_s16le", seconds=12)  # about 1.1 MiB
    memo = FakeFile("memo.wav", "audio/wav", wav, declared_size=150_000, serving=CHUNKED)
    dm = server.discord.open_dm(server.alice)
    async with server.bot():
        await _send(server, dm, memo, count=2)
        await server.wait_for_answer(dm, "Noted.", count=2)

    [sent] = server.dify.transcriptions
    assert sent.size == len(wav) and sent.sha256 == _sha(wav), "the whole recording"


@pytest.mark.parametrize(
    "env, limit_mb",
    [
        pytest.param({}, 1, id="the-apps-image-limit"),
        pytest.param({"MAX_DOWNLOAD_MB": "1"}, 10, id="the-download-cap"),
    ],
)
async def test_an_image_one_byte_over_the_cap_is_refused_in_one_line(
    server: Server, env: dict[str, str], limit_mb: int
) -> None:
    _images_on(server, limit_mb=limit_mb)
    server.dify.script("Only the text.")
    server.dify.script("A fitting picture.")
    over = FakeFile("big.png", "image/png", _png(MIB + 1), declared_size=1000, serving=CHUNKED)
    exactly = FakeFile("fits.png", "image/png", _png(MIB), declared_size=1000, serving=CHUNKED)
    dm = server.discord.open_dm(server.alice)
    async with server.bot(**env):
        await _send(server, dm, over, text="look", count=1)
        await server.discord.wait_until(
            lambda: "not sent" in server.discord.contents(dm)[0], what="the notice"
        )
        await _send(server, dm, exactly, text="and this one", count=2)
        await server.wait_for_answer(dm, "A fitting picture.", count=2)

    text, notice = server.discord.contents(dm)[0].split("\n\n")
    assert text == "Only the text."
    assert notice == "_(big.png was not sent: it is larger than the 1 MB this assistant accepts)_"
    [uploaded] = server.dify.files.values()
    assert uploaded.name == "fits.png" and uploaded.size == MIB, "exactly the cap still goes"
    assert not server.dify.chat_requests[0].get("files")


async def test_a_recording_one_byte_over_the_cap_is_refused_in_one_line(server: Server) -> None:
    _voice_on(server)
    body = b"RIFF" + os.urandom(MIB - 3)
    memo = FakeFile("memo.wav", "audio/wav", body, declared_size=1000, serving=CHUNKED)
    dm = server.discord.open_dm(server.alice)
    async with server.bot(MAX_RECORDING_MB="1"):
        await _send(server, dm, memo, count=1)

    assert server.discord.contents(dm) == [
        "⚠️ That recording is too long for me (the limit is 1 MB); please keep it shorter."
    ]
    assert not server.dify.transcriptions and not server.dify.chat_requests


async def test_an_attachment_cut_short_is_not_sent_truncated(server: Server) -> None:
    _images_on(server)
    server.dify.script("Only the text.")
    cut = Serving(content_length=2 * MIB)  # the connection closes after 1 MiB
    photo = FakeFile("photo.png", "image/png", _png(MIB), serving=cut)
    dm = server.discord.open_dm(server.alice)
    async with server.bot():
        await _send(server, dm, photo, text="look", count=1)
        await server.discord.wait_until(
            lambda: "not sent" in server.discord.contents(dm)[0], what="the notice"
        )

    [answer] = server.discord.contents(dm)
    assert answer.endswith("_(photo.png was not sent: it could not be downloaded)_")
    assert not server.dify.files


async def test_a_spoken_answer_over_the_cap_is_left_out(server: Server) -> None:
    server.dify.parameters["text_to_speech"] = {"enabled": True, "voice": "alloy"}
    server.dify.speech = FAKE_MP3 + os.urandom(MIB // 4)  # the cap is a quarter MiB
    server.dify.script("Written only.")
    server.dify.script("Still written.")
    dm = server.discord.open_dm(server.alice)
    async with server.bot(VOICE_REPLIES="always", MAX_DOWNLOAD_MB="0.25"):
        await server.discord.send_message(dm, server.alice, "say it")
        await server.wait_for_answer(dm, "Written only.")
        await eventually(lambda: len(server.dify.tts_requests) == 1)
        await server.discord.send_message(dm, server.alice, "again")
        await server.wait_for_answer(dm, "Still written.", count=2)

    assert server.discord.contents(dm) == ["Written only.", "Still written."]
    assert all(not server.discord.message_files(m) for m in server.discord.channel_messages(dm))
