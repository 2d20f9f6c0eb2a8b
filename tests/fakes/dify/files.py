"""Files and audio: ``/files/upload``, ``/audio-to-text``, ``/text-to-audio``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from tests.fakes.dify.records import AUDIO_EXTENSIONS, AUDIO_MAX_BYTES, FakeFile
from tests.fakes.dify.state import DifyState
from tests.fakes.dify.wire import ApiError


class FilesAndAudio(DifyState):
    """Uploads kept with their bytes, transcriptions recorded, speech from ``speech``."""

    async def _read_form(self, request: web.Request) -> tuple[str | None, bytes, str, str]:
        """Return ``(user, file bytes, file name, content type)`` of a multipart upload."""
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "no_file_uploaded", "Please upload your file.")
        reader = await request.multipart()
        user: str | None = None
        data = b""
        name = ""
        content_type = ""
        files = 0
        async for part in parts(reader):
            if part.name == "user":
                user = (await part.read()).decode("utf-8", "replace")
            elif part.name == "file":
                files += 1
                data = bytes(await part.read())
                name = part.filename or "file"
                content_type = part.headers.get("Content-Type", "application/octet-stream")
            else:
                await part.read()
        if files == 0:
            raise ApiError(400, "no_file_uploaded", "Please upload your file.")
        if files > 1:
            raise ApiError(400, "too_many_files", "Only one file is allowed.")
        return user, data, name, content_type

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        user, data, name, content_type = await self._read_form(request)
        user = self._require_user(user)
        limit_mb = int((self.parameters.get("system_parameters") or {}).get("file_size_limit", 15))
        if len(data) > limit_mb * 1024 * 1024:
            raise ApiError(413, "file_too_large", f"File size exceeded. {limit_mb} MB")
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        record = FakeFile(
            id=str(uuid.uuid4()),
            name=name,
            size=len(data),
            extension=extension,
            mime_type=content_type,
            user=user,
            api_key=self._key(request),
            content=data,
        )
        self.files[record.id] = record
        return web.json_response(
            {
                "id": record.id,
                "name": record.name,
                "size": record.size,
                "extension": record.extension,
                "mime_type": record.mime_type,
                "created_by": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{record.api_key}:{user}")),
                "created_at": record.created_at,
            },
            status=201,
        )

    async def _audio_to_text(self, request: web.Request) -> web.StreamResponse:
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "no_audio_uploaded", "Please upload your audio.")
        try:
            user, data, name, content_type = await self._read_form(request)
        except ApiError as exc:
            if exc.code == "no_file_uploaded":
                raise ApiError(400, "no_audio_uploaded", "Please upload your audio.") from exc
            raise
        user = self._require_user(user)
        self.transcriptions.append(
            FakeFile(
                id=str(uuid.uuid4()),
                name=name,
                size=len(data),
                extension=name.rsplit(".", 1)[1].lower() if "." in name else "",
                mime_type=content_type,
                user=user,
                api_key=self._key(request),
                content=data,
            )
        )
        if not (self.parameters.get("speech_to_text") or {}).get("enabled"):
            raise ApiError(400, "invalid_param", "Speech to text is not enabled")
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        subtype = content_type.partition("/")[2].split(";")[0].strip().lower()
        if extension not in AUDIO_EXTENSIONS and subtype not in AUDIO_EXTENSIONS:
            raise ApiError(415, "unsupported_audio_type", "Audio type not allowed.")
        if not data:
            raise ApiError(400, "no_audio_uploaded", "Please upload your audio.")
        if len(data) > AUDIO_MAX_BYTES:
            raise ApiError(413, "audio_too_large", "Audio size exceeded. 15 MB")
        return web.json_response({"text": self.transcript})

    async def _text_to_audio(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        self.tts_requests.append(body)
        user = self._require_user(body.get("user"))
        if not (self.parameters.get("text_to_speech") or {}).get("enabled"):
            raise ApiError(400, "invalid_param", "TTS is not enabled")
        message_id = body.get("message_id")
        if message_id:
            self._message_for(str(message_id), self._key(request), user)
        elif not isinstance(body.get("text"), str) or not body["text"].strip():
            raise ApiError(400, "invalid_param", "Text is required")
        return web.Response(body=self.speech, content_type="audio/mpeg")


async def parts(reader: Any) -> AsyncIterator[Any]:
    while True:
        part = await reader.next()
        if part is None:
            return
        yield part
