"""What a deployment turns on and off for every answer (from the settings)."""

from __future__ import annotations

from dataclasses import dataclass

from dify_bridge.core.types import Incoming
from dify_bridge.core.voice import MAX_AUDIO_BYTES
from dify_bridge.downloads import MAX_DOWNLOAD_BYTES

__all__ = ["BridgeOptions"]


@dataclass(frozen=True)
class BridgeOptions:
    quiet_speakers: frozenset[str] = frozenset()
    """Platforms whose speakers' names are NOT put before the query in shared channels."""
    max_query_chars: int = 20_000
    show_citations: bool = True
    stop_button: bool = True
    feedback_buttons: bool = True
    suggested_questions: bool = True
    opening_statement: bool = False
    voice_replies: str = "off"
    """``VOICE_REPLIES``: off, auto (when the app has text to speech) or always."""
    max_download_bytes: int = MAX_DOWNLOAD_BYTES
    """The cap above every other for a user's file (``MAX_DOWNLOAD_MB``)."""
    max_recording_bytes: int = MAX_AUDIO_BYTES
    """The cap for a recording to transcribe (``MAX_RECORDING_MB``)."""
    questions_per_user_per_minute: int = 0
    """0: no limit (``QUESTIONS_PER_USER_PER_MINUTE``)."""
    questions_per_channel_per_minute: int = 0
    """0: no limit (``QUESTIONS_PER_CHANNEL_PER_MINUTE``)."""

    def names_speaker(self, incoming: Incoming) -> bool:
        return incoming.platform not in self.quiet_speakers
