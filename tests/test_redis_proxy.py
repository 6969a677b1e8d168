"""Redis slow, resetting or silent, under a real server (issue 9, "Faults").

A small asyncio TCP proxy sits between the server and a private redis-server and injects
latency, resets every connection, or stalls (keeps connections open and forwards nothing,
as a frozen Redis or a dropped NAT entry does). Each time: a sender gets an answer or an
error within a bounded time, no socket is left open and deaf (the room hub closes them with
1012 when its subscription dies or stops answering), and once the proxy heals new sockets
chat again, with no server restart.
"""

import asyncio
import json
import socket
import time

import pytest
import websockets

from conftest import private_redis_server
from tests.helpers import manage, run_script, site_env, web_server

pytestmark = pytest.mark.redis

CLOSE_SUBSCRIPTION_LOST = 1012
HEALTH_SECONDS = 1  # the server's ROOM_HUB_HEALTH_SECONDS in this test


class RedisProxy:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.latency = 0.0
        self.stalled = False
        self.transports: set[asyncio.Transport] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.transports |= {writer.transport, up_writer.transport}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, source, sink) -> None:
        try:
            while data := await source.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                while self.stalled:  # held back, never delivered if the peer gives up
                    await asyncio.sleep(0.05)
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()

    def reset_all(self) -> None:
        """Cut every connection now, with a TCP reset (as a crashed Redis or proxy does)."""
        for transport in self.transports:
            if transport.is_closing():
                continue
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            transport.abort()
        self.transports.clear()

    async def close(self) -> None:
        self.reset_all()
        self.server.close()


@pytest.fixture
async def proxied_site(tmp_path):
    with private_redis_server() as (redis_url, _process):
        proxy = RedisProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
        port = await proxy.start()
        env = site_env(
            tmp_path,
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
            ROOM_HUB_HEALTH_SECONDS=str(HEALTH_SECONDS),
        )
        assert (await asyncio.to_thread(manage, "migrate", "--noinput", env=env)).returncode == 0
        scenario = await asyncio.to_thread(run_script, "tests/live_room_scenario.py", env=env)
        assert scenario.returncode == 0, scenario.stderr
        ids = json.loads(scenario.stdout.strip().splitlines()[-1])
        with web_server(env) as base_url:
            yield base_url, ids, proxy
        await proxy.close()


def room_socket(base_url: str, ids: dict, token: str):
    return websockets.connect(
        base_url.replace("http://", "ws://") + f"/ws/rooms/{ids['room']}/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=15,
    )


async def next_of(socket, wanted, timeout: float) -> dict:
    async def scan() -> dict:
        while True:
            message = json.loads(await socket.recv())
            if wanted(message):
                return message

    return await asyncio.wait_for(scan(), timeout)


async def chat_flows(base_url: str, ids: dict, text: str) -> float:
    """A fresh seller and viewer; seconds until the viewer hears the seller's line."""
    async with (
        room_socket(base_url, ids, ids["seller"]) as seller,
        room_socket(base_url, ids, ids["buyer"]) as viewer,
    ):
        await next_of(seller, lambda m: m["type"] == "room-state", 15)
        await next_of(viewer, lambda m: m["type"] == "room-state", 15)
        started = time.monotonic()
        await seller.send(json.dumps({"type": "chat-message", "text": text}))
        await next_of(viewer, lambda m: m.get("text") == text, 15)
        return time.monotonic() - started


async def closed_with(socket, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), timeout)
    return closed.value.rcvd.code if closed.value.rcvd else None, time.monotonic() - started


async def test_slow_resetting_and_silent_redis(proxied_site):
    base_url, ids, proxy = proxied_site
    assert await chat_flows(base_url, ids, "hello") < 2

    # Slow: 200 ms each way on every Redis exchange. Chat still arrives, later.
    proxy.latency = 0.2
    assert await chat_flows(base_url, ids, "slowly") < 8
    proxy.latency = 0.0

    # Reset: every Redis connection cut at once. Open sockets are told to resync (1012),
    # at once; new ones work straight away.
    async with room_socket(base_url, ids, ids["buyer"]) as viewer:
        await next_of(viewer, lambda m: m["type"] == "room-state", 15)
        await asyncio.sleep(1)  # its connect has finished (it announces itself after)
        proxy.reset_all()
        code, seconds = await closed_with(viewer, 10)
        assert code == CLOSE_SUBSCRIPTION_LOST and seconds < 3
    assert await chat_flows(base_url, ids, "after the reset") < 2

    # Silent: connections stay open, nothing comes back. The sender hears within a bounded
    # time, whichever comes first: `server_error` when the store's 5 s timeout ends its
    # line, or the close (1012) when the hub's health check (1 s here) goes unanswered; the
    # listening socket is closed too, not left open and deaf.
    async with (
        room_socket(base_url, ids, ids["seller"]) as seller,
        room_socket(base_url, ids, ids["buyer"]) as viewer,
    ):
        await next_of(seller, lambda m: m["type"] == "room-state", 15)
        await next_of(viewer, lambda m: m["type"] == "room-state", 15)
        proxy.stalled = True
        started = time.monotonic()
        await seller.send(json.dumps({"type": "chat-message", "text": "anyone there?"}))
        try:
            heard = (await next_of(seller, lambda m: m["type"] == "error", 10))["code"]
        except websockets.ConnectionClosed as closed:
            heard = closed.rcvd.code
        assert heard in {"server_error", CLOSE_SUBSCRIPTION_LOST}
        assert time.monotonic() - started < 8
        code, _ = await closed_with(viewer, 10)
        assert code == CLOSE_SUBSCRIPTION_LOST
    proxy.stalled = False
    proxy.reset_all()  # the stalled connections are of no use to anyone now
    assert await chat_flows(base_url, ids, "after the silence") < 2
