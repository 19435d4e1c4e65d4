"""The load generator: a separate process that drives the service over HTTP/1.1.

It speaks just enough HTTP (keep-alive, Content-Length bodies) to stay out of the way:
a general-purpose client would spend more CPU per request than the service does, on a
machine whose two cores the service and the database also need.

    python -m bench.loadgen URL TOKEN SCENARIO CONCURRENCY REQUESTS MEMBERS_FILE

prints one JSON object: requests, errors, seconds, per_second, p50_ms, p99_ms.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

Request = tuple[str, str, bytes, dict[str, str]]

HOT_REWARD = "bench-hot"
"""The one reward every redemption of the benchmark holds: the worst case, where every
hold queues on the same reward row."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, token: str):
        self.reader, self.writer, self.host, self.token = reader, writer, host, token

    async def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Authorization: Bearer {self.token}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload


def scenario(name: str, members: list[str]) -> Callable[[random.Random], Request]:
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    def award(rng: random.Random) -> Request:
        body = {
            "member_id": rng.choice(members),
            "points": rng.randint(1, 20),
            "category": "patrol",
            "occurred_at": when,
            "memo": "bench",
        }
        return "POST", "/v1/awards", json.dumps(body).encode(), {"Idempotency-Key": uuid.uuid4().hex}

    def redeem(rng: random.Random) -> Request:
        body = {"reward": HOT_REWARD, "member_id": rng.choice(members)}
        return "POST", "/v1/redemptions", json.dumps(body).encode(), {"Idempotency-Key": uuid.uuid4().hex}

    def balance(rng: random.Random) -> Request:
        return "GET", f"/v1/members/{rng.choice(members)}/balance", b"", {}

    def statement(rng: random.Random) -> Request:
        return "GET", f"/v1/members/{rng.choice(members)}/statement?limit=50", b"", {}

    return {"award": award, "redeem": redeem, "balance": balance, "statement": statement}[name]


async def drive(url: str, token: str, make: Callable[[random.Random], Request], concurrency: int, total: int) -> dict:
    parts = urlsplit(url)
    latencies: list[float] = []
    errors: dict[int, int] = {}
    remaining = [total]

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        conn = Connection(reader, writer, parts.netloc, token)
        while remaining[0] > 0:
            remaining[0] -= 1
            method, path, body, headers = make(rng)
            started = time.perf_counter()
            status, _ = await conn.send(method, path, body, headers)
            latencies.append(time.perf_counter() - started)
            if status >= 300:
                errors[status] = errors.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": seconds,
        "per_second": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main(argv: list[str]) -> None:
    url, token, name, concurrency, total, members_file = argv
    with open(members_file) as f:
        members = f.read().split()
    result = asyncio.run(drive(url, token, scenario(name, members), int(concurrency), int(total)))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
