"""Logging out an API sign-in covers every token of it (the `sid` claim, accounts/tokens.py);
the socket side is in rooms/tests/test_socket_auth_revoked.py and
notifications/tests/test_consumers.py."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import services
from accounts.tokens import SIGN_IN_CLAIM, RevocableRefreshToken

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"

pytestmark = pytest.mark.django_db


def _post(client, url: str, body: dict):
    return client.post(url, body, content_type="application/json")


def _log_in(client, user) -> dict:
    response = _post(client, TOKEN, {"username": user.username, "password": "correct-horse-42"})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_sign_in_keeps_its_id_through_rotation_and_into_access_tokens(client, buyer):
    first = _log_in(client, buyer)
    sign_in = RefreshToken(first["refresh"])[SIGN_IN_CLAIM]
    assert AccessToken(first["access"])[SIGN_IN_CLAIM] == sign_in
    rotated = _post(client, REFRESH, {"refresh": first["refresh"]}).json()
    assert RefreshToken(rotated["refresh"])[SIGN_IN_CLAIM] == sign_in
    assert AccessToken(rotated["access"])[SIGN_IN_CLAIM] == sign_in
    other = _log_in(client, buyer)
    assert RefreshToken(other["refresh"])[SIGN_IN_CLAIM] != sign_in


def test_logout_revokes_every_token_of_that_sign_in_only(client, buyer):
    phone = _log_in(client, buyer)
    rotated = _post(client, REFRESH, {"refresh": phone["refresh"]}).json()
    tablet = _log_in(client, buyer)

    assert _post(client, LOGOUT, {"refresh": rotated["refresh"]}).status_code == 204

    for access in (phone["access"], rotated["access"]):  # unexpired, but logged out
        assert _post(client, VERIFY, {"token": access}).status_code == 401
    assert _post(client, REFRESH, {"refresh": rotated["refresh"]}).status_code == 401
    assert _post(client, LOGOUT, {"refresh": rotated["refresh"]}).status_code == 401
    assert _post(client, VERIFY, {"token": tablet["access"]}).status_code == 200
    assert _post(client, REFRESH, {"refresh": tablet["refresh"]}).status_code == 200


def test_the_api_refuses_a_logged_out_sign_ins_access_token_at_once(client, buyer):
    phone, tablet = _log_in(client, buyer), _log_in(client, buyer)
    assert _me(client, phone["access"]).status_code == 200

    assert _post(client, LOGOUT, {"refresh": phone["refresh"]}).status_code == 204

    refused = _me(client, phone["access"])  # unexpired for 15 more minutes, but logged out
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_not_valid"
    assert "logged out" in refused.json()["error"]["message"]
    still_signed_in = _me(client, tablet["access"])
    assert still_signed_in.status_code == 200
    assert still_signed_in.json()["username"] == buyer.username


def _me(client, access: str):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {access}")


def test_tokens_from_before_sign_in_ids_still_log_out(client, buyer):
    legacy = RefreshToken.for_user(buyer)  # no `sid` claim
    assert SIGN_IN_CLAIM not in legacy.payload
    assert _post(client, LOGOUT, {"refresh": str(legacy)}).status_code == 204
    assert _post(client, REFRESH, {"refresh": str(legacy)}).status_code == 401


def test_deactivation_is_a_service(buyer):
    services.user_deactivate(user=buyer)
    buyer.refresh_from_db()
    assert not buyer.is_active


def test_the_token_class_gives_each_sign_in_its_own_id(buyer):
    one, two = RevocableRefreshToken.for_user(buyer), RevocableRefreshToken.for_user(buyer)
    assert one[SIGN_IN_CLAIM] != two[SIGN_IN_CLAIM]
    kept = RevocableRefreshToken.for_user(buyer, sign_in=one[SIGN_IN_CLAIM])
    assert kept[SIGN_IN_CLAIM] == one[SIGN_IN_CLAIM]
