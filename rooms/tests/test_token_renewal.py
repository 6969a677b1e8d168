"""An app renews its room socket's access token in band (`renew-token`, docs/realtime.md)
instead of reconnecting, and WebRTC, every 15 minutes: the socket then closes (4401,
`token_expired`) at the new token's expiry, not the old one's. Only a valid access token of
the socket's own user renews it; anything else is refused with an error frame and the old
expiry stands. Tokens here live seconds (as in test_socket_auth_revoked.py) so that both
expiries pass within the test."""

import time

import pytest
from asgiref.sync import sync_to_async

from liveshop import websocket
from liveshop.websocket import CLOSE_SIGNED_OUT, MAX_TOKEN_CHARS, RENEW_RATE
from rooms.tests.conftest import session_cookie_for
from rooms.tests.token_helpers import (
    api_logout,
    bearer,
    closes_at_expiry,
    expires,
    past,
    renew,
    sign_in_of,
    tampered,
    token_pair,
)

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

CLOSED = "websocket.close"  # what a closed socket yields (socket_helpers.CLOSED)


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


async def test_a_renewed_socket_outlives_its_first_token_and_closes_at_the_new_ones_expiry(
    live_room, buyer, open_socket
):
    first, _ = await sync_to_async(token_pair)(buyer, seconds=2)
    socket = await open_socket(live_room, headers=bearer(first), label="app")
    # Less than a minute left: the socket says so at once (after room-state).
    assert (await socket.expect("token-expiring"))["expires"] == expires(first)

    # The app refreshed its sign-in over HTTP and hands the socket the new access token.
    fresh, _ = await sync_to_async(token_pair)(buyer, seconds=4, sign_in=sign_in_of(first))
    await renew(socket, fresh)
    renewed = await socket.expect("token-renewed")
    assert renewed["expires"] == expires(fresh) > expires(first)
    expiring = await socket.expect("token-expiring", expires=expires(fresh))
    assert socket.received.index(renewed) < socket.received.index(expiring)

    await past(expires(first))
    await socket.nothing("error", CLOSED)
    await socket.chat("still here after my first token expired")
    await closes_at_expiry(socket, expires(fresh))


async def test_the_expiry_notice_comes_ahead_of_the_expiry(
    live_room, buyer, open_socket, monkeypatch
):
    monkeypatch.setattr(websocket, "TOKEN_EXPIRING_NOTICE", 1.0)
    access, _ = await sync_to_async(token_pair)(buyer, seconds=3)
    socket = await open_socket(live_room, headers=bearer(access), label="app")
    await socket.nothing("token-expiring")  # more than the notice is left
    notice = await socket.expect("token-expiring", timeout=4)
    assert notice["expires"] == expires(access)
    assert time.time() < expires(access), "the notice came after the expiry"
    await closes_at_expiry(socket, expires(access))


async def test_another_users_token_is_refused_and_the_old_expiry_stands(
    live_room, buyer, make_user, open_socket
):
    intruder = await sync_to_async(make_user)("renewal_intruder")
    first, _ = await sync_to_async(token_pair)(buyer, seconds=2)
    socket = await open_socket(live_room, headers=bearer(first), label="app")
    theirs, _ = await sync_to_async(token_pair)(intruder)

    await renew(socket, theirs)
    await socket.expect_error("wrong_user")
    await socket.nothing("token-renewed")
    await closes_at_expiry(socket, expires(first))


async def test_tokens_that_are_not_valid_access_tokens_are_refused(live_room, buyer, open_socket):
    first, _ = await sync_to_async(token_pair)(buyer, seconds=3)
    socket = await open_socket(live_room, headers=bearer(first), label="app")
    same = sign_in_of(first)
    unexpired, refresh = await sync_to_async(token_pair)(buyer, sign_in=same)
    expired, _ = await sync_to_async(token_pair)(buyer, seconds=-5, sign_in=same)
    # Another sign-in of the same user (another device), logged out: its tokens are dead.
    logged_out, logged_out_refresh = await sync_to_async(token_pair)(buyer)
    await sync_to_async(api_logout)(logged_out_refresh)

    for label, token in [
        ("a refresh token", refresh),
        ("a tampered token", tampered(unexpired)),
        ("an expired token", expired),
        ("a logged-out sign-in's token", logged_out),
        ("not a token at all", "a.b.c"),
    ]:
        await renew(socket, token)
        error = await socket.expect_error("invalid_token")
        assert error, label
    await socket.nothing("token-renewed")
    await socket.chat("refusals change nothing")  # the socket works, still signed in
    await closes_at_expiry(socket, expires(first))


