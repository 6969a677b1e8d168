"""A password change signs the account out everywhere: every API sign-in's tokens are refused
(the `pwv` claim, accounts/tokens.py), every open socket closes (4401 `signed_out`), and the
website's other sessions end on their next request (Django's own session hash). Only the new
password signs in again. A save that leaves the password alone changes nothing."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services
from accounts.models import User
from accounts.tokens import PASSWORD_VERSION_CLAIM
from liveshop.websocket import CLOSE_SIGNED_OUT
from rooms.tests import conftest as room_fixtures
from rooms.tests.conftest import session_cookie_for
from rooms.tests.token_helpers import bearer, renew, token_pair

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

# The rooms tests' fixtures: a room factory, room sockets, an empty room store for every test.
make_room = room_fixtures.make_room
room_socket = room_fixtures.room_socket
_empty_room_store = room_fixtures._empty_room_store

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
ME = "/api/v1/auth/me/"
OLD_PASSWORD = "correct-horse-42"  # make_user's
NEW_PASSWORD = "battery-staple-97"


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


@pytest.fixture
async def shopper(make_user):
    return await sync_to_async(make_user)("pwd_shopper")


def _post(url: str, body: dict):
    return Client().post(url, body, content_type="application/json")


def _log_in(user, password: str = OLD_PASSWORD) -> dict:
    """A device signs in as an app does: {"access": ..., "refresh": ...}."""
    response = _post(TOKEN, {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def _me(access: str):
    return Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {access}")


def _admin_client() -> Client:
    staff = services.staff_user_create(
        username="stella_staff", email="stella@example.test", password="staff-horse-4242"
    )
    client = Client()  # no CSRF checks: the admin's forms are posted as the browser would
    client.force_login(staff)
    return client


def _admin_sets_password(user: User, password: str | None) -> None:
    """Staff use the admin's "change password" form (None: password sign-in disabled)."""
    if password is None:  # the form's "Disable password-based authentication" button
        form = {"usable_password": "false", "unset-password": "1"}
    else:
        form = {"usable_password": "true", "password1": password, "password2": password}
    response = _admin_client().post(f"/admin/accounts/user/{user.pk}/password/", form)
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.check_password(password) if password else not user.has_usable_password()


def _admin_renames(user: User, display_name: str) -> None:
    """Staff save the user's change form (every field, the password hash among them)."""
    user.refresh_from_db()
    joined = user.date_joined
    response = _admin_client().post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "username": user.username,
            "email": user.email,
            "is_active": "on",
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "role": user.role,
            "display_name": display_name,
            "shop_name": "",
            "bio": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.display_name == display_name


def _api_refused(device: dict) -> None:
    """Nothing of this sign-in works on the API any more, as after a logout."""
    me = _me(device["access"])
    assert me.status_code == 401, me.content
    assert me.json()["error"]["code"] == "token_not_valid"
    assert "password" in me.json()["error"]["message"]
    assert _post(REFRESH, {"refresh": device["refresh"]}).status_code == 401
    for token in (device["access"], device["refresh"]):
        assert _post(VERIFY, {"token": token}).status_code == 401


def _api_works(device: dict) -> dict:
    """The sign-in's tokens work; answers the pair its refresh token rotated to."""
    me = _me(device["access"])
    assert me.status_code == 200, me.content
    assert _post(VERIFY, {"token": device["access"]}).status_code == 200
    rotated = _post(REFRESH, {"refresh": device["refresh"]})
    assert rotated.status_code == 200, rotated.content
    assert _me(rotated.json()["access"]).status_code == 200
    return rotated.json()


async def _signed_out(socket) -> None:
    await socket.expect_error("signed_out")
    assert await socket.expect_close() == CLOSE_SIGNED_OUT
    await socket.disconnect()


