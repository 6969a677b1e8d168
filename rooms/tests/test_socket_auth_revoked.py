"""Signing out reaches the open room sockets (close code 4401, docs/realtime.md), seen from
the attacker's side: a website logout closes that session's sockets only, a deactivated or
deleted account loses all its sockets, an API logout closes the sockets opened with that
sign-in's access tokens; coming back afterwards is refused (or comes in as a visitor)."""

import time

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts import services as account_services
from accounts.models import User
from accounts.tokens import RevocableRefreshToken
from liveshop.websocket import CLOSE_SIGNED_OUT
from rooms.tests import socket_helpers
from rooms.tests.conftest import session_cookie_for

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 2.0  # "within seconds"


@pytest.fixture
async def shopper(make_user):
    return await sync_to_async(make_user)("sid_shopper")


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


def _cookie_header(cookie: bytes) -> list:
    return [(b"cookie", cookie)]


def _bearer(token: str) -> list:
    return [(b"authorization", f"Bearer {token}".encode())]


def _sign_in(user) -> tuple[str, str]:
    """A fresh API sign-in: (access, refresh) as the token endpoint hands them out."""
    refresh = RevocableRefreshToken.for_user(user)
    return str(refresh.access_token), str(refresh)


async def _signed_out(socket, code: str = "signed_out") -> None:
    started = time.monotonic()
    await socket.expect_error(code, timeout=SECONDS)
    assert await socket.expect_close(timeout=SECONDS) == CLOSE_SIGNED_OUT
    assert time.monotonic() - started < SECONDS
    await socket.disconnect()


def _site_logout(cookie: bytes) -> None:
    client = Client()
    client.cookies["sessionid"] = cookie.decode().split("=", 1)[1]
    response = client.post("/accounts/logout/")
    assert response.status_code == 302


async def test_site_logout_closes_that_sessions_sockets_only(
    live_room, buyer, open_socket, refused
):
    laptop = await sync_to_async(session_cookie_for)(buyer)
    phone = await sync_to_async(session_cookie_for)(buyer)
    laptop_socket = await open_socket(live_room, headers=_cookie_header(laptop), label="laptop")
    phone_socket = await open_socket(live_room, headers=_cookie_header(phone), label="phone")
    app_socket = await open_socket(live_room, buyer, label="app")  # Bearer token

    await sync_to_async(_site_logout)(laptop)

    await _signed_out(laptop_socket)
    await phone_socket.nothing("error", "websocket.close")
    await app_socket.nothing("error", "websocket.close")
    await phone_socket.chat("still signed in here")
    # The old cookie names no session any more: the page is public, so it comes back as a
    # visitor, who cannot chat.
    visitor = await open_socket(live_room, headers=_cookie_header(laptop), label="old cookie")
    assert visitor.state["you"]["id"] is None
    await visitor.send({"type": "chat-message", "text": "hello"})
    await visitor.expect_error("login_required")


async def test_deactivation_closes_every_socket_of_the_account(
    live_room, buyer, shopper, open_socket, refused
):
    access, _ = await sync_to_async(_sign_in)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    sockets = [
        await open_socket(live_room, headers=_bearer(access), label="app"),
        await open_socket(live_room, headers=_cookie_header(cookie), label="site"),
    ]
    bystander = await open_socket(live_room, shopper)

    await sync_to_async(account_services.user_deactivate)(user=buyer)

    for socket in sockets:
        await _signed_out(socket)
    await bystander.nothing("error", "websocket.close")
    assert await refused(live_room, headers=_bearer(access))  # token still unexpired
    again = await open_socket(live_room, headers=_cookie_header(cookie), label="site again")
    assert again.state["you"]["id"] is None  # the session no longer signs anyone in


def _admin_deactivate(user: User) -> None:
    staff = User.objects.create_user("root", "root@example.test", "pw-123456-x", is_staff=True)
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    joined = user.date_joined
    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "username": user.username,
            "email": user.email,
            "is_active": "",  # unticked
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "role": user.role,
            "display_name": "",
            "shop_name": "",
            "bio": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert not user.is_active


async def test_deactivation_in_the_admin_closes_the_sockets(live_room, buyer, open_socket):
    socket = await open_socket(live_room, buyer)
    await sync_to_async(_admin_deactivate)(buyer)
    await _signed_out(socket)


