"""A bridge that has not converted a recording has not loaded PyAV (FFmpeg's libraries)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import dify_bridge.cli, dify_bridge.launch
import dify_bridge.adapters.slack, dify_bridge.adapters.discord, dify_bridge.adapters.console
import dify_bridge.core.voice
print(",".join(sorted(m for m in ("av", "asyncpg") if m in sys.modules)))
"""


def test_starting_loads_neither_pyav_nor_the_postgres_driver() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "", f"imported at start: {done.stdout.strip()}"
