"""Real, tiny recordings made with PyAV: what a voice message or an audio file holds."""

from __future__ import annotations

import array
import io
import math

import av

RATE = 48_000
FRAME = 960  # 20 ms at 48 kHz, an Opus frame


def tone(
    *,
    seconds: float = 0.5,
    container: str = "ogg",
    codec: str = "libopus",
    rate: int = RATE,
    hertz: float = 440.0,
) -> bytes:
    """A sine tone encoded as ``codec`` in ``container`` (by default Ogg/Opus, like Discord)."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as target:
        stream = target.add_stream(codec, rate=rate, layout="mono")
        pts = 0
        for start in range(0, int(seconds * rate), FRAME):
            pcm = array.array(
                "h",
                (
                    int(9000 * math.sin(2 * math.pi * hertz * (start + k) / rate))
                    for k in range(FRAME)
                ),
            )
            frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
            frame.planes[0].update(pcm.tobytes())
            frame.sample_rate = rate
            frame.pts = pts
            pts += FRAME
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


def probe(data: bytes) -> tuple[str, str, float]:
    """``(container, codec, seconds)`` of encoded audio, read back with PyAV."""
    with av.open(io.BytesIO(data)) as source:
        stream = source.streams.audio[0]
        seconds = float(source.duration or 0) / av.time_base
        return source.format.name, stream.codec_context.name, seconds


__all__ = ["probe", "tone"]
