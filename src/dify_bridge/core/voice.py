"""Voice in (a voice message becomes the question) and voice out (a spoken answer).

Voice in: a turn whose message carries audio hands it to :func:`transcribe`
(inside the thread's turn, so it keeps its place in the thread). The recording
is downloaded, converted to a format Dify's ``/audio-to-text`` accepts (an
Ogg/Opus voice message is remuxed into WebM without re-encoding; other formats
Dify does not take are encoded to MP3), and transcribed as the thread's Dify
user. The turn gets the words (shown as ``🎙️ "…"`` and asked) or a one-line
notice (speech to text off, too large, unsupported, silent, failed), in which
case nothing goes to Dify's chat.

Voice out: :func:`spoken_answer` returns the answer as MP3, from the stream's
``tts_message`` pieces when the app sent them, else from ``/text-to-audio``.
Sinks that can show audio implement :class:`~dify_bridge.core.ports.AudioSink`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from dify_bridge.core.types import Attachment
from dify_bridge.dify.apps import DifyApp
from dify_bridge.downloads import MAX_DOWNLOAD_BYTES, MB
from dify_bridge.errors import DifyError, FileTooLarge, SinkError

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 15 * MB
"""Dify's limit for ``/audio-to-text`` (``MAX_RECORDING_MB`` may set a lower one)."""

DIFY_AUDIO_EXTENSIONS = frozenset({"mp3", "mp4", "mpeg", "mpga", "m4a", "wav", "webm"})
"""What ``/audio-to-text`` takes as it is."""

AUDIO_EXTENSIONS = DIFY_AUDIO_EXTENSIONS | {"ogg", "oga", "opus"}
"""Attachments treated as speech (``mp4``/``webm`` only when not typed as video)."""

_VIDEO_CONTAINERS = frozenset({"mp4", "webm", "mpeg"})
_REMUXABLE_TO_WEBM = frozenset({"opus", "vorbis"})
VOICE_OFF_NOTICE = "Voice messages are not turned on for this assistant, so I could not listen."


def too_large_notice(limit: int) -> str:
    return (
        f"That recording is too long for me (the limit is {limit / MB:g} MB); "
        "please keep it shorter."
    )


TOO_LARGE_NOTICE = too_large_notice(MAX_AUDIO_BYTES)
UNSUPPORTED_NOTICE = "I could not read that audio file; please send MP3, M4A, WAV, WebM or Ogg."
EMPTY_NOTICE = "I could not hear any words in that recording."
FAILED_NOTICE = "I could not transcribe that recording; please try again or type your question."


class UnsupportedAudio(Exception):
    """The bytes are not audio that PyAV can read."""


class SilentAudio(UnsupportedAudio):
    """The file is empty or its audio stream holds no sound at all."""


def is_audio(attachment: Attachment) -> bool:
    """True for speech to transcribe (voice messages, audio files), False for other files."""
    extension = PurePosixPath(attachment.name).suffix.lower().lstrip(".")
    mime = attachment.mime_type.split(";")[0].strip().lower()
    if mime.startswith("audio/"):
        return True
    if mime.startswith("video/"):
        return False
    return extension in AUDIO_EXTENSIONS


def dify_audio(name: str, mime_type: str, data: bytes) -> tuple[str, str, bytes]:
    """``(name, mime type, bytes)`` in a format Dify transcribes; may convert.

    Raises :class:`UnsupportedAudio` for bytes that hold no readable audio.
    """
    path = PurePosixPath(name or "audio")
    extension = path.suffix.lower().lstrip(".")
    mime = mime_type.split(";")[0].strip().lower()
    if not data:
        raise SilentAudio("the file is empty")
    if extension in DIFY_AUDIO_EXTENSIONS and "ogg" not in mime:
        return name, mime or f"audio/{extension}", data
    codec, converted = _convert(data)
    if codec in _REMUXABLE_TO_WEBM:
        return f"{path.stem}.webm", "audio/webm", converted
    return f"{path.stem}.mp3", "audio/mpeg", converted


