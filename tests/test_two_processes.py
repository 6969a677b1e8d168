"""Two real server processes sharing one Redis: a viewer on one and the seller on the other
see each other's chat, viewer counts and spotlight (rooms scale past one process)."""

import asyncio
import json
import subprocess
import sys

import pytest
import websockets

from conftest import PROJECT_ROOT
from tests.helpers import WebServer, manage, run_script, site_env, web_server


@pytest.fixture
def two_servers(redis_url, tmp_path):
    env = site_env(tmp_path, REDIS_URL=redis_url)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    setup = run_script("tests/live_room_scenario.py", env=env)
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    with web_server(env) as seller_side, web_server(env) as viewer_side:
        yield ids, (seller_side, viewer_side)


async def receive_until(socket, wanted, *, timeout: float = 5.0) -> dict:
    """The first message for which `wanted(message)` is true."""

    async def scan() -> dict:
        while True:
            message = json.loads(await socket.recv())
            if wanted(message):
                return message

    return await asyncio.wait_for(scan(), timeout)


@pytest.mark.redis
async def test_seller_and_viewer_on_different_processes_share_the_room(two_servers):
    ids, (seller_side, viewer_side) = two_servers
    path = f"/ws/rooms/{ids['room']}/"

    def connect(base_url: str, token: str):
        return websockets.connect(
            base_url.replace("http://", "ws://") + path,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
        )

    async with (
        connect(seller_side, ids["seller"]) as seller,
        connect(viewer_side, ids["buyer"]) as viewer,
    ):
        seller_state = json.loads(await seller.recv())
        viewer_state = json.loads(await viewer.recv())
        assert seller_state["type"] == viewer_state["type"] == "room-state"
        assert viewer_state["room"]["status"] == "live"

        # The seller (process A) sees the viewer (process B) arrive, and the count reach 2.
        joined = await receive_until(seller, lambda m: m["type"] == "join-room")
        assert joined["user"]["username"] == "bob"
        await receive_until(seller, lambda m: m["type"] == "viewer-count" and m["count"] == 2)

        # Chat crosses processes both ways.
        await viewer.send(json.dumps({"type": "chat-message", "text": "Does it come in blue?"}))
        heard = await receive_until(seller, lambda m: m["type"] == "chat-message")
        assert heard["text"] == "Does it come in blue?" and heard["user"]["username"] == "bob"
        await seller.send(json.dumps({"type": "chat-message", "text": "Only natural, sorry!"}))
        answer = await receive_until(
            viewer, lambda m: m["type"] == "chat-message" and m["user"]["username"] == "sally"
        )
        assert answer["text"] == "Only natural, sorry!"

        # The spotlight set on A reaches B, and a late joiner on B finds it in room-state.
        await seller.send(json.dumps({"type": "spotlight-product", "product_id": ids["hat"]}))
        spotlight = await receive_until(viewer, lambda m: m["type"] == "spotlight-product")
        assert spotlight["product"]["name"] == "Straw hat"
        async with connect(viewer_side, ids["buyer"]) as second_tab:
            late_state = json.loads(await second_tab.recv())
            assert late_state["spotlight"]["id"] == ids["hat"]
            assert [m["text"] for m in late_state["chat"]] == [
                "Does it come in blue?",
                "Only natural, sorry!",
            ]
            # A second tab of the same person is not a new viewer.
            assert late_state["viewer_count"] == 2


def test_several_workers_without_redis_are_refused(tmp_path):
    # Each process would keep rooms, cache and sessions to itself: viewers on one worker
    # would never see the seller on another.
    env = site_env(tmp_path, WEB_WORKERS="2")
    result = subprocess.run(
        [sys.executable, "-m", "liveshop.serve", "--port", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "WEB_WORKERS > 1 needs REDIS_URL" in result.stderr


@pytest.mark.redis
async def test_two_workers_of_one_server_share_a_room(redis_url, tmp_path):
    """Production's shape (docker-compose: WEB_WORKERS=2): the kernel spreads the sockets over
    the workers; a line from any of them reaches all."""
    env = site_env(tmp_path, REDIS_URL=redis_url, WEB_WORKERS="2")
    assert manage("migrate", "--noinput", env=env).returncode == 0
    setup = run_script("tests/live_room_scenario.py", env=env)
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    with web_server(env) as base_url:
        url = base_url.replace("http://", "ws://") + f"/ws/rooms/{ids['room']}/?batch=chat"
        origin = base_url
        viewers = [await websockets.connect(url, origin=origin, open_timeout=10) for _ in range(12)]
        try:
            for viewer in viewers:
                assert json.loads(await viewer.recv())["type"] == "room-state"
            async with websockets.connect(
                url.split("?")[0],
                additional_headers={"Authorization": f"Bearer {ids['buyer']}"},
                open_timeout=10,
            ) as buyer:
                await buyer.recv()
                await buyer.send(json.dumps({"type": "chat-message", "text": "all of you?"}))
                for viewer in viewers:
                    batch = await receive_until(viewer, lambda m: m["type"] == "chat-batch")
                    assert [line["text"] for line in batch["messages"]] == ["all of you?"]
        finally:
            for viewer in viewers:
                await viewer.close()


@pytest.mark.redis
async def test_a_killed_servers_viewers_stop_counting_within_the_ttl(redis_url, tmp_path):
    """A server killed outright (crash, OOM, SIGKILL) never says its sockets left; its viewers
    must not stay counted for ever (they did: 3 ghosts after this). The TTL is 60 s in
    production, 3 s here."""
    ttl = 3
    env = site_env(tmp_path, REDIS_URL=redis_url, ROOM_VIEWER_TTL_SECONDS=str(ttl))
    assert manage("migrate", "--noinput", env=env).returncode == 0
    setup = run_script("tests/live_room_scenario.py", env=env)
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    server = WebServer(env)
    server.start()
    try:
        url = server.base_url.replace("http://", "ws://") + f"/ws/rooms/{ids['room']}/"
        ghosts = [
            await websockets.connect(url, origin=server.base_url, open_timeout=10) for _ in range(3)
        ]
        states = [json.loads(await ghost.recv()) for ghost in ghosts]
        assert states[-1]["viewer_count"] == 3
        killed_at = asyncio.get_running_loop().time()
        server.crash_and_restart()
        async with websockets.connect(url, origin=server.base_url, open_timeout=10) as viewer:
            count = json.loads(await viewer.recv())["viewer_count"]
            # 4 if the dead server's viewers still count (the restart took less than the
            # TTL); then the count is healed and told within the TTL and a heartbeat.
            assert count in (1, 4), count
            if count == 4:
                await receive_until(
                    viewer,
                    lambda m: m["type"] == "viewer-count" and m["count"] == 1,
                    timeout=ttl * 1.5,
                )
            assert asyncio.get_running_loop().time() - killed_at < ttl * 2.5
        for ghost in ghosts:
            await ghost.close()
    finally:
        server.stop()
