"""A minimal asyncio HTTP/1.1 client for the HTTP benchmarks (checkout_race.py, http_pages.py).

Neither httpx nor aiohttp is installed in the project's environment and the benchmarks must
not add a dependency; a thread per client (http.client) would measure the GIL and thread
switches of the load side as much as the server. This keeps one keep-alive connection per
simulated client on the event loop, reads `Content-Length` and chunked bodies, and
reconnects when the server closes the connection.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class HttpConnection:
    """One keep-alive connection to `host:port`; requests on it go one after another."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:  # the server may have gone already
                pass
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        """Send one request; the latency is from the first byte written to the last read."""
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        started = time.perf_counter()
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status, response_headers, response_body = await asyncio.wait_for(
            self._read_response(), self.timeout
        )
        seconds = time.perf_counter() - started
        if response_headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, response_headers, response_body, seconds)

    async def _read_response(self) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()  # the blank line after the last chunk
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(parts)
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        return status, headers, body


@dataclass
class Latencies:
    """Latencies in seconds and answers by status, for one kind of request."""

    seconds: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, status: int | str, seconds: float | None) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if seconds is not None:
            self.seconds.append(seconds)

    def percentile_ms(self, share: float) -> float | None:
        if not self.seconds:
            return None
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return round(ordered[index] * 1000, 1)


def median(values: list[float]) -> float | None:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