def _convert(data: bytes) -> tuple[str, bytes]:
    """Opus/Vorbis remuxed into WebM as they are; anything else encoded to MP3."""
    # PyAV loads FFmpeg's libraries (tens of MiB of RSS): only a process that converts a
    # recording pays for them, so it is imported here, the one place that uses it.
    import av
    import av.error

    try:
        with av.open(io.BytesIO(data), "r") as source:
            if not source.streams.audio:
                raise UnsupportedAudio("no audio stream")
            stream = source.streams.audio[0]
            codec = stream.codec_context.name
            out = io.BytesIO()
            packets = 0
            if codec in _REMUXABLE_TO_WEBM:
                with av.open(out, "w", format="webm") as target:
                    copy = target.add_stream_from_template(stream)
                    for packet in source.demux(stream):
                        if packet.dts is None:
                            continue
                        packet.stream = copy
                        target.mux(packet)
                        packets += 1
            else:
                with av.open(out, "w", format="mp3") as target:
                    mp3 = target.add_stream("libmp3lame", rate=44100, layout="mono")
                    resampler = av.AudioResampler(format="s16p", layout="mono", rate=44100)
                    for frame in source.decode(stream):
                        for converted in resampler.resample(frame):
                            target.mux(mp3.encode(converted))
                            packets += 1
                    for converted in resampler.resample(None):
                        target.mux(mp3.encode(converted))
                    target.mux(mp3.encode(None))
    except av.error.FFmpegError as exc:
        raise UnsupportedAudio(str(exc)) from exc
    if packets == 0:
        raise SilentAudio("the recording holds no sound")
    return codec, out.getvalue()


@dataclass(frozen=True)
class Transcript:
    """The words of a recording, or (``text`` empty) why there are none, as one line."""

    text: str = ""
    notice: str = ""


async def transcribe(
    attachment: Attachment,
    *,
    app: DifyApp,
    user: str,
    max_bytes: int = MAX_AUDIO_BYTES,
    max_download_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Transcript:
    """Download, convert and transcribe one recording as ``user``; never raises.

    The recording is downloaded whole but no further than ``max_bytes`` (and
    ``max_download_bytes``); its declared size only refuses early.
    """
    speech = (await app.parameters()).get("speech_to_text")
    if not (isinstance(speech, dict) and speech.get("enabled")):
        return Transcript(notice=VOICE_OFF_NOTICE)
    limit = min(max_bytes, max_download_bytes)
    too_large = Transcript(notice=too_large_notice(limit))
    if attachment.size > limit:
        return too_large
    if attachment.fetch is None:
        return Transcript(notice=FAILED_NOTICE)
    try:
        data = await attachment.fetch(limit)
    except FileTooLarge as exc:
        log.info("%s is too large to transcribe: %s", attachment.name, exc)
        return too_large
    except SinkError as exc:
        log.warning("download of %s failed: %s", attachment.name, exc)
        return Transcript(notice=FAILED_NOTICE)
    if len(data) > limit:
        return too_large
    try:
        name, mime, audio = await asyncio.to_thread(
            dify_audio, attachment.name, attachment.mime_type, data
        )
    except UnsupportedAudio as exc:
        log.info("%s is not usable audio: %s", attachment.name, exc)
        silent = isinstance(exc, SilentAudio)
        return Transcript(notice=EMPTY_NOTICE if silent else UNSUPPORTED_NOTICE)
    if len(audio) > limit:
        return too_large
    try:
        text = await app.client.audio_to_text(name, mime, audio, user=user)
    except DifyError as exc:
        log.warning("speech to text of %s failed: %s", attachment.name, exc)
        return Transcript(notice=FAILED_NOTICE)
    text = " ".join(text.split())
    return Transcript(text=text) if text else Transcript(notice=EMPTY_NOTICE)


def wants_voice(mode: str, parameters: Mapping[str, Any]) -> bool:
    """``VOICE_REPLIES``: ``always``, ``off``, or ``auto`` (when the app has text to speech)."""
    if mode == "always":
        return True
    if mode != "auto":
        return False
    tts = parameters.get("text_to_speech")
    return isinstance(tts, dict) and bool(tts.get("enabled"))


def joined_stream_audio(pieces: Sequence[str]) -> bytes:
    """The MP3 of an answer's ``tts_message`` pieces (each base64 on its own)."""
    chunks: list[bytes] = []
    for piece in pieces:
        if not piece:
            continue
        try:
            chunks.append(base64.b64decode(piece))
        except (binascii.Error, ValueError):
            log.warning("skipping a tts_message piece that is not base64")
    return b"".join(chunks)


async def spoken_answer(
    app: DifyApp,
    *,
    message_id: str,
    user: str,
    streamed: Sequence[str] = (),
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> bytes:
    """The answer as MP3: the streamed pieces if any, else ``/text-to-audio`` (may raise)."""
    audio = joined_stream_audio(streamed)
    if audio:
        return audio
    return await app.client.text_to_audio(message_id=message_id, user=user, max_bytes=max_bytes)


__all__ = [
    "MAX_AUDIO_BYTES",
    "SilentAudio",
    "Transcript",
    "UnsupportedAudio",
    "dify_audio",
    "is_audio",
    "joined_stream_audio",
    "spoken_answer",
    "too_large_notice",
    "transcribe",
    "wants_voice",
]
