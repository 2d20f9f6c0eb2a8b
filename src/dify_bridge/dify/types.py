"""Values of Dify's API that the rest of the bridge uses: ratings, citations, usage."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Citation", "Rating", "Usage"]


class Rating(enum.Enum):
    """Dify message feedback. ``None`` (no rating) revokes an earlier one."""

    LIKE = "like"
    DISLIKE = "dislike"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency: float = 0.0


@dataclass
class Citation:
    """One entry of ``message_end.metadata.retriever_resources``."""

    position: int
    dataset_name: str
    document_name: str
    content: str
    score: float | None = None
    url: str = ""
