"""The load runner, a separate process: keep-alive HTTP/1.1 over loopback only.

    python -m bench.load SPEC.json OUT.json

SPEC: {"port": P, "concurrency": C, "max_requests": N, "max_seconds": S,
       "scenarios": [{"name", "requests": [{"method", "path", "headers", "body"}]}]}.
Each scenario cycles through its request list with C connections until N
requests or S seconds, whichever first; latencies are per request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

HOST = "127.0.0.1"  # never anything else


def _encode(req: dict[str, Any]) -> bytes:
    body = req.get("body")
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = {"host": HOST, "connection": "keep-alive", **req.get("headers", {})}
    if body is not None:
        headers["content-type"] = "application/json"
    headers["content-length"] = str(len(data))
    head = f"{req['method']} {req['path']} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    return head.encode() + b"\r\n" + data


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _scenario(
    port: int, spec: dict[str, Any], concurrency: int, max_requests: int, max_seconds: float
) -> dict[str, Any]:
    payloads = [_encode(r) for r in spec["requests"]]
    limit = min(max_requests, spec.get("max_requests", max_requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def client() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while issued < limit and time.perf_counter() < deadline:
                payload = payloads[issued % len(payloads)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    writer.write(payload)
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    # The server closed the connection (e.g. after a 500): count, reconnect.
                    statuses[0] = statuses.get(0, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

    return {
        "name": spec["name"],
        "requests": len(ordered),
        "seconds": round(elapsed, 3),
        "rps": round(len(ordered) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": q(0.5),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "statuses": statuses,
    }


async def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for scenario in spec["scenarios"]:
        results.append(
            await _scenario(
                spec["port"],
                scenario,
                spec["concurrency"],
                spec["max_requests"],
                spec["max_seconds"],
            )
        )
    return results


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(run(spec))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