async def test_a_password_change_in_the_admin_signs_the_user_out_everywhere(
    live_room, buyer, shopper, open_socket, refused
):
    phone, tablet = await sync_to_async(_log_in)(buyer), await sync_to_async(_log_in)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    phone_socket = await open_socket(live_room, headers=bearer(phone["access"]), label="phone")
    site_socket = await open_socket(live_room, headers=[(b"cookie", cookie)], label="site")
    bystander = await open_socket(live_room, shopper)

    await sync_to_async(_admin_sets_password)(buyer, NEW_PASSWORD)

    await _signed_out(phone_socket)
    await _signed_out(site_socket)
    await bystander.nothing("error", "websocket.close")
    for device in (phone, tablet):  # access tokens unexpired for 15 minutes, refresh 14 days
        await sync_to_async(_api_refused)(device)
        assert await refused(live_room, headers=bearer(device["access"]))
    # The website session ends too (Django's session hash): the room opens as a visitor.
    again = await open_socket(live_room, headers=[(b"cookie", cookie)], label="site again")
    assert again.state["you"]["id"] is None

    old = await sync_to_async(_post)(TOKEN, {"username": buyer.username, "password": OLD_PASSWORD})
    assert old.status_code == 401
    fresh = await sync_to_async(_log_in)(buyer, NEW_PASSWORD)
    await sync_to_async(_api_works)(fresh)
    signed_in = await open_socket(live_room, headers=bearer(fresh["access"]), label="new")
    assert signed_in.state["you"]["id"] == buyer.pk
    await signed_in.chat("back with my new password")


async def test_renewing_a_socket_with_a_token_from_before_the_change_is_refused(
    live_room, buyer, open_socket
):
    stale, _ = await sync_to_async(token_pair)(buyer)
    await sync_to_async(_admin_sets_password)(buyer, NEW_PASSWORD)
    fresh = await sync_to_async(_log_in)(buyer, NEW_PASSWORD)
    socket = await open_socket(live_room, headers=bearer(fresh["access"]), label="app")

    await renew(socket, stale)
    await socket.expect_error("invalid_token")
    await socket.nothing("token-renewed")
    await renew(socket, fresh["access"])  # a current token still renews it
    await socket.expect("token-renewed")


async def test_disabling_password_sign_in_in_the_admin_signs_the_user_out_too(
    live_room, buyer, open_socket, refused
):
    phone = await sync_to_async(_log_in)(buyer)
    socket = await open_socket(live_room, headers=bearer(phone["access"]), label="phone")

    await sync_to_async(_admin_sets_password)(buyer, None)

    await _signed_out(socket)
    await sync_to_async(_api_refused)(phone)
    assert await refused(live_room, headers=bearer(phone["access"]))


async def test_saves_that_keep_the_password_sign_no_one_out(live_room, buyer, open_socket):
    phone = await sync_to_async(_log_in)(buyer)
    cookie = await sync_to_async(session_cookie_for)(buyer)
    phone_socket = await open_socket(live_room, headers=bearer(phone["access"]), label="phone")
    site_socket = await open_socket(live_room, headers=[(b"cookie", cookie)], label="site")

    await sync_to_async(services.user_update_profile)(user=buyer, display_name="Bella B.")
    await sync_to_async(_admin_renames)(buyer, "Bella Buyer")

    for socket in (phone_socket, site_socket):
        await socket.nothing("error", "websocket.close")
        await socket.chat(f"{socket.label} still signed in")
    rotated = await sync_to_async(_api_works)(phone)
    assert (await sync_to_async(_me)(rotated["access"])).json()["display_name"] == "Bella Buyer"


def test_tokens_from_before_the_claim_are_accepted_as_before(buyer):
    legacy = RefreshToken.for_user(buyer)  # issued before tokens carried `pwv`
    assert PASSWORD_VERSION_CLAIM not in legacy.payload
    _admin_sets_password(buyer, NEW_PASSWORD)
    assert _me(str(legacy.access_token)).status_code == 200
    assert _post(VERIFY, {"token": str(legacy)}).status_code == 200
