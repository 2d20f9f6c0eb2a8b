"""Files: downloads of ``url_private`` and the external upload flow."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.bodies import serve_in_pieces
from tests.fakes.slack.records import FakeFile, PendingUpload, mimetype
from tests.fakes.slack.state import SlackState


class Files(SlackState):
    """Serves the files users share and takes the bot's uploads."""

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        """``url_private``: the bytes with the bot token; Slack's login page without it."""
        file_id = request.match_info["file_id"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self.downloads.append((file_id, token))
        file = self.files.get(file_id)
        if file is None:
            return web.Response(status=404, text="not found")
        owner = self.workspace_of(token)
        if owner is None or not owner.installed or (self.token_revoked and owner is self.home):
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        if file.team_id and file.team_id != owner.team_id:  # another workspace's file
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        return await serve_in_pieces(request, file.content, file.mimetype, file.serving)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL: takes the bytes of a file announced by getUploadURLExternal."""
        content = await request.read()
        pending = self.pending_uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="unknown upload")
        if len(content) != pending.length:
            return web.Response(status=400, text="length does not match")
        pending.content = content
        return web.Response(text="OK - " + str(len(content)))

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit():
            return self._error("invalid_arguments")
        file_id = f"F{next(self._ts):08d}"
        self.pending_uploads[file_id] = PendingUpload(filename, int(length))
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """Shares the uploaded files in ``channel_id`` (under ``thread_ts``) as one message."""
        files = args.get("files")
        parsed = json.loads(files) if isinstance(files, str) else files or []
        done: list[FakeFile] = []
        for item in parsed:
            pending = self.pending_uploads.pop(str(item.get("id")), None)
            if pending is None or pending.content is None:
                return self._error("file_not_found")
            file = FakeFile(
                str(item["id"]),
                pending.filename,
                mimetype(pending.filename),
                pending.content,
                str(item.get("title") or pending.filename),
            )
            self.files[file.id] = file
            done.append(file)
        channel = str(args.get("channel_id") or "")
        if channel:
            thread_ts = args.get("thread_ts") or None
            message = self.add_message(channel, "", user=self.bot_user_id, thread_ts=thread_ts)
            message.files = done
        return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in done]}

    def _api_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "file": {"id": args.get("file", ""), "name": "file"}}