async def test_deleting_the_account_closes_its_sockets(live_room, buyer, open_socket, refused):
    access, _ = await sync_to_async(_sign_in)(buyer)
    socket = await open_socket(live_room, headers=_bearer(access))
    await sync_to_async(User.objects.filter(pk=buyer.pk).delete)()
    await _signed_out(socket)
    assert await refused(live_room, headers=_bearer(access))


def _api_logout(refresh: str) -> None:
    response = Client().post(
        "/api/v1/auth/logout/", {"refresh": refresh}, content_type="application/json"
    )
    assert response.status_code == 204, response.content


def _api_refresh(refresh: str) -> tuple[str, str]:
    response = Client().post(
        "/api/v1/auth/token/refresh/", {"refresh": refresh}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["access"], response.json()["refresh"]


async def test_api_logout_closes_the_sockets_of_that_sign_in_only(
    live_room, buyer, open_socket, refused
):
    phone_access, phone_refresh = await sync_to_async(_sign_in)(buyer)
    # The phone refreshed once: the socket opened with the older access token is still the
    # same sign-in, and so is the newer one.
    newer_access, phone_refresh = await sync_to_async(_api_refresh)(phone_refresh)
    tablet_access, _ = await sync_to_async(_sign_in)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    old = await open_socket(live_room, headers=_bearer(phone_access), label="phone, old token")
    new = await open_socket(live_room, headers=_bearer(newer_access), label="phone, new token")
    tablet = await open_socket(live_room, headers=_bearer(tablet_access), label="tablet")
    site = await open_socket(live_room, headers=_cookie_header(cookie), label="site")

    await sync_to_async(_api_logout)(phone_refresh)

    await _signed_out(old)
    await _signed_out(new)
    for socket in (tablet, site):
        await socket.nothing("error", "websocket.close")
    await tablet.chat("tablet still here")
    # The logged-out sign-in's access tokens, unexpired, no longer open a socket.
    assert await refused(live_room, headers=_bearer(phone_access))
    assert await refused(live_room, headers=_bearer(newer_access))
    await open_socket(live_room, headers=_bearer(tablet_access), label="tablet again")


async def test_a_token_socket_closes_when_its_access_token_expires(
    live_room, buyer, open_socket, settings
):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = await sync_to_async(AccessToken.for_user)(buyer)
    token.set_exp(lifetime=timedelta(seconds=1))
    socket = await open_socket(live_room, headers=_bearer(str(token)))
    await socket.expect_error("token_expired", timeout=3)
    assert await socket.expect_close() == CLOSE_SIGNED_OUT


async def test_frames_after_the_sign_out_are_refused(live_room, buyer, open_socket):
    """The consumer stops acting for the user as soon as it hears of the sign-out, even for
    frames it still reads before the connection is gone."""
    socket = await open_socket(live_room, buyer)
    await sync_to_async(account_services.user_deactivate)(user=buyer)
    await socket.expect_error("signed_out")
    await socket.send({"type": "chat-message", "text": "one more"})
    await socket.nothing("chat-message")


# --- over Redis: the sign-out is PUBLISHed on the room hub's "signout" channel ---------------


@pytest.fixture
async def on_redis(settings, redis_url, monkeypatch):
    """The Redis room store (and hub) and channel layer for this test."""
    async with socket_helpers.redis_everywhere(settings, redis_url, monkeypatch) as store:
        yield store


@pytest.mark.redis
async def test_sign_outs_reach_the_sockets_over_redis(
    on_redis, make_room, buyer, shopper, open_socket, refused
):
    room = await sync_to_async(make_room)(live=True)
    phone_access, phone_refresh = await sync_to_async(_sign_in)(buyer)
    tablet_access, _ = await sync_to_async(_sign_in)(buyer)
    phone = await open_socket(room, headers=_bearer(phone_access), label="phone")
    tablet = await open_socket(room, headers=_bearer(tablet_access), label="tablet")
    bystander = await open_socket(room, shopper)

    await sync_to_async(_api_logout)(phone_refresh)
    await _signed_out(phone)
    await tablet.nothing("error", "websocket.close")
    assert await refused(room, headers=_bearer(phone_access))

    await sync_to_async(account_services.user_deactivate)(user=buyer)
    await _signed_out(tablet)
    await bystander.nothing("error", "websocket.close")
    await bystander.chat("still here")
