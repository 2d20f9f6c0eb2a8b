"""Reading the loosely typed fields of Dify's JSON: wrong types become empty values."""

from __future__ import annotations

from typing import Any

from dify_bridge.dify.types import Citation, Usage

__all__ = [
    "citations_of",
    "data_of",
    "expiration_of",
    "number_of",
    "object_of",
    "objects_of",
    "text_of",
    "usage_of",
]


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def object_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def data_of(payload: dict[str, Any]) -> dict[str, Any]:
    return object_of(payload.get("data"))


def objects_of(value: Any) -> tuple[dict[str, Any], ...]:
    return tuple(v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()


def expiration_of(value: Any) -> int | float | str | None:
    """A Unix time or an ISO string, as Dify sent it."""
    if isinstance(value, bool):
        return None
    return value if isinstance(value, int | float | str) else None


def number_of(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def usage_of(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(
        prompt_tokens=int(number_of(raw.get("prompt_tokens"))),
        completion_tokens=int(number_of(raw.get("completion_tokens"))),
        total_tokens=int(number_of(raw.get("total_tokens"))),
        latency=number_of(raw.get("latency")),
    )


def citations_of(raw: Any) -> tuple[Citation, ...]:
    if not isinstance(raw, list):
        return ()
    citations = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            continue
        score = item.get("score")
        citations.append(
            Citation(
                position=int(number_of(item.get("position"))) or index,
                dataset_name=text_of(item.get("dataset_name")),
                document_name=text_of(item.get("document_name")),
                content=text_of(item.get("content")),
                score=float(score) if isinstance(score, int | float) else None,
                url=text_of(item.get("url") or item.get("source_url")),
            )
        )
    return tuple(citations)
