"""Accounts services: the one write path shared by pages, API and commands."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError

from accounts import services
from accounts.models import RevokedToken, User
from accounts.tokens import RevocableRefreshToken
from conftest import PASSWORD
from liveshop.errors import ApplicationError


def test_user_register_creates_a_buyer_who_is_not_staff(db):
    user = services.user_register(
        username="  fresh_face ", email="Fresh@EXAMPLE.test", password=PASSWORD
    )

    user.refresh_from_db()
    assert user.username == "fresh_face"
    assert user.email == "Fresh@example.test"  # the domain part is case-insensitive
    assert user.role == User.Role.BUYER
    assert not user.is_seller
    assert not user.is_staff and not user.is_superuser
    assert user.is_active
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD


def test_user_register_reports_every_problem_at_once_and_creates_nobody(db, buyer):
    with pytest.raises(ValidationError) as caught:
        services.user_register(username="BELLA_BUYER", email="not-an-email", password="123")

    assert set(caught.value.message_dict) == {"username", "email", "password"}
    assert User.objects.count() == 1


def test_user_register_refuses_an_email_in_use_in_another_case(db, buyer):
    with pytest.raises(ValidationError) as caught:
        services.user_register(
            username="someone_else", email="BELLA_BUYER@example.test", password=PASSWORD
        )

    assert "email" in caught.value.message_dict


def test_user_register_refuses_a_blank_email(db):
    with pytest.raises(ValidationError) as caught:
        services.user_register(username="no_mail", email="   ", password=PASSWORD)

    assert "email" in caught.value.message_dict
    assert not User.objects.exists()


def test_user_register_can_skip_password_rules_only_when_told(db):
    with pytest.raises(ValidationError):
        services.user_register(username="demo", email="demo@example.test", password="demo")

    user = services.user_register(
        username="demo", email="demo@example.test", password="demo", enforce_password_rules=False
    )

    assert user.check_password("demo")


def test_user_update_profile_refuses_shop_fields_for_a_buyer(db, buyer):
    with pytest.raises(ApplicationError) as caught:
        services.user_update_profile(user=buyer, bio="I sell things")

    assert caught.value.code == "not_a_seller"
    buyer.refresh_from_db()
    assert buyer.bio == ""


def test_user_become_seller_opens_a_shop_once(db, buyer):
    services.user_become_seller(user=buyer, shop_name=" Bella's ", bio=" Hats ")

    buyer.refresh_from_db()
    assert buyer.is_seller
    assert (buyer.shop_name, buyer.bio) == ("Bella's", "Hats")
    with pytest.raises(ApplicationError) as caught:
        services.user_become_seller(user=buyer, shop_name="Again")
    assert caught.value.code == "already_seller"
    assert caught.value.status == 409


def test_refresh_token_rotate_gives_a_new_pair_and_revokes_the_old_token(db, buyer):
    old = str(RevocableRefreshToken.for_user(buyer))

    new = services.refresh_token_rotate(refresh=old)

    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != old
    RevocableRefreshToken(new["refresh"])  # valid
    with pytest.raises(TokenError):
        RevocableRefreshToken(old)


def test_refresh_token_rotate_twice_with_the_same_token_succeeds_only_once(db, buyer):
    refresh = str(RevocableRefreshToken.for_user(buyer))

    services.refresh_token_rotate(refresh=refresh)
    with pytest.raises(TokenError):
        services.refresh_token_rotate(refresh=refresh)

    assert RevokedToken.objects.count() == 1


def test_refresh_token_revoke_lets_only_one_of_two_racing_requests_win(db, buyer):
    # Both requests have verified the token before either revokes it: the unique jti
    # must still let exactly one of them through.
    refresh = str(RevocableRefreshToken.for_user(buyer))
    first, second = RevocableRefreshToken(refresh), RevocableRefreshToken(refresh)

    services.refresh_token_revoke(token=first)
    with pytest.raises(TokenError):
        services.refresh_token_revoke(token=second)

    assert RevokedToken.objects.get().user == buyer


def test_refresh_token_rotate_refuses_a_deleted_user(db, buyer):
    refresh = str(RevocableRefreshToken.for_user(buyer))
    buyer.delete()

    with pytest.raises(TokenError):
        services.refresh_token_rotate(refresh=refresh)


def test_user_logout_device_refuses_garbage_with_a_401_error(db):
    with pytest.raises(ApplicationError) as caught:
        services.user_logout_device(refresh="garbage")

    assert caught.value.code == "token_not_valid"
    assert caught.value.status == 401


def test_revoked_tokens_purge_forgets_only_expired_revocations(db, buyer):
    now = timezone.now()
    RevokedToken.objects.create(jti="old", user=buyer, expires_at=now - timedelta(days=1))
    RevokedToken.objects.create(jti="live", user=buyer, expires_at=now + timedelta(days=1))

    assert services.revoked_tokens_purge() == 1

    assert list(RevokedToken.objects.values_list("jti", flat=True)) == ["live"]


def test_a_burst_of_parallel_guesses_cannot_slip_under_the_limit(settings):
    """Attempts are counted when they begin, so 50 requests that all started before any
    password check finished get 5 tries between them, not 50."""
    from accounts import login_throttle

    started = 0
    for attempt in range(50):
        try:
            login_throttle.login_attempt_begin(username="victim", ip=f"client-{attempt}")
            started += 1
        except login_throttle.LoginThrottled:
            pass
    assert started == settings.LOGIN_FAILURES_PER_ACCOUNT


def test_right_passwords_and_unfinished_forms_do_not_use_up_an_address(settings):
    from accounts import login_throttle

    for _ in range(settings.LOGIN_FAILURES_PER_IP * 2):
        login_throttle.login_attempt_begin(username="someone", ip="shared-office")
        login_throttle.login_attempt_succeeded(username="someone", ip="shared-office")
    for _ in range(settings.LOGIN_FAILURES_PER_IP * 2):
        login_throttle.login_attempt_begin(username="", ip="shared-office")
        login_throttle.login_attempt_withdrawn(username="", ip="shared-office")
    login_throttle.login_attempt_begin(username="newcomer", ip="shared-office")  # not refused
