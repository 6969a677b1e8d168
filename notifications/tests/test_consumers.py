"""The notification socket `/ws/notifications/`: visitors refused, each user hears only his
own notifications and unread counts, over the in-memory layer and over Redis."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator

from accounts.tokens import RevocableRefreshToken
from liveshop.asgi import application
from notifications import services
from notifications.models import Notification
from rooms import services as room_services
from rooms.tests.conftest import session_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
TIMEOUT = 3.0


@pytest.fixture
async def sockets():
    """Open notification sockets; every one is closed at the end."""
    opened: list[WebsocketCommunicator] = []

    async def open_(user=None, *, via: str = "session", headers=(ORIGIN,)):
        headers = list(headers)
        if user is not None and via == "session":
            headers.append((b"cookie", await sync_to_async(session_cookie_for)(user)))
        if user is not None and via == "jwt":
            token = await sync_to_async(
                lambda: str(RevocableRefreshToken.for_user(user).access_token)
            )()
            headers.append((b"authorization", f"Bearer {token}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        return communicator, connected

    yield open_
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect(timeout=TIMEOUT)


async def next_message(communicator) -> dict:
    return json.loads(await communicator.receive_from(timeout=TIMEOUT))


async def test_visitors_are_refused_at_the_handshake(sockets):
    _, connected = await sockets()
    assert not connected


async def test_a_foreign_origin_is_refused_even_with_a_session(sockets, buyer):
    _, connected = await sockets(buyer, headers=[(b"origin", b"https://evil.example")])
    assert not connected


@pytest.mark.parametrize("via", ["session", "jwt"])
async def test_the_first_message_is_the_unread_count(sockets, buyer, via):
    socket, connected = await sockets(buyer, via=via)
    assert connected
    assert await next_message(socket) == {"type": "unread-count", "count": 0}


async def go_live(room):
    await sync_to_async(room_services.room_go_live)(room=room, actor=room.seller)


async def test_going_live_pushes_to_each_recipient_only_his_own(
    sockets, upcoming_room, make_user, remind
):
    alice, bob, carol = await sync_to_async(lambda: [make_user(n) for n in "abc"])()
    await sync_to_async(remind)(alice, upcoming_room)
    await sync_to_async(remind)(bob, upcoming_room)
    alice_socket, _ = await sockets(alice)
    carol_socket, _ = await sockets(carol)
    for socket in (alice_socket, carol_socket):
        assert (await next_message(socket))["type"] == "unread-count"

    await go_live(upcoming_room)

    pushed = await next_message(alice_socket)
    assert pushed["type"] == "notification"
    mine = await sync_to_async(Notification.objects.get)(user=alice)
    assert pushed["notification"]["id"] == mine.pk
    assert pushed["notification"]["url"] == f"/rooms/{upcoming_room.pk}/"
    assert await next_message(alice_socket) == {"type": "unread-count", "count": 1}
    assert await carol_socket.receive_nothing(timeout=0.2)  # not his business


async def test_marking_read_updates_the_count_on_every_open_page(
    sockets, upcoming_room, buyer, remind
):
    await sync_to_async(remind)(buyer, upcoming_room)
    await go_live(upcoming_room)
    first, _ = await sockets(buyer)
    second, _ = await sockets(buyer, via="jwt")
    for socket in (first, second):
        assert await next_message(socket) == {"type": "unread-count", "count": 1}

    await sync_to_async(services.notifications_mark_read)(user=buyer, all=True)

    for socket in (first, second):
        assert await next_message(socket) == {"type": "unread-count", "count": 0}


async def test_frames_from_the_client_are_answered_with_an_error(sockets, buyer):
    socket, _ = await sockets(buyer)
    await next_message(socket)
    await socket.send_to(text_data='{"type": "mark-read"}')
    answer = await next_message(socket)
    assert answer["type"] == "error" and answer["code"] == "unknown_type"


@pytest.mark.redis
async def test_pushes_cross_processes_over_the_redis_layer(
    settings, redis_url, sockets, upcoming_room, buyer, remind
):
    saved = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "liveshop-test-notify"},
        }
    }
    channel_layers.backends.clear()
    try:
        await sync_to_async(remind)(buyer, upcoming_room)
        socket, connected = await sockets(buyer)
        assert connected
        assert (await next_message(socket))["type"] == "unread-count"
        await go_live(upcoming_room)
        assert (await next_message(socket))["type"] == "notification"
        assert await next_message(socket) == {"type": "unread-count", "count": 1}
        await socket.disconnect(timeout=TIMEOUT)
        await asyncio.sleep(0)
    finally:
        await get_channel_layer().flush()
        settings.CHANNEL_LAYERS = saved
        channel_layers.backends.clear()


# --- signing out closes the socket (code 4401) -----------------------------------------------


async def _signed_out(communicator) -> None:
    """The socket is told, then closed with 4401, within seconds."""
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            assert output["code"] == 4401
            return
        message = json.loads(output["text"])
        if message["type"] == "error":
            assert message["code"] == "signed_out"


async def _still_open(communicator) -> None:
    assert await communicator.receive_nothing(timeout=0.2)


def _site_logout(cookie: bytes) -> None:
    from django.test import Client

    client = Client()
    client.cookies["sessionid"] = cookie.decode().split("=", 1)[1]
    assert client.post("/accounts/logout/").status_code == 302


async def _open_with(headers) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def test_site_logout_closes_that_sessions_socket_only(buyer):
    laptop = await sync_to_async(session_cookie_for)(buyer)
    phone = await sync_to_async(session_cookie_for)(buyer)
    laptop_socket, _ = await _open_with([ORIGIN, (b"cookie", laptop)])
    phone_socket, _ = await _open_with([ORIGIN, (b"cookie", phone)])
    for socket in (laptop_socket, phone_socket):
        assert (await next_message(socket))["type"] == "unread-count"
    try:
        await sync_to_async(_site_logout)(laptop)
        await _signed_out(laptop_socket)
        await _still_open(phone_socket)
        again, connected = await _open_with([ORIGIN, (b"cookie", laptop)])
        assert not connected  # the old cookie signs no one in: refused at the handshake
    finally:
        await phone_socket.disconnect(timeout=TIMEOUT)


async def test_deactivation_closes_every_notification_socket(sockets, buyer, seller):
    from accounts import services as account_services

    site, _ = await sockets(buyer)
    app, _ = await sockets(buyer, via="jwt")
    other, _ = await sockets(seller)
    for socket in (site, app, other):
        assert (await next_message(socket))["type"] == "unread-count"
    await sync_to_async(account_services.user_deactivate)(user=buyer)
    await _signed_out(site)
    await _signed_out(app)
    await _still_open(other)
    _, connected = await sockets(buyer)
    assert not connected
    _, connected = await sockets(buyer, via="jwt")
    assert not connected


async def test_api_logout_closes_the_socket_of_that_sign_in(buyer):
    from django.test import Client

    def sign_in():
        refresh = RevocableRefreshToken.for_user(buyer)
        return str(refresh.access_token), str(refresh)

    def logout(refresh: str) -> None:
        response = Client().post(
            "/api/v1/auth/logout/", {"refresh": refresh}, content_type="application/json"
        )
        assert response.status_code == 204

    phone_access, phone_refresh = await sync_to_async(sign_in)()
    tablet_access, _ = await sync_to_async(sign_in)()
    bearer = lambda token: (b"authorization", f"Bearer {token}".encode())  # noqa: E731
    phone, _ = await _open_with([bearer(phone_access)])
    tablet, _ = await _open_with([bearer(tablet_access)])
    for socket in (phone, tablet):
        assert (await next_message(socket))["type"] == "unread-count"
    try:
        await sync_to_async(logout)(phone_refresh)
        await _signed_out(phone)
        await _still_open(tablet)
        _, connected = await _open_with([bearer(phone_access)])
        assert not connected
    finally:
        await tablet.disconnect(timeout=TIMEOUT)


@pytest.mark.redis
async def test_deactivation_closes_the_socket_over_the_redis_layer(
    settings, redis_url, sockets, buyer
):
    from accounts import services as account_services

    saved = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "liveshop-test-signout"},
        }
    }
    channel_layers.backends.clear()
    try:
        socket, connected = await sockets(buyer, via="jwt")
        assert connected
        assert (await next_message(socket))["type"] == "unread-count"
        await sync_to_async(account_services.user_deactivate)(user=buyer)
        await _signed_out(socket)
        await socket.disconnect(timeout=TIMEOUT)
        await asyncio.sleep(0)
    finally:
        await get_channel_layer().flush()
        settings.CHANNEL_LAYERS = saved
        channel_layers.backends.clear()
