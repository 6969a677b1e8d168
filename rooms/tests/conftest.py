"""Room test fixtures: rooms with products, and sockets on the full ASGI application."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from accounts.tokens import RevocableRefreshToken
from liveshop.asgi import application
from rooms import services
from rooms.store import get_store

ORIGIN = b"http://testserver"


@pytest.fixture(autouse=True)
async def _empty_room_store():
    """The in-memory store lives in the process: each test starts with an empty one."""
    await get_store().clear()
    yield
    await get_store().clear()


@pytest.fixture
def make_room(db, seller, make_product):
    def make(*, seller_user=None, live: bool = False, products=None, **fields):
        owner = seller_user or seller
        if products is None:
            products = [make_product(seller=owner, name="Silk scarf")]
        room = services.room_create(
            seller=owner,
            title=fields.pop("title", "Evening show"),
            scheduled_start=fields.pop("scheduled_start", timezone.now()),
            products=products,
            **fields,
        )
        if live:
            room = services.room_go_live(room=room, actor=owner)
        return room

    return make


def session_cookie_for(user) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}".encode()


@pytest.fixture
def room_socket():
    """Open a room socket. `user` authenticates with a Bearer JWT (mobile) unless
    `via="session"` (website cookie); anonymous sockets send only the Origin."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(
        room,
        user=None,
        *,
        via: str = "jwt",
        origin: bytes | None = ORIGIN,
        headers=(),
        query: str = "",
    ) -> WebsocketCommunicator:
        all_headers = list(headers)
        if origin is not None:
            all_headers.append((b"origin", origin))
        if user is not None and via == "jwt":
            token = await sync_to_async(
                lambda: str(RevocableRefreshToken.for_user(user).access_token)
            )()
            all_headers.append((b"authorization", f"Bearer {token}".encode()))
        if user is not None and via == "session":
            all_headers.append((b"cookie", await sync_to_async(session_cookie_for)(user)))
        communicator = WebsocketCommunicator(
            application, f"/ws/rooms/{room.pk}/{query}", headers=all_headers
        )
        opened.append(communicator)
        return communicator

    yield open_socket
