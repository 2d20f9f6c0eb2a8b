"""How an answer's extras read in the thread: sources, produced files, live status."""

from __future__ import annotations

from urllib.parse import urljoin

from dify_bridge.core.types import Citation
from dify_bridge.dify.events import AgentThought, FileProduced, NodeStarted


def thought_status(thought: AgentThought) -> str:
    if not thought.tool:
        return ""
    tool_input = " ".join(thought.tool_input.split())
    if len(tool_input) > 80:
        tool_input = tool_input[:77] + "…"
    return f"🔧 Using {thought.tool}" + (f" ({tool_input})" if tool_input else "") + "…"


QUIET_NODES = frozenset({"start", "answer", "end"})
"""Chatflow steps not worth a status: the answer itself shows they run."""


def node_status(node: NodeStarted) -> str:
    """A long chatflow's progress: the step it runs now, by the title its author gave it."""
    if node.node_type in QUIET_NODES:
        return ""
    title = " ".join((node.title or node.node_type).split())
    if len(title) > 80:
        title = title[:77] + "…"
    return f"⚙️ {title}…" if title else ""


def format_citations(citations: list[Citation], *, limit: int = 5) -> str:
    """A short numbered source list in Markdown."""
    lines = ["*Sources*"]
    for number, citation in enumerate(citations[:limit], start=1):
        name = citation.document_name or citation.dataset_name or "source"
        label = f"[{name}]({citation.url})" if citation.url else name
        snippet = " ".join(citation.content.split())
        if len(snippet) > 120:
            snippet = snippet[:117].rstrip() + "…"
        lines.append(f"{number}. {label}" + (f": {snippet}" if snippet else ""))
    return "\n".join(lines)


def format_files(files: list[FileProduced], api_url: str) -> str:
    """One link per file the app produced (Dify may give paths relative to its API)."""
    lines = []
    for number, produced in enumerate(files, start=1):
        url = urljoin(api_url + "/", produced.url)
        label = produced.file_type or "file"
        lines.append(f"📎 [{label} {number}]({url})")
    return "\n".join(lines)


__all__ = [
    "QUIET_NODES",
    "format_citations",
    "format_files",
    "node_status",
    "thought_status",
]
