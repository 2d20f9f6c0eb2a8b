"""Downloads from Slack reach Dify whole, whatever size Slack declares, and never past the cap.

Slack's fake serves every file in 16 KiB writes; these tests add a declared
``size`` that lies (or is missing) and a ``Content-Length`` that is missing
(chunked) or promises more than is sent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.audio import tone
from tests.fakes.bodies import Serving
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, running_slack_bot

MIB = 1024 * 1024
CHUNKED = Serving(content_length="absent")


def _images_on(dify: FakeDify, *, limit_mb: float = 10) -> None:
    dify.parameters["file_upload"].update({"enabled": True, "allowed_file_types": ["image"]})
    dify.parameters["system_parameters"]["image_file_size_limit"] = limit_mb


def _voice_on(dify: FakeDify) -> None:
    dify.parameters["speech_to_text"] = {"enabled": True}
    dify.transcript = "What is on the picture?"


def _png(size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _share(bot: SlackBot, text: str, file: dict[str, Any]) -> list[str]:
    """Alice shares ``file`` in a DM; returns the bot's messages there once it is done."""
    event = bot.slack.user_message(
        "D1", text, channel_type="im", subtype="file_share", files=[file]
    )
    await bot.send(event)
    await bot.answered("D1", event["ts"])
    return bot.slack.thread_texts("D1", None)


@pytest.mark.parametrize(
    "declared, serving",
    [
        pytest.param(600_000, CHUNKED, id="declared-too-small-no-content-length"),
        pytest.param(None, Serving(), id="no-declared-size"),
    ],
)
async def test_an_image_served_in_pieces_reaches_dify_whole(
    slack_bot: SlackBot, declared: int | None, serving: Serving
) -> None:
    slack, dify = slack_bot.slack, slack_bot.dify
    _images_on(dify)
    dify.script("A cat.")
    body = _png(3 * MIB)
    shared = slack.add_file("photo.png", body, "image/png", serving=serving, size=declared)
    if declared is None:
        del shared["size"]

    texts = await _share(slack_bot, "what is this?", shared)

    assert texts == ["A cat."]
    (uploaded,) = dify.files.values()
    assert uploaded.size == len(body) and uploaded.sha256 == _sha(body), "the whole file"
    assert dify.chat_requests[0]["files"][0]["upload_file_id"] == uploaded.id


async def test_a_recording_served_in_pieces_is_transcribed_whole(slack_bot: SlackBot) -> None:
    slack, dify = slack_bot.slack, slack_bot.dify
    _voice_on(dify)
    dify.script("Noted.")
    wav = tone(container="wav", codec="pcm_s16le", seconds=12)  # about 1.1 MiB
    clip = slack.add_file("memo.wav", wav, "audio/wav", serving=CHUNKED, size=600_000 // 4)

    texts = await _share(slack_bot, "", clip)

    assert texts == ['🎙️ "What is on the picture?"', "Noted."]
    (heard,) = dify.transcriptions
    assert heard.size == len(wav) and heard.sha256 == _sha(wav), "the whole recording"


@pytest.mark.parametrize(
    "env, limit_mb",
    [
        pytest.param({}, 1, id="the-apps-image-limit"),
        pytest.param({"MAX_DOWNLOAD_MB": "1"}, 10, id="the-download-cap"),
    ],
)
async def test_an_image_one_byte_over_the_cap_is_refused_in_one_line(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, env: dict[str, str], limit_mb: int
) -> None:
    _images_on(fake_dify, limit_mb=limit_mb)
    fake_dify.script("Only the text.")
    exactly = fake_slack.add_file("fits.png", _png(MIB), "image/png", serving=CHUNKED, size=1000)
    over = fake_slack.add_file("big.png", _png(MIB + 1), "image/png", serving=CHUNKED, size=1000)

    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "b.db", **env) as bot:
        (answer,) = await _share(bot, "look", over)
        fake_dify.script("A fitting picture.")
        await _share(bot, "and this one", exactly)

    text, notice = answer.split("\n\n")
    assert text == "Only the text."
    assert notice == "_(big.png was not sent: it is larger than the 1 MB this assistant accepts)_"
    (uploaded,) = fake_dify.files.values()
    assert uploaded.name == "fits.png" and uploaded.size == MIB, "exactly the cap still goes"
    assert "files" not in fake_dify.chat_requests[0] or not fake_dify.chat_requests[0]["files"]


async def test_a_recording_one_byte_over_the_cap_is_refused_in_one_line(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    _voice_on(fake_dify)
    body = b"RIFF" + os.urandom(MIB - 3)
    clip = fake_slack.add_file("memo.wav", body, "audio/wav", serving=CHUNKED, size=1000)

    async with running_slack_bot(
        fake_slack, fake_dify, tmp_path / "b.db", MAX_RECORDING_MB="1"
    ) as bot:
        (notice,) = await _share(bot, "", clip)

    assert (
        notice == "⚠️ That recording is too long for me (the limit is 1 MB); please keep it shorter."
    )
    assert not fake_dify.transcriptions and not fake_dify.chat_requests


async def test_a_download_cut_short_is_not_sent_truncated(slack_bot: SlackBot) -> None:
    slack, dify = slack_bot.slack, slack_bot.dify
    _images_on(dify)
    dify.script("Only the text.")
    body = _png(MIB)
    cut = Serving(content_length=2 * MIB)  # the connection closes after 1 MiB
    shared = slack.add_file("photo.png", body, "image/png", serving=cut)

    (answer,) = await _share(slack_bot, "look", shared)

    assert answer.endswith("_(photo.png was not sent: it could not be downloaded)_")
    assert not dify.files
