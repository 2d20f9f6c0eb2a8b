"""Markdown tables for platforms that show them as raw pipes: aligned monospace blocks.

- :func:`tables_as_code` turns each pipe table (a header row, a ``|---|``
  delimiter row, body rows) outside code fences into a fenced block with its
  columns padded, which every platform shows aligned.
- :func:`hold_back_open_table` cuts a growing answer before a table that may
  still get rows, so a streaming message never shows half a table (its
  columns would shift, and an append-only message cannot take that back).
  The final text is never cut.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["hold_back_open_table", "tables_as_code"]

_DELIMITER = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _is_row(line: str) -> bool:
    return "|" in line and bool(line.strip())


def _cells(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", text)]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _render(rows: list[list[str]]) -> list[str]:
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [max(_width(row[i]) for row in rows) for i in range(columns)]

    def line(row: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))

    rule = "  ".join("-" * w for w in widths)
    return ["```", line(rows[0]).rstrip(), rule, *(line(r).rstrip() for r in rows[1:]), "```"]


def _tables(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line ranges of the pipe tables outside code fences."""
    found: list[tuple[int, int]] = []
    fenced = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            fenced = not fenced
        elif (
            not fenced
            and _is_row(line)
            and index + 1 < len(lines)
            and _DELIMITER.match(lines[index + 1])
            and "|" in lines[index + 1]
        ):
            end = index + 2
            while end < len(lines) and _is_row(lines[end]) and not _FENCE.match(lines[end]):
                end += 1
            found.append((index, end))
            index = end
            continue
        index += 1
    return found


def tables_as_code(markdown: str) -> str:
    """``markdown`` with every pipe table shown as an aligned monospace block."""
    if "|" not in markdown:
        return markdown
    lines = markdown.split("\n")
    tables = _tables(lines)
    if not tables:
        return markdown
    out: list[str] = []
    last = 0
    for first, end in tables:
        out.extend(lines[last:first])
        rows = [_cells(lines[first])] + [_cells(line) for line in lines[first + 2 : end]]
        out.extend(_render(rows))
        last = end
    out.extend(lines[last:])
    return "\n".join(out)


def hold_back_open_table(markdown: str) -> str:
    """A growing answer up to a table at its end that may still grow (else unchanged)."""
    if "|" not in markdown:
        return markdown
    lines = markdown.split("\n")
    # the last line may be a row being written: a table ending there is open
    tables = _tables(lines)
    if tables and tables[-1][1] >= len(lines) - 1:
        return "\n".join(lines[: tables[-1][0]]).rstrip() + ("\n" if tables[-1][0] else "")
    # a header row (and maybe a delimiter) just written: hold it back too
    tail = lines[-2:] if len(lines) >= 2 else lines
    for offset, line in enumerate(tail):
        if _is_row(line) and all(_is_row(x) or _DELIMITER.match(x) for x in tail[offset:]):
            cut = len(lines) - len(tail) + offset
            return "\n".join(lines[:cut]).rstrip() + ("\n" if cut else "")
    return markdown
