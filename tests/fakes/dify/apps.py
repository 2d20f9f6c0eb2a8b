"""The app's own settings: ``GET /parameters``, ``/info`` and ``/meta``."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web


class AppSettings:
    """Serves the app's settings; a test changes them through these attributes."""

    parameters: dict[str, Any]
    info: dict[str, Any]
    meta: dict[str, Any]

    async def _parameters(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.parameters))

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.info))

    async def _meta(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.meta))


def default_parameters() -> dict[str, Any]:
    return {
        "opening_statement": "",
        "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": False},
        "speech_to_text": {"enabled": False},
        "text_to_speech": {"enabled": False, "voice": "", "language": "", "autoPlay": "disabled"},
        "retriever_resource": {"enabled": True},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "sensitive_word_avoidance": {"enabled": False},
        "user_input_form": [],
        "file_upload": {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            },
            "enabled": False,
            "allowed_file_types": [],
            "allowed_file_extensions": [],
            "allowed_file_upload_methods": ["remote_url", "local_file"],
            "number_limits": 3,
        },
        "system_parameters": {
            "file_size_limit": 15,
            "image_file_size_limit": 10,
            "audio_file_size_limit": 50,
            "video_file_size_limit": 100,
            "workflow_file_upload_limit": 10,
        },
    }
