"""A lean fake Dify for benchmarks: scripted SSE answers with exact chunk timing.

Run it in its own process (``python -m bench.fake_dify --chunks 200``); it
prints ``PORT <n>`` once it listens on 127.0.0.1. Every ``POST
/v1/chat-messages`` gets ``--chunks`` ``message`` events with the full Dify
envelope, then ``message_end``. The first chunk is written ``--first-delay``
seconds after the response headers and carries the moment it was written,
``s<CLOCK_MONOTONIC ns>``, so the reading side can tell how long the text
took to become visible (the monotonic clock is shared by every process of the
machine). Later chunks are ``w<i> `` and go out on one shared ticker every
``--interval`` seconds, one write per stream per tick.

It is an :class:`asyncio.Protocol` on purpose: no framework, no per-chunk
task or timer, so 1,000 streams at 40 chunks a second fit in a fraction of a
core and do not distort what the bridge is measured doing. The tests' fake
(:mod:`tests.fakes.dify`) is the faithful one; this one only
streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid

__all__ = ["expected_answer", "main"]

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
_NOT_FOUND = b'{"code": "not_found", "message": "Not Found", "status": 404}'
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_NOT_FOUND), _NOT_FOUND)
)


def chunk_text(index: int) -> str:
    return f"w{index} "


def expected_answer(chunks: int) -> str:
    """The answer text after the stamp: what every stream must show, exactly."""
    return "".join(chunk_text(i) for i in range(1, chunks))


def _frame(data: bytes) -> bytes:
    """One HTTP/1.1 chunk holding ``data``."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Stream:
    __slots__ = ("conn", "prefix", "sent", "suffix", "tail")

    def __init__(self, conn: _Connection, conversation_id: str) -> None:
        self.conn = conn
        message_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
        created = int(time.time())
        envelope = (
            f'{{"event": "message", "task_id": "{task_id}", "id": "{message_id}", '
            f'"message_id": "{message_id}", "conversation_id": "{conversation_id}", '
            f'"mode": "chat", "answer": "'
        )
        self.prefix = b"data: " + envelope.encode()
        self.suffix = f'", "metadata": {{}}, "created_at": {created}}}\n\n'.encode()
        end = {
            "event": "message_end",
            "task_id": task_id,
            "id": message_id,
            "message_id": message_id,
            "conversation_id": conversation_id,
            "metadata": {
                "usage": {"prompt_tokens": 12, "completion_tokens": 200, "total_tokens": 212},
                "retriever_resources": [],
            },
            "files": [],
        }
        self.tail = _frame(b"data: " + json.dumps(end).encode() + b"\n\n") + b"0\r\n\r\n"
        self.sent = 0

    def event(self, text: str) -> bytes:
        return _frame(self.prefix + text.encode() + self.suffix)


class _Connection(asyncio.Protocol):
    def __init__(self, server: FakeDifyServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.stream: _Stream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self.server.active.discard(self.stream)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.stream is None:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
            self.handle(head.split(" ", 2)[:2], body)

    def handle(self, request_line: list[str], body: bytes) -> None:
        assert self.transport is not None
        if request_line != ["POST", "/v1/chat-messages"]:
            self.transport.write(NOT_FOUND)
            return
        request = json.loads(body)
        conversation_id = request.get("conversation_id") or str(uuid.uuid4())
        self.stream = _Stream(self, conversation_id)
        self.transport.write(HEAD)
        self.server.loop.call_later(self.server.first_delay, self.server.begin, self.stream)

    def finished(self) -> None:
        self.stream = None
        if self.buffer:
            self.data_received(b"")


class FakeDifyServer:
    def __init__(self, *, chunks: int, interval: float, first_delay: float) -> None:
        self.chunks = chunks
        self.interval = interval
        self.first_delay = first_delay
        self.active: set[_Stream] = set()
        self.loop = asyncio.get_running_loop()
        self.written = 0

    def begin(self, stream: _Stream) -> None:
        """Write the stamped first chunk now; later chunks follow on the ticker."""
        transport = stream.conn.transport
        if transport is None:
            return
        transport.write(stream.event(f"s{time.monotonic_ns()} {chunk_text(0)}"))
        stream.sent = 1
        self.written += 1
        self.active.add(stream)

    async def tick(self) -> None:
        next_at = self.loop.time()
        while True:
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - self.loop.time()))
            done = []
            for stream in self.active:
                transport = stream.conn.transport
                if transport is None:
                    done.append(stream)
                    continue
                if stream.sent < self.chunks:
                    transport.write(stream.event(chunk_text(stream.sent)))
                    stream.sent += 1
                    self.written += 1
                else:
                    transport.write(stream.tail)
                    done.append(stream)
            for stream in done:
                self.active.discard(stream)
                stream.conn.finished()


async def serve(chunks: int, interval: float, first_delay: float) -> None:
    server = FakeDifyServer(chunks=chunks, interval=interval, first_delay=first_delay)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: _Connection(server), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    port = listener.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    ticker = asyncio.create_task(server.tick())
    try:
        await asyncio.Event().wait()
    finally:
        ticker.cancel()
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.025)
    parser.add_argument("--first-delay", type=float, default=0.02)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.chunks, args.interval, args.first_delay))


if __name__ == "__main__":
    main()