async def test_malformed_renewals_get_a_clear_error_and_the_socket_lives_on(
    live_room, buyer, open_socket
):
    socket = await open_socket(live_room, buyer)
    for frame in [
        {"type": "renew-token"},
        {"type": "renew-token", "token": None},
        {"type": "renew-token", "token": 7},
        {"type": "renew-token", "token": ["a.b.c"]},
        {"type": "renew-token", "token": {"token": "a.b.c"}},
        {"type": "renew-token", "token": ""},
        {"type": "renew-token", "token": "x" * (MAX_TOKEN_CHARS + 1)},
    ]:
        await socket.send(frame)
        error = await socket.expect_error("invalid")
        assert "`token`" in error["message"], error
    await socket.send_text('{"type": "renew-token", "token": "\\ud800\\udfff\\ud800"}')
    await socket.expect_error("invalid_token")
    await socket.send({"type": "join-room"})
    await socket.expect("room-state")


async def test_sockets_without_a_token_have_nothing_torenew(live_room, buyer, open_socket):
    access, _ = await sync_to_async(token_pair)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    site = await open_socket(live_room, headers=[(b"cookie", cookie)], label="site")
    visitor = await open_socket(live_room, label="visitor")
    for socket in (site, visitor):
        await renew(socket, access)
        await socket.expect_error("not_token_socket")
    await site.chat("the website's socket never expires and still works")


async def test_a_renewed_socket_belongs_to_the_newsign_in_of(live_room, buyer, open_socket):
    """Logging out the sign-in the socket opened with no longer closes it once renewed
    with another sign-in's token; logging out that one does."""
    old_access, old_refresh = await sync_to_async(token_pair)(buyer)
    new_access, new_refresh = await sync_to_async(token_pair)(buyer)
    socket = await open_socket(live_room, headers=bearer(old_access), label="app")
    await renew(socket, new_access)
    assert (await socket.expect("token-renewed"))["expires"] == expires(new_access)

    await sync_to_async(api_logout)(old_refresh)
    await socket.nothing("error", CLOSED, wait=0.5)
    await socket.chat("the old sign-in is gone, mine is not")

    await sync_to_async(api_logout)(new_refresh)
    await socket.expect_error("signed_out")
    assert await socket.expect_close() == CLOSE_SIGNED_OUT


async def test_a_logout_of_the_new_sign_in_during_the_check_refuses_the_renewal(
    live_room, buyer, open_socket, monkeypatch
):
    """The new sign-in passes the database check, then is logged out before the renewal
    takes effect: its sign-out reaches the socket while it still belongs to the old
    sign-in, so the renewal itself must be refused (else the socket would live on with a
    logged-out sign-in's token)."""
    old_access, _ = await sync_to_async(token_pair)(buyer, seconds=3)
    new_access, new_refresh = await sync_to_async(token_pair)(buyer)
    socket = await open_socket(live_room, headers=bearer(old_access), label="app")
    checked = websocket._token_user

    def logged_out_right_after_the_check(token):
        user = checked(token)
        api_logout(new_refresh)
        return user

    monkeypatch.setattr(websocket, "_token_user", logged_out_right_after_the_check)
    await renew(socket, new_access)
    await socket.expect_error("invalid_token")
    await socket.nothing("token-renewed", CLOSED)
    await closes_at_expiry(socket, expires(old_access))  # the old sign-in's expiry stands


async def test_renewals_are_rate_limited_per_socket(live_room, buyer, open_socket):
    access, _ = await sync_to_async(token_pair)(buyer)
    socket = await open_socket(live_room, headers=bearer(access), label="app")
    limit, _ = RENEW_RATE
    tokens = await sync_to_async(
        lambda: [token_pair(buyer, sign_in=sign_in_of(access))[0] for _ in range(limit + 1)]
    )()
    for token in tokens[:limit]:
        await renew(socket, token)
        await socket.expect("token-renewed")
    await renew(socket, tokens[limit])
    await socket.expect_error("rate_limited")
    # Forgeries cost no database read and are refused as such, not counted.
    await renew(socket, tampered(tokens[0]))
    await socket.expect_error("invalid_token")


# --- over Redis: the sign-out of the new sign-in comes through the hub's Redis channel ------


@pytest.fixture
async def on_redis(settings, redis_url, monkeypatch):
    # Imported here, once pytest_plugins has loaded (and assert-rewritten) the module.
    from rooms.tests.socket_helpers import redis_everywhere

    async with redis_everywhere(settings, redis_url, monkeypatch) as store:
        yield store


@pytest.mark.redis
async def test_a_renewed_socket_closes_when_its_new_sign_in_logs_out_over_redis(
    on_redis, make_room, buyer, open_socket
):
    room = await sync_to_async(make_room)(live=True)
    first, _ = await sync_to_async(token_pair)(buyer, seconds=2)
    new_access, new_refresh = await sync_to_async(token_pair)(buyer)
    socket = await open_socket(room, headers=bearer(first), label="app")
    await renew(socket, new_access)
    await socket.expect("token-renewed")
    await past(expires(first))
    await socket.nothing("error", CLOSED)

    await sync_to_async(api_logout)(new_refresh)
    await socket.expect_error("signed_out")
    assert await socket.expect_close() == CLOSE_SIGNED_OUT
