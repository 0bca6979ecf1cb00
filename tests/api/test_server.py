"""The server's coalescing transport, over a real socket pair and a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from dongne.api.server import CoalescingTransport, uvicorn_config


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


async def _pair() -> tuple[CoalescingTransport, asyncio.Transport, _Receiver, list[bytes]]:
    """A coalescing transport over one end of a socket pair; what reaches the
    real transport's write() is recorded."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    sent: list[bytes] = []
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    real_write = transport.write

    def recording_write(data: bytes | bytearray | memoryview) -> None:
        sent.append(bytes(data))
        real_write(data)

    transport.write = recording_write  # type: ignore[method-assign]
    receiver = _Receiver()
    await loop.create_connection(lambda: receiver, sock=theirs)
    return CoalescingTransport(transport, loop), transport, receiver, sent


async def _received(receiver: _Receiver, size: int) -> bytes:
    async with asyncio.timeout(5):
        while sum(map(len, receiver.chunks)) < size:
            receiver.arrived.clear()
            await receiver.arrived.wait()
    return b"".join(receiver.chunks)


async def test_the_writes_of_one_turn_reach_the_socket_as_one() -> None:
    coalescing, transport, receiver, sent = await _pair()
    coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    coalescing.write(b"hello")
    assert sent == []
    assert await _received(receiver, 43) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
    assert sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
    transport.close()


async def test_each_turn_flushes_what_it_wrote() -> None:
    coalescing, transport, receiver, sent = await _pair()
    coalescing.write(b"first")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    coalescing.write(b"second")
    assert await _received(receiver, 11) == b"firstsecond"
    assert sent == [b"first", b"second"]
    transport.close()


async def test_close_sends_what_is_pending_first() -> None:
    coalescing, _, receiver, sent = await _pair()
    coalescing.write(b"last words")
    coalescing.close()
    assert await _received(receiver, 10) == b"last words"
    async with asyncio.timeout(5):
        await receiver.closed.wait()
    assert sent == [b"last words"]


async def test_abort_drops_what_is_pending() -> None:
    coalescing, _, receiver, sent = await _pair()
    coalescing.write(b"never sent")
    coalescing.abort()
    async with asyncio.timeout(5):
        await receiver.closed.wait()
    assert sent == []
    assert receiver.chunks == []


async def test_a_streamed_response_arrives_chunk_by_chunk() -> None:
    """A stream's first chunk is on the wire before its last is produced."""
    app = FastAPI()
    release = asyncio.Event()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            await release.wait()
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        # uvicorn's Server tells it is listening only by this flag.
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
            client.stream("GET", "/stream") as response,
        ):
            parts = response.aiter_raw()
            async with asyncio.timeout(5):
                first = await anext(parts)
            assert first == b"first;"
            release.set()
            rest = b"".join([chunk async for chunk in parts])
            assert rest == b"second"
            assert response.status_code == 200
    finally:
        server.should_exit = True
        await serving
