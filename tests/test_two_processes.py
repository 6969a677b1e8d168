"""Two real daphne processes sharing one Redis: a viewer on one and the seller on the other
see each other's chat, viewer counts and spotlight (rooms scale past one process)."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

from conftest import PROJECT_ROOT, free_port, wait_for_port
from tests.helpers import child_env, manage, python

SETUP = """
import json, django
django.setup()
from django.utils import timezone
from accounts import services as accounts
from accounts.tokens import RevocableRefreshToken
from catalog import services as catalog
from rooms import services as rooms
seller = accounts.user_register(username="sally", email="sally@example.test", password="x-Secret-99")
accounts.user_become_seller(user=seller, shop_name="Sally's")
buyer = accounts.user_register(username="bob", email="bob@example.test", password="x-Secret-99")
category = catalog.category_create(name="Hats")
hat = catalog.product_create(seller=seller, name="Straw hat", price="19.00", stock=4, category=category)
room = rooms.room_create(seller=seller, title="Hat show", scheduled_start=timezone.now(), products=[hat])
rooms.room_go_live(room=room, actor=seller)
token = lambda user: str(RevocableRefreshToken.for_user(user).access_token)
print(json.dumps({"room": room.pk, "hat": hat.pk, "seller": token(seller), "buyer": token(buyer)}))
"""


@pytest.fixture
def two_servers(redis_url, tmp_path):
    env = child_env(
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
    )
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    setup = python(SETUP, env=env)
    assert setup.returncode == 0, setup.stderr
    ids = json.loads(setup.stdout.strip().splitlines()[-1])
    daphne = str(Path(sys.executable).with_name("daphne"))
    servers, ports = [], []
    try:
        for _ in range(2):
            port = free_port()
            servers.append(
                subprocess.Popen(
                    [daphne, "-b", "127.0.0.1", "-p", str(port), "liveshop.asgi:application"],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            ports.append(port)
        for port in ports:
            wait_for_port(port, timeout=30)
        yield ids, ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


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
    ids, (seller_port, viewer_port) = two_servers
    path = f"/ws/rooms/{ids['room']}/"

    def connect(port: int, token: str):
        return websockets.connect(
            f"ws://127.0.0.1:{port}{path}",
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
        )

    async with (
        connect(seller_port, ids["seller"]) as seller,
        connect(viewer_port, ids["buyer"]) as viewer,
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
        async with connect(viewer_port, ids["buyer"]) as second_tab:
            late_state = json.loads(await second_tab.recv())
            assert late_state["spotlight"]["id"] == ids["hat"]
            assert [m["text"] for m in late_state["chat"]] == [
                "Does it come in blue?",
                "Only natural, sorry!",
            ]
            # A second tab of the same person is not a new viewer.
            assert late_state["viewer_count"] == 2
