"""Voice in and out: real recordings converted with PyAV, and the rules around them."""

from __future__ import annotations

import base64

import pytest

from dify_bridge.core.types import Attachment
from dify_bridge.core.voice import (
    SilentAudio,
    UnsupportedAudio,
    dify_audio,
    is_audio,
    joined_stream_audio,
    wants_voice,
)
from tests.fakes.audio import probe, tone


def test_an_ogg_opus_voice_message_is_remuxed_into_webm_without_losing_time() -> None:
    voice = tone(seconds=1.0)
    assert probe(voice)[:2] == ("ogg", "opus")
    name, mime, data = dify_audio("voice-message.ogg", "audio/ogg", voice)
    assert (name, mime) == ("voice-message.webm", "audio/webm")
    container, codec, seconds = probe(data)
    assert (container, codec) == ("matroska,webm", "opus")
    assert abs(seconds - 1.0) < 0.05


def test_a_format_dify_does_not_take_is_encoded_to_mp3() -> None:
    flac = tone(container="flac", codec="flac", rate=44_100, seconds=0.5)
    name, mime, data = dify_audio("memo.flac", "audio/flac", flac)
    assert (name, mime) == ("memo.mp3", "audio/mpeg")
    container, codec, seconds = probe(data)
    assert container == "mp3" and codec.startswith("mp3")
    assert abs(seconds - 0.5) < 0.1


def test_formats_dify_takes_go_unchanged() -> None:
    wav = tone(container="wav", codec="pcm_s16le", seconds=0.2)
    assert dify_audio("q.wav", "audio/wav", wav) == ("q.wav", "audio/wav", wav)


def test_unreadable_and_empty_audio_are_refused() -> None:
    with pytest.raises(UnsupportedAudio) as refused:
        dify_audio("voice-message.ogg", "audio/ogg", b"not an ogg file" * 10)
    assert not isinstance(refused.value, SilentAudio)
    with pytest.raises(SilentAudio):
        dify_audio("voice-message.ogg", "audio/ogg", b"")


@pytest.mark.parametrize(
    ("name", "mime", "audio"),
    [
        ("voice-message.ogg", "audio/ogg", True),
        ("clip.mp3", "", True),
        ("talk.m4a", "audio/mp4", True),
        ("screen.mp4", "video/mp4", False),
        ("photo.png", "image/png", False),
        ("notes.txt", "text/plain", False),
    ],
)
def test_which_attachments_are_speech(name: str, mime: str, audio: bool) -> None:
    assert is_audio(Attachment(name, mime, 10)) is audio


def test_streamed_speech_pieces_are_joined_in_order() -> None:
    pieces = [base64.b64encode(b"ID3").decode(), "", base64.b64encode(b"\xff\xfb").decode()]
    assert joined_stream_audio([*pieces, "%%%not base64"]) == b"ID3\xff\xfb"


def test_voice_replies_setting() -> None:
    on = {"text_to_speech": {"enabled": True}}
    off = {"text_to_speech": {"enabled": False}}
    assert wants_voice("always", off) and wants_voice("auto", on)
    assert not wants_voice("auto", off) and not wants_voice("off", on)
