"""One line of ``dify-bridge check``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult"]


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    """False: ``run`` would fail or misbehave (``check`` exits 1)."""
    detail: str
    notes: tuple[str, ...] = ()
    """Printed indented under the line."""
    warning: bool = False
    """With ``ok``: works, but something optional is missing."""

    @property
    def label(self) -> str:
        if not self.ok:
            return "FAIL"
        return "warn" if self.warning else "ok"

    def line(self) -> str:
        head = f"{self.label:<4}  {self.service}: {self.detail}"
        return "\n".join([head, *(f"      {note}" for note in self.notes)])
