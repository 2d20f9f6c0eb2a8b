"""Which user attachments a Dify app accepts (``GET /parameters`` → ``file_upload``)."""

from __future__ import annotations

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

EXTENSIONS = {
    "image": {"jpg", "jpeg", "png", "gif", "webp", "svg"},
    "document": {
        "txt",
        "md",
        "markdown",
        "mdx",
        "pdf",
        "html",
        "htm",
        "xlsx",
        "xls",
        "docx",
        "csv",
        "eml",
        "msg",
        "pptx",
        "ppt",
        "xml",
        "epub",
        "json",
    },
    "audio": {"mp3", "m4a", "wav", "webm", "amr", "mpga", "ogg"},
    "video": {"mp4", "mov", "mpeg", "mpg"},
}


def file_type(attachment: Attachment) -> str:
    """Dify's file type for an attachment: image, document, audio, video or custom."""
    extension = PurePosixPath(attachment.name).suffix.lower().lstrip(".")
    for kind, extensions in EXTENSIONS.items():
        if extension in extensions:
            return kind
    major = attachment.mime_type.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major
    if attachment.mime_type.startswith("text/") or attachment.mime_type == "application/pdf":
        return "document"
    return "custom"


@dataclass(frozen=True)
class FileRules:
    enabled: bool = False
    types: frozenset[str] = frozenset()
    extensions: frozenset[str] = frozenset()
    number_limit: int = 3
    size_limits_mb: Mapping[str, float] | None = None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> FileRules:
        upload = parameters.get("file_upload")
        upload = upload if isinstance(upload, dict) else {}
        image = upload.get("image") if isinstance(upload.get("image"), dict) else {}
        types = {t for t in upload.get("allowed_file_types") or [] if isinstance(t, str)}
        enabled = bool(upload.get("enabled"))
        if isinstance(image, dict) and image.get("enabled"):
            enabled, types = True, types | {"image"}
        limits = parameters.get("system_parameters")
        limits = limits if isinstance(limits, dict) else {}
        size_limits = {
            "image": float(limits.get("image_file_size_limit") or 10),
            "audio": float(limits.get("audio_file_size_limit") or 50),
            "video": float(limits.get("video_file_size_limit") or 100),
            "document": float(limits.get("file_size_limit") or 15),
            "custom": float(limits.get("file_size_limit") or 15),
        }
        extensions = {
            str(e).lower().lstrip(".") for e in upload.get("allowed_file_extensions") or []
        }
        number = upload.get("number_limits")
        return cls(
            enabled=enabled,
            types=frozenset(types),
            extensions=frozenset(extensions),
            number_limit=number if isinstance(number, int) and number > 0 else 3,
            size_limits_mb=size_limits,
        )

    def max_bytes(self, attachment: Attachment, cap: int = MAX_DOWNLOAD_BYTES) -> int:
        """The most bytes this file may have: the app's limit for its type, at most ``cap``."""
        limit_mb = (self.size_limits_mb or {}).get(file_type(attachment), 15.0)
        return min(int(limit_mb * MB), cap)

    def problem_with(self, attachment: Attachment, cap: int = MAX_DOWNLOAD_BYTES) -> str | None:
        """Why the app would refuse this file (by its declared size), or None."""
        if not self.enabled:
            return "this assistant does not accept files"
        kind = file_type(attachment)
        extension = PurePosixPath(attachment.name).suffix.lower().lstrip(".")
        if kind not in self.types and not (kind == "custom" and extension in self.extensions):
            accepted = ", ".join(sorted(self.types)) or "no"
            return f"this assistant accepts {accepted} files, not {kind} files"
        if attachment.size > self.max_bytes(attachment, cap):
            return too_large(self.max_bytes(attachment, cap))
        return None


def too_large(limit: int) -> str:
    return f"it is larger than the {limit / MB:g} MB this assistant accepts"


async def upload_attachments(
    app: DifyApp,
    attachments: Sequence[Attachment],
    *,
    user: str,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Upload what ``app`` accepts as ``user`` (the files belong to that user).

    Each file is downloaded whole but no further than the app's limit for its
    type (at most ``max_bytes``); the declared size only refuses early.
    Returns the ``files`` of the chat request, and one line per file not sent.
    """
    rules = FileRules.from_parameters(await app.parameters())
    files: list[dict[str, Any]] = []
    refused: list[str] = []
    for attachment in attachments:
        problem = rules.problem_with(attachment, max_bytes)
        if problem is None and len(files) >= rules.number_limit:
            problem = f"the assistant takes at most {rules.number_limit} files at once"
        if problem is None and attachment.fetch is None:
            problem = "it could not be downloaded"
        if problem is not None or attachment.fetch is None:
            refused.append(f"{attachment.name} was not sent: {problem}")
            continue
        limit = rules.max_bytes(attachment, max_bytes)
        try:
            data = await attachment.fetch(limit)
            file_id = await app.client.upload_file(
                attachment.name, attachment.mime_type, data, user=user
            )
        except FileTooLarge as exc:
            log.info("%s was not sent: %s", attachment.name, exc)
            refused.append(f"{attachment.name} was not sent: {too_large(limit)}")
            continue
        except DifyError as exc:
            log.warning("upload of %s failed: %s", attachment.name, exc)
            refused.append(f"{attachment.name} was not sent: the upload failed")
            continue
        except SinkError as exc:
            log.warning("download of %s failed: %s", attachment.name, exc)
            refused.append(f"{attachment.name} was not sent: it could not be downloaded")
            continue
        files.append(
            {
                "type": file_type(attachment),
                "transfer_method": "local_file",
                "upload_file_id": file_id,
            }
        )
    return files, refused


__all__ = [
    "EXTENSIONS",
    "FileRules",
    "file_type",
    "too_large",
    "upload_attachments",
]
