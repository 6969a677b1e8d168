"""The notification socket renews its access token in band like the room socket
(`renew-token`, docs/realtime.md; the room side and every refusal in
rooms/tests/test_token_renewal.py): an app's socket outlives its first token and closes
(4401, `token_expired`) at the new one's expiry; another user's token, or a dead one, is
refused and the old expiry stands; a website socket has nothing to renew; a renewed socket
closes when its new sign-in logs out."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from liveshop.asgi import application
from liveshop.websocket import CLOSE_SIGNED_OUT
from rooms.tests.conftest import session_cookie_for
from rooms.tests.token_helpers import (
    api_logout,
    bearer,
    closes_at_expiry,
    expires,
    past,
    renew,
    sign_in_of,
    token_pair,
)

pytest_plugins = ["rooms.tests.socket_helpers"]  # its Socket reads any JSON socket
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3.0
CLOSED = "websocket.close"  # what a closed socket yields (socket_helpers.CLOSED)


@pytest.fixture
async def listen():
    """Open notification sockets, past their first message (unread-count, still the
    first); every one is closed at the end."""
    # Imported here, once pytest_plugins has loaded (and assert-rewritten) the module.
    from rooms.tests.socket_helpers import Socket

    opened: list = []

    async def open_(headers, label: str = "app"):
        communicator = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
        socket = Socket(communicator, label)
        opened.append(socket)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected, f"{label}: handshake refused"
        first = await socket._next(TIMEOUT)
        assert first is not None and first["type"] == "unread-count", first
        return socket

    yield open_
    for socket in opened:
        await socket.disconnect()


async def test_a_renewed_socket_outlives_its_first_token(listen, buyer):
    first, _ = await sync_to_async(token_pair)(buyer, seconds=2)
    socket = await listen(bearer(first))
    assert (await socket.expect("token-expiring"))["expires"] == expires(first)

    fresh, _ = await sync_to_async(token_pair)(buyer, seconds=4, sign_in=sign_in_of(first))
    await renew(socket, fresh)
    renewed = await socket.expect("token-renewed")
    assert {k: v for k, v in renewed.items() if k != "_at"} == {
        "type": "token-renewed",
        "expires": expires(fresh),
    }
    await socket.expect("token-expiring", expires=expires(fresh))

    await past(expires(first))
    await socket.nothing("error", CLOSED)
    await closes_at_expiry(socket, expires(fresh))


async def test_another_users_or_a_dead_token_is_refused_and_the_old_expiry_stands(
    listen, buyer, make_user
):
    intruder = await sync_to_async(make_user)("notify_intruder")
    first, _ = await sync_to_async(token_pair)(buyer, seconds=3)
    socket = await listen(bearer(first))
    theirs, _ = await sync_to_async(token_pair)(intruder)
    _, refresh = await sync_to_async(token_pair)(buyer)
    expired, _ = await sync_to_async(token_pair)(buyer, seconds=-5)
    logged_out, logged_out_refresh = await sync_to_async(token_pair)(buyer)
    await sync_to_async(api_logout)(logged_out_refresh)

    await renew(socket, theirs)
    await socket.expect_error("wrong_user")
    for token in (refresh, expired, logged_out):
        await renew(socket, token)
        await socket.expect_error("invalid_token")
    await renew(socket, 7)
    await socket.expect_error("invalid")
    await socket.nothing("token-renewed")
    await closes_at_expiry(socket, expires(first))


async def test_a_website_socket_has_nothing_torenew(listen, buyer):
    access, _ = await sync_to_async(token_pair)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    socket = await listen([(b"origin", b"http://testserver"), (b"cookie", cookie)], "site")
    await renew(socket, access)
    await socket.expect_error("not_token_socket")
    await socket.send({"type": "mark-read"})
    await socket.expect_error("unknown_type")  # anything else, as before


async def test_a_renewed_socket_closes_when_its_new_sign_in_logs_out(listen, buyer):
    old_access, old_refresh = await sync_to_async(token_pair)(buyer)
    new_access, new_refresh = await sync_to_async(token_pair)(buyer)
    socket = await listen(bearer(old_access))
    await renew(socket, new_access)
    await socket.expect("token-renewed")

    await sync_to_async(api_logout)(old_refresh)
    await socket.nothing("error", CLOSED, wait=0.5)  # no longer that sign-in's socket

    await sync_to_async(api_logout)(new_refresh)
    await socket.expect_error("signed_out")
    assert await socket.expect_close() == CLOSE_SIGNED_OUT
