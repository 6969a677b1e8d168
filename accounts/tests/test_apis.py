"""The accounts REST API as mobile clients use it: exact paths, status codes, error shape."""

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.tokens import RevocableRefreshToken
from conftest import PASSWORD, image_bytes, image_upload

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"
BECOME_SELLER = "/api/v1/auth/become-seller/"
SITE_LOGIN = "/accounts/login/"

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def post_json(client, url: str, body) -> object:
    """Send any JSON value (also lists, numbers, huge strings) exactly as a client would."""
    return client.post(url, data=json.dumps(body), content_type="application/json")


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Every 4xx answer is {"error": {"code", "message", "fields"}}; returns the error."""
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    return error


def obtain_tokens(client, username: str, password: str = PASSWORD) -> dict:
    response = post_json(client, TOKEN, {"username": username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def bearer(client, access: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def stored_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# --- register --------------------------------------------------------------------------

VALID_REGISTRATION = {
    "username": "new_shopper",
    "email": "new.shopper@example.test",
    "password": PASSWORD,
}


def test_register_creates_a_buyer_and_answers_201_with_the_user(db, api_client):
    response = post_json(api_client, REGISTER, VALID_REGISTRATION)

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "new_shopper"
    assert body["email"] == "new.shopper@example.test"
    assert body["role"] == "buyer"
    assert body["is_staff"] is False
    assert "password" not in body
    user = User.objects.get(username="new_shopper")
    assert body["id"] == user.pk
    assert user.check_password(PASSWORD)


def test_registered_user_can_obtain_tokens_with_the_chosen_password(db, api_client):
    post_json(api_client, REGISTER, VALID_REGISTRATION)

    tokens = obtain_tokens(api_client, "new_shopper")

    assert tokens["access"] and tokens["refresh"]


def test_register_ignores_role_and_staff_flags_from_input(db, api_client):
    body = {**VALID_REGISTRATION, "role": "seller", "is_staff": True, "is_superuser": True}

    response = post_json(api_client, REGISTER, body)

    assert response.status_code == 201
    assert response.json()["role"] == "buyer"
    assert response.json()["is_staff"] is False
    user = User.objects.get(username="new_shopper")
    assert user.role == User.Role.BUYER
    assert not user.is_staff
    assert not user.is_superuser


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_register_without_a_required_field_is_refused_with_a_field_error(db, api_client, missing):
    body = {k: v for k, v in VALID_REGISTRATION.items() if k != missing}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert missing in error["fields"]
    assert not User.objects.exists()


def test_register_with_an_empty_body_lists_every_missing_field(db, api_client):
    error = assert_error(post_json(api_client, REGISTER, {}), 400, "invalid")

    assert set(error["fields"]) == {"username", "email", "password"}
    assert not User.objects.exists()


def test_register_refuses_an_invalid_email(db, api_client):
    body = {**VALID_REGISTRATION, "email": "not-an-email"}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "email" in error["fields"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "password",
    ["password", "12345678", "short", "new_shopper1"],
    ids=["common", "numeric", "too-short", "like-the-username"],
)
def test_register_refuses_a_weak_password(db, api_client, password):
    body = {**VALID_REGISTRATION, "password": password}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "password" in error["fields"]
    assert error["fields"]["password"]
    assert not User.objects.exists()


def test_register_refuses_a_username_taken_in_another_case(db, api_client, buyer):
    body = {**VALID_REGISTRATION, "username": buyer.username.upper()}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "username" in error["fields"]
    assert User.objects.count() == 1


def test_register_refuses_an_email_already_in_use(db, api_client, buyer):
    body = {**VALID_REGISTRATION, "email": buyer.email.upper()}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "email" in error["fields"]
    assert User.objects.count() == 1


def test_register_refuses_a_username_with_forbidden_characters(db, api_client):
    body = {**VALID_REGISTRATION, "username": "no spaces <b>"}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "username" in error["fields"]
    assert not User.objects.exists()


def test_register_refuses_a_10_mb_username_without_creating_anyone(db, api_client):
    body = {**VALID_REGISTRATION, "username": "a" * 10_000_000}

    assert_error(post_json(api_client, REGISTER, body), 400)

    assert not User.objects.exists()


def test_register_refuses_an_overlong_username_with_a_field_error(db, api_client):
    body = {**VALID_REGISTRATION, "username": "a" * 200_000}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "username" in error["fields"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        [VALID_REGISTRATION],
        ["new_shopper", "new.shopper@example.test", PASSWORD],
        42,
        "new_shopper",
        None,
    ],
    ids=["list-of-object", "list", "number", "string", "null"],
)
def test_register_refuses_json_that_is_not_an_object(db, api_client, body):
    assert_error(post_json(api_client, REGISTER, body), 400)

    assert not User.objects.exists()


def test_register_refuses_fields_of_the_wrong_type(db, api_client):
    body = {"username": ["new_shopper"], "email": 5, "password": {"value": PASSWORD}}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert {"username", "email", "password"} <= set(error["fields"])
    assert not User.objects.exists()


def test_register_refuses_numbers_for_credentials(db, api_client):
    body = {"username": 12345, "email": 67890, "password": 12345678}

    error = assert_error(post_json(api_client, REGISTER, body), 400, "invalid")

    assert "email" in error["fields"]
    assert not User.objects.exists()


def test_register_refuses_malformed_json(db, api_client):
    response = api_client.post(
        REGISTER, data='{"username": "new_shopper",', content_type="application/json"
    )

    assert_error(response, 400, "parse_error")
    assert not User.objects.exists()


# --- obtaining tokens ------------------------------------------------------------------


def test_token_gives_access_and_refresh_tokens_that_work(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)

    assert set(tokens) >= {"access", "refresh"}
    me = bearer(api_client, tokens["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["username"] == buyer.username


def test_token_wrong_password_and_unknown_user_get_the_same_answer(db, api_client, buyer):
    wrong_password = post_json(
        api_client, TOKEN, {"username": buyer.username, "password": "not-the-password"}
    )
    unknown_user = post_json(
        api_client, TOKEN, {"username": "nobody_here", "password": "not-the-password"}
    )

    assert_error(wrong_password, 401)
    assert wrong_password.status_code == unknown_user.status_code
    assert wrong_password.json() == unknown_user.json()


def test_token_refuses_an_inactive_account_like_a_wrong_password(db, api_client, buyer):
    User.objects.filter(pk=buyer.pk).update(is_active=False)
    unknown = post_json(api_client, TOKEN, {"username": "nobody_here", "password": PASSWORD})

    inactive = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    assert_error(inactive, 401)
    assert inactive.json() == unknown.json()


def test_token_accepts_a_password_with_spaces_exactly_as_registered(db, api_client):
    password = "  spaces around my secret  "
    post_json(api_client, REGISTER, {**VALID_REGISTRATION, "password": password})

    obtain_tokens(api_client, "new_shopper", password)
    trimmed = post_json(
        api_client, TOKEN, {"username": "new_shopper", "password": password.strip()}
    )
    assert_error(trimmed, 401)


def test_token_without_a_password_is_a_400_with_a_field_error(db, api_client, buyer):
    error = assert_error(post_json(api_client, TOKEN, {"username": buyer.username}), 400)

    assert "password" in error["fields"]


@pytest.mark.parametrize("body", [[{"username": "x", "password": "y"}], 42, "x", None])
def test_token_refuses_json_that_is_not_an_object(db, api_client, body):
    assert_error(post_json(api_client, TOKEN, body), 400)


def fail_api_login(client, username: str, times: int, **extra) -> None:
    for _ in range(times):
        response = client.post(
            TOKEN,
            data=json.dumps({"username": username, "password": "wrong-password-1"}),
            content_type="application/json",
            **extra,
        )
        assert response.status_code == 401


def test_token_after_five_failures_even_the_right_password_is_throttled(db, api_client, buyer):
    fail_api_login(api_client, buyer.username, 5)

    response = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    error = assert_error(response, 429, "throttled")
    assert "Too many failed login attempts" in error["message"]
    assert int(response["Retry-After"]) == django_settings.LOGIN_FAILURE_WINDOW_SECONDS


def test_token_four_failures_still_let_the_right_password_in(db, api_client, buyer):
    fail_api_login(api_client, buyer.username, 4)

    obtain_tokens(api_client, buyer.username)


def test_token_success_clears_the_accounts_failure_count(db, api_client, buyer):
    fail_api_login(api_client, buyer.username, 4)
    obtain_tokens(api_client, buyer.username)
    fail_api_login(api_client, buyer.username, 4)

    obtain_tokens(api_client, buyer.username)


def test_token_throttle_counts_usernames_case_insensitively(db, api_client, buyer):
    for variant in ["BELLA_BUYER", "Bella_Buyer", "bella_BUYER", " bella_buyer", "BeLlA_bUyEr"]:
        fail_api_login(api_client, variant, 1)

    response = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    assert_error(response, 429, "throttled")


def test_token_throttle_does_not_reveal_whether_an_account_exists(db, api_client, buyer):
    fail_api_login(api_client, buyer.username, 5)
    fail_api_login(api_client, "nobody_here", 5)

    known = post_json(api_client, TOKEN, {"username": buyer.username, "password": "x"})
    unknown = post_json(api_client, TOKEN, {"username": "nobody_here", "password": "x"})

    assert_error(known, 429, "throttled")
    assert known.json() == unknown.json()
    assert known["Retry-After"] == unknown["Retry-After"]


def test_token_throttle_of_one_account_leaves_other_accounts_alone(db, api_client, buyer, seller):
    fail_api_login(api_client, buyer.username, 5)

    obtain_tokens(api_client, seller.username)


def test_token_failures_from_one_address_across_usernames_get_throttled(db, api_client, buyer):
    assert django_settings.LOGIN_FAILURES_PER_IP == 20
    for number in range(20):
        fail_api_login(api_client, f"guess{number}", 1)

    response = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    assert_error(response, 429, "throttled")
    assert "Retry-After" in response


def test_token_address_throttle_leaves_other_addresses_alone(db, api_client, buyer, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    for number in range(3):
        fail_api_login(api_client, f"guess{number}", 1, REMOTE_ADDR="203.0.113.7")

    refused = api_client.post(
        TOKEN,
        data=json.dumps({"username": buyer.username, "password": PASSWORD}),
        content_type="application/json",
        REMOTE_ADDR="203.0.113.7",
    )
    allowed = api_client.post(
        TOKEN,
        data=json.dumps({"username": buyer.username, "password": PASSWORD}),
        content_type="application/json",
        REMOTE_ADDR="198.51.100.9",
    )

    assert_error(refused, 429, "throttled")
    assert allowed.status_code == 200


def test_site_login_failures_throttle_the_api(db, client, api_client, buyer):
    for _ in range(5):
        client.post(SITE_LOGIN, {"username": buyer.username, "password": "wrong-password-1"})

    response = post_json(api_client, TOKEN, {"username": buyer.username, "password": PASSWORD})

    assert_error(response, 429, "throttled")


def test_api_login_failures_throttle_the_site_login(db, client, api_client, buyer):
    fail_api_login(api_client, buyer.username, 5)

    response = client.post(SITE_LOGIN, {"username": buyer.username, "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


# --- refresh and verify ----------------------------------------------------------------


def test_refresh_rotates_the_tokens(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)

    response = post_json(api_client, REFRESH, {"refresh": tokens["refresh"]})

    assert response.status_code == 200
    rotated = response.json()
    assert rotated["access"] and rotated["refresh"]
    assert rotated["refresh"] != tokens["refresh"]
    assert bearer(api_client, rotated["access"]).get(ME).json()["username"] == buyer.username


def test_refresh_token_used_again_after_rotation_is_refused(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)
    post_json(api_client, REFRESH, {"refresh": tokens["refresh"]})

    response = post_json(api_client, REFRESH, {"refresh": tokens["refresh"]})

    assert_error(response, 401, "token_not_valid")


def test_rotated_refresh_token_can_be_rotated_again(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)
    rotated = post_json(api_client, REFRESH, {"refresh": tokens["refresh"]}).json()

    response = post_json(api_client, REFRESH, {"refresh": rotated["refresh"]})

    assert response.status_code == 200


def test_refresh_refuses_an_access_token(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)

    assert_error(post_json(api_client, REFRESH, {"refresh": tokens["access"]}), 401)


def test_refresh_refuses_garbage(db, api_client):
    assert_error(post_json(api_client, REFRESH, {"refresh": "not.a.token"}), 401)


def test_refresh_without_a_token_is_a_400(db, api_client):
    error = assert_error(post_json(api_client, REFRESH, {}), 400)

    assert "refresh" in error["fields"]


def test_refresh_for_an_inactive_user_is_refused(db, api_client, buyer):
    refresh = str(RevocableRefreshToken.for_user(buyer))
    User.objects.filter(pk=buyer.pk).update(is_active=False)

    assert_error(post_json(api_client, REFRESH, {"refresh": refresh}), 401)


def test_refresh_for_a_deleted_user_is_refused_not_a_server_error(db, api_client, buyer):
    refresh = str(RevocableRefreshToken.for_user(buyer))
    buyer.delete()

    assert_error(post_json(api_client, REFRESH, {"refresh": refresh}), 401)


def test_verify_accepts_a_valid_access_token(db, api_client, buyer):
    tokens = obtain_tokens(api_client, buyer.username)

    response = post_json(api_client, VERIFY, {"token": tokens["access"]})

    assert response.status_code == 200


def test_verify_refuses_a_tampered_token(db, api_client, buyer, make_user):
    access = obtain_tokens(api_client, buyer.username)["access"]
    header, payload, signature = access.split(".")
    # Same header and signature, the payload of someone else's token: the signature no
    # longer matches.
    other = str(AccessToken.for_user(make_user("mallory")))
    tampered = ".".join([header, other.split(".")[1], signature])

    assert_error(post_json(api_client, VERIFY, {"token": tampered}), 401, "token_not_valid")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_error(post_json(api_client, VERIFY, {"token": f"{header}.{payload}.{flipped}"}), 401)


def test_verify_refuses_a_revoked_refresh_token(db, api_client, buyer):
    refresh = obtain_tokens(api_client, buyer.username)["refresh"]
    assert post_json(api_client, VERIFY, {"token": refresh}).status_code == 200
    post_json(api_client, LOGOUT, {"refresh": refresh})

    assert_error(post_json(api_client, VERIFY, {"token": refresh}), 401, "token_not_valid")


def test_verify_refuses_an_expired_access_token(db, api_client, buyer):
    token = AccessToken.for_user(buyer)
    token.set_exp(lifetime=-timedelta(minutes=1))

    assert_error(post_json(api_client, VERIFY, {"token": str(token)}), 401)


# --- logout ----------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(db, api_client, buyer):
    refresh = obtain_tokens(api_client, buyer.username)["refresh"]

    response = post_json(api_client, LOGOUT, {"refresh": refresh})

    assert response.status_code == 204
    assert response.content == b""
    assert_error(post_json(api_client, REFRESH, {"refresh": refresh}), 401, "token_not_valid")


def test_logout_of_one_device_leaves_the_other_device_signed_in(db, api_client, buyer):
    phone = obtain_tokens(api_client, buyer.username)["refresh"]
    tablet = obtain_tokens(api_client, buyer.username)["refresh"]

    post_json(api_client, LOGOUT, {"refresh": phone})

    assert post_json(api_client, REFRESH, {"refresh": tablet}).status_code == 200


def test_logout_twice_with_the_same_token_is_refused_the_second_time(db, api_client, buyer):
    refresh = obtain_tokens(api_client, buyer.username)["refresh"]
    post_json(api_client, LOGOUT, {"refresh": refresh})

    assert_error(post_json(api_client, LOGOUT, {"refresh": refresh}), 401, "token_not_valid")


def test_logout_with_a_garbage_token_is_a_401(db, api_client):
    assert_error(post_json(api_client, LOGOUT, {"refresh": "garbage"}), 401, "token_not_valid")


def test_logout_refuses_an_access_token(db, api_client, buyer):
    access = obtain_tokens(api_client, buyer.username)["access"]

    assert_error(post_json(api_client, LOGOUT, {"refresh": access}), 401, "token_not_valid")


def test_logout_without_a_token_is_a_400(db, api_client):
    error = assert_error(post_json(api_client, LOGOUT, {}), 400, "invalid")

    assert "refresh" in error["fields"]


# --- the signed-in user ----------------------------------------------------------------


def test_me_anonymous_is_a_401(db, api_client):
    response = api_client.get(ME)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_with_a_bearer_access_token_shows_the_user(db, api_client, buyer):
    access = obtain_tokens(api_client, buyer.username)["access"]

    response = bearer(api_client, access).get(ME)

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == buyer.username
    assert body["email"] == buyer.email
    assert body["role"] == "buyer"
    assert body["avatar_url"] is None
    assert "password" not in body


def test_me_is_read_with_two_queries(db, auth_api, buyer, django_assert_num_queries):
    client = auth_api(buyer)

    # The user, and whether the token's sign-in was logged out (accounts.tokens).
    with django_assert_num_queries(2):
        response = client.get(ME)

    assert response.status_code == 200


def test_me_refuses_a_refresh_token_as_bearer(db, api_client, buyer):
    refresh = obtain_tokens(api_client, buyer.username)["refresh"]

    assert_error(bearer(api_client, refresh).get(ME), 401)


def test_me_refuses_an_expired_access_token(db, api_client, buyer):
    token = RevocableRefreshToken.for_user(buyer).access_token
    token.set_exp(lifetime=-timedelta(seconds=30))

    assert_error(bearer(api_client, str(token)).get(ME), 401, "token_not_valid")


def test_me_refuses_the_token_of_a_deleted_user(db, auth_api, buyer):
    client = auth_api(buyer)
    buyer.delete()

    assert_error(client.get(ME), 401)


def test_me_refuses_the_token_of_a_deactivated_user(db, auth_api, buyer):
    client = auth_api(buyer)
    User.objects.filter(pk=buyer.pk).update(is_active=False)

    assert_error(client.get(ME), 401)


def test_me_with_a_site_session_needs_a_csrf_token_to_change_anything(db, buyer):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(buyer)
    assert client.get(ME).status_code == 200

    response = client.patch(ME, {"display_name": "Hijacked"}, format="json")

    assert_error(response, 403)
    buyer.refresh_from_db()
    assert buyer.display_name == ""


def test_me_with_a_bearer_token_needs_no_csrf_token(db, buyer):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    access = str(RevocableRefreshToken.for_user(buyer).access_token)

    response = bearer(client, access).patch(ME, {"display_name": "Bella"}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize("body", [["display_name", "x"], 42, None])
def test_me_patch_refuses_json_that_is_not_an_object(db, auth_api, buyer, body):
    response = auth_api(buyer).patch(ME, data=json.dumps(body), content_type="application/json")

    assert_error(response, 400)


def test_me_patch_changes_display_name_and_email(db, auth_api, buyer):
    response = auth_api(buyer).patch(
        ME, {"display_name": "  Bella B.  ", "email": "bella.new@example.test"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["display_name"] == "Bella B."
    assert response.json()["email"] == "bella.new@example.test"
    buyer.refresh_from_db()
    assert buyer.display_name == "Bella B."
    assert buyer.email == "bella.new@example.test"


def test_me_patch_with_only_one_field_leaves_the_others(db, auth_api, buyer):
    auth_api(buyer).patch(ME, {"display_name": "Bella"}, format="json")

    buyer.refresh_from_db()
    assert buyer.display_name == "Bella"
    assert buyer.email == "bella_buyer@example.test"


def test_me_patch_to_another_users_email_is_refused(db, auth_api, buyer, seller):
    response = auth_api(buyer).patch(ME, {"email": seller.email.upper()}, format="json")

    error = assert_error(response, 400, "invalid")
    assert "email" in error["fields"]
    buyer.refresh_from_db()
    assert buyer.email == "bella_buyer@example.test"


def test_me_patch_to_an_invalid_email_is_refused(db, auth_api, buyer):
    error = assert_error(auth_api(buyer).patch(ME, {"email": "nope"}, format="json"), 400)

    assert "email" in error["fields"]


def test_me_patch_ignores_role_and_staff_flags(db, auth_api, buyer):
    response = auth_api(buyer).patch(
        ME,
        {"display_name": "Bella", "role": "seller", "is_staff": True, "is_superuser": True},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["role"] == "buyer"
    assert response.json()["is_staff"] is False
    buyer.refresh_from_db()
    assert buyer.role == User.Role.BUYER
    assert not buyer.is_staff and not buyer.is_superuser


def test_me_patch_shop_name_as_a_buyer_is_refused(db, auth_api, buyer):
    response = auth_api(buyer).patch(ME, {"shop_name": "Bella's"}, format="json")

    assert_error(response, 400, "not_a_seller")
    buyer.refresh_from_db()
    assert buyer.shop_name == ""


def test_me_patch_shop_name_as_a_seller_works(db, auth_api, seller):
    response = auth_api(seller).patch(
        ME, {"shop_name": "Sam's vintage", "bio": "Old denim, new life."}, format="json"
    )

    assert response.status_code == 200
    seller.refresh_from_db()
    assert seller.shop_name == "Sam's vintage"
    assert seller.bio == "Old denim, new life."


def test_me_patch_refuses_a_blank_shop_name_for_a_seller(db, auth_api, seller):
    error = assert_error(auth_api(seller).patch(ME, {"shop_name": "   "}, format="json"), 400)

    assert "shop_name" in error["fields"]
    seller.refresh_from_db()
    assert seller.shop_name == "sam_seller's shop"


def test_me_patch_anonymous_is_a_401(db, api_client):
    assert_error(api_client.patch(ME, {"display_name": "x"}, format="json"), 401)


def test_me_avatar_upload_stores_a_reencoded_image_under_a_server_name(db, auth_api, buyer):
    # A PNG with HTML appended (a "polyglot"): re-encoding must drop the extra bytes.
    upload = SimpleUploadedFile(
        "My Holiday Photo.png",
        image_bytes("PNG", size=(120, 80)) + b"<script>alert(1)</script>",
        content_type="image/png",
    )

    response = auth_api(buyer).patch(ME, {"avatar": upload}, format="multipart")

    assert response.status_code == 200, response.content
    buyer.refresh_from_db()
    name = buyer.avatar.name
    assert re.fullmatch(r"avatars/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png)", name), name
    assert "holiday" not in name.lower()
    assert response.json()["avatar_url"].endswith(name)
    stored = Path(buyer.avatar.path).read_bytes()
    assert b"<script>" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (120, 80)
        assert image.format in {"JPEG", "PNG"}
    assert stored_files() == [Path(buyer.avatar.path)]


def test_me_avatar_that_is_a_pdf_renamed_png_is_refused_and_nothing_stored(db, auth_api, buyer):
    upload = SimpleUploadedFile("avatar.png", PDF_BYTES, content_type="image/png")

    response = auth_api(buyer).patch(
        ME, {"avatar": upload, "display_name": "Changed"}, format="multipart"
    )

    error = assert_error(response, 400, "invalid")
    assert "avatar" in error["fields"]
    buyer.refresh_from_db()
    assert not buyer.avatar
    assert buyer.display_name == ""
    assert stored_files() == []


def test_me_avatar_in_a_format_pages_cannot_show_is_a_field_error(db, auth_api, buyer):
    # Pillow reads BMP, so the serializer's image check lets it through; the service
    # refuses it and the refusal must still land on the avatar field.
    upload = SimpleUploadedFile("avatar.bmp", image_bytes("BMP"), content_type="image/bmp")

    response = auth_api(buyer).patch(ME, {"avatar": upload}, format="multipart")

    error = assert_error(response, 400, "invalid")
    assert "avatar" in error["fields"]
    buyer.refresh_from_db()
    assert not buyer.avatar
    assert stored_files() == []


def test_me_avatar_with_too_many_pixels_is_a_field_error(db, auth_api, buyer, settings):
    settings.MAX_IMAGE_PIXELS = 1_000

    response = auth_api(buyer).patch(
        ME, {"avatar": image_upload(size=(64, 48))}, format="multipart"
    )

    error = assert_error(response, 400, "invalid")
    assert "avatar" in error["fields"]
    assert stored_files() == []


def test_me_avatar_upload_accepts_a_jpeg_too(db, auth_api, buyer):
    response = auth_api(buyer).patch(
        ME, {"avatar": image_upload("face.jpeg", "JPEG")}, format="multipart"
    )

    assert response.status_code == 200
    buyer.refresh_from_db()
    assert buyer.avatar.name.endswith(".jpg")


# --- becoming a seller -----------------------------------------------------------------


def test_become_seller_turns_a_buyer_into_a_seller(db, auth_api, buyer):
    response = auth_api(buyer).post(
        BECOME_SELLER, {"shop_name": "  Bella's boutique ", "bio": "Hand-made hats."}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["role"] == "seller"
    assert response.json()["shop_name"] == "Bella's boutique"
    buyer.refresh_from_db()
    assert buyer.is_seller
    assert buyer.shop_name == "Bella's boutique"
    assert buyer.bio == "Hand-made hats."
    assert not buyer.is_staff


def test_become_seller_works_without_a_bio(db, auth_api, buyer):
    response = auth_api(buyer).post(BECOME_SELLER, {"shop_name": "Bella's"}, format="json")

    assert response.status_code == 200
    buyer.refresh_from_db()
    assert buyer.is_seller and buyer.bio == ""


def test_become_seller_again_is_a_409_already_seller(db, auth_api, seller):
    response = auth_api(seller).post(BECOME_SELLER, {"shop_name": "Second shop"}, format="json")

    assert_error(response, 409, "already_seller")
    seller.refresh_from_db()
    assert seller.shop_name == "sam_seller's shop"


@pytest.mark.parametrize("shop_name", ["", "   "], ids=["empty", "blank"])
def test_become_seller_with_an_empty_shop_name_is_refused(db, auth_api, buyer, shop_name):
    response = auth_api(buyer).post(BECOME_SELLER, {"shop_name": shop_name}, format="json")

    error = assert_error(response, 400, "invalid")
    assert "shop_name" in error["fields"]
    buyer.refresh_from_db()
    assert not buyer.is_seller


def test_become_seller_without_a_shop_name_is_refused(db, auth_api, buyer):
    error = assert_error(auth_api(buyer).post(BECOME_SELLER, {}, format="json"), 400)

    assert "shop_name" in error["fields"]


def test_become_seller_refuses_json_that_is_not_an_object(db, auth_api, buyer):
    response = auth_api(buyer).post(
        BECOME_SELLER, data=json.dumps(["Shop"]), content_type="application/json"
    )

    assert_error(response, 400)
    buyer.refresh_from_db()
    assert not buyer.is_seller


def test_become_seller_anonymous_is_a_401(db, api_client):
    response = api_client.post(BECOME_SELLER, {"shop_name": "Nope"}, format="json")

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("field", ["shop_name", "email"])
@pytest.mark.parametrize("content_format", ["multipart", "form"])
def test_me_refuses_an_empty_shop_name_or_email_in_a_form_as_in_json(
    db, auth_api, seller, field, content_format
):
    before = (seller.shop_name, seller.email)
    api = auth_api(seller)
    if content_format == "form":
        response = api.patch(ME, f"{field}=&bio=", content_type="application/x-www-form-urlencoded")
    else:
        response = api.patch(ME, {field: "", "bio": ""}, format="multipart")

    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [field]
    seller.refresh_from_db()
    assert (seller.shop_name, seller.email) == before
