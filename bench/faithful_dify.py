"""The tests' faithful fake Dify (:mod:`tests.fakes.dify`) in its own process, for comparison.

Same command line as :mod:`bench.fake_dify`; answers are ``--chunks`` chunks
``--interval`` apart (no timing stamp). Used only to measure how much CPU
the faithful fake spends per chunk next to the lean one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from tests.fakes.dify import FakeDify

from bench.fake_dify import chunk_text

SCRIPTS = 5000


async def serve(chunks: int, interval: float) -> None:
    fake = FakeDify(api_keys=("k", "app-bench"), chunk_delay=interval)
    await fake.start()
    for _ in range(SCRIPTS):
        fake.script([chunk_text(i) for i in range(chunks)])
    print(f"PORT {fake.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.025)
    parser.add_argument("--first-delay", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.chunks, args.interval))


if __name__ == "__main__":
    main()
