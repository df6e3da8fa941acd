"""A small closed-loop HTTP/1.1 load generator: C keep-alive connections on asyncio, raw sockets.

Each connection sends its next pre-built request as soon as the previous answer is read, so the
generator's own cost per request is a few microseconds (httpx would cost ~100 µs of the same two
cores the daemon runs on). Latency is measured from write to the last byte of the answer.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Result:
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # connection-level failures
    elapsed: float = 0.0
    stopped_early: bool = False

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("content-length", "host")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for row in head.split(b"\r\n")[1:]:
        name, _, value = row.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(host: str, port: int, requests: list[bytes], clients: int, time_limit: float) -> Result:
    result = Result()
    next_index = 0
    deadline = time.perf_counter() + time_limit

    async def one_client() -> None:
        nonlocal next_index
        reader = writer = None
        while True:
            if next_index >= len(requests):
                break
            if time.perf_counter() > deadline:
                result.stopped_early = True
                break
            index, next_index = next_index, next_index + 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                writer.write(requests[index])
                status = await asyncio.wait_for(_read_answer(reader), timeout=30)  # type: ignore[arg-type]
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError,
                    asyncio.LimitOverrunError) as exc:
                result.errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            result.sent += 1
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    result.elapsed = time.perf_counter() - started
    return result


def fire(host: str, port: int, requests: list[bytes], clients: int, time_limit: float = 120.0) -> Result:
    """Send every request (or until `time_limit` seconds pass) over `clients` keep-alive connections."""
    return asyncio.run(_run(host, port, requests, clients, time_limit))


class BlockingClient:
    """One keep-alive connection for paced, one-at-a-time sends.

    `send` returns (status, monotonic send time).
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def send(self, request: bytes) -> tuple[int, float]:
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            try:
                if self._sock is None:
                    self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                    self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._buf = b""
                sent_at = time.monotonic()
                self._sock.sendall(request)
                return self._answer(), sent_at
            except OSError:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> int:
        assert self._sock is not None
        while b"\r\n\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("server closed the connection")
            self._buf += chunk
        head, _, rest = self._buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for row in head.split(b"\r\n")[1:]:
            name, _, value = row.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("server closed the connection")
            rest += chunk
        self._buf = rest[length:]
        return status

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
