"""A socket's consumer ends when its socket ends, even when redis-py swallows the cancel.

On Python 3.11 redis-py writes every command through `asyncio.wait_for`, which returns
normally (and forgets the cancel) when the cancel lands just as the write completes
(CPython gh-86296). Channels cancels a consumer's channel-layer read on every disconnect;
a swallowed cancel left channels_redis looping on its blocking pop for good, so the consumer
never returned, and a deploy's SIGTERM waited the whole graceful-shutdown limit for it
("Cancel 1 running task(s)") in about half the runs (liveshop/sockets.py).
"""

import asyncio
import json
import signal
import subprocess
import sys

import pytest
import websockets

from conftest import PROJECT_ROOT, free_port, private_redis_server, wait_for_port
from liveshop.sockets import ChannelLayerLossCloses
from tests.helpers import manage, run_script, site_env


class SocketSide(ChannelLayerLossCloses):
    """Just the channel-layer side of a consumer, as Channels wires it."""


async def test_a_read_that_swallows_its_cancel_still_ends_with_its_socket():
    write_done = asyncio.get_running_loop().create_future()
    pop_ended = asyncio.Event()

    async def receive_like_redis_py_on_311() -> dict:
        await asyncio.wait_for(write_done, 15)  # how redis-py sends BZPOPMIN
        try:
            await asyncio.Event().wait()  # the blocking pop, looping for good
        finally:
            pop_ended.set()

    side = SocketSide()
    side.channel_receive = receive_like_redis_py_on_311
    reading = asyncio.ensure_future(side.channel_receive())
    for _ in range(5):
        await asyncio.sleep(0)  # until the read waits on its write
    write_done.set_result(None)
    reading.cancel()  # the socket disconnected, as the write completes

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(reading, 5)
    await asyncio.wait_for(pop_ended.wait(), 5)  # nor is the pop left running


@pytest.fixture
def redis_live_room(tmp_path):
    # A Redis of its own: its chat lines would otherwise show in other tests' room 1.
    with private_redis_server() as (redis_url, _process):
        yield from _live_room(tmp_path, redis_url)


def _live_room(tmp_path, redis_url):
    env = site_env(tmp_path, REDIS_URL=redis_url)
    assert manage("migrate", "--noinput", env=env).returncode == 0
    scenario = run_script("tests/live_room_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    yield env, json.loads(scenario.stdout.strip().splitlines()[-1])


async def test_a_deploy_stops_the_server_without_cutting_a_socket(redis_live_room):
    """SIGTERM under a live room (60 viewers, the seller chatting): every round, the server
    closes every socket and ends with no task left to cancel. Before the fix, about half of
    the rounds logged "Cancel 1 running task(s)" after waiting the 5 s limit."""
    env, ids = redis_live_room
    for _round in range(5):  # the seller's chat allows 5 lines in 10 s
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "liveshop.serve", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_port(port, timeout=30)
            url = f"ws://127.0.0.1:{port}/ws/rooms/{ids['room']}/"
            viewers = [
                await websockets.connect(url + "?batch=chat", origin="http://localhost")
                for _ in range(60)
            ]
            seller = await websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {ids['seller']}"}
            )
            await seller.send(json.dumps({"type": "chat-message", "text": "last call!"}))
            for viewer in viewers[:3]:
                while json.loads(await asyncio.wait_for(viewer.recv(), 10))["type"] != "chat-batch":
                    pass
            server.send_signal(signal.SIGTERM)
            _, errors = await asyncio.to_thread(server.communicate, timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        assert server.returncode == -signal.SIGTERM  # uvicorn ends by its signal, after the cleanup
        assert "Cancel" not in errors, errors
        for socket in [*viewers, seller]:
            await socket.close()
