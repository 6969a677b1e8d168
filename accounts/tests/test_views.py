"""The accounts pages as a shopper uses them in the browser (Django test client)."""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape

from accounts import services
from accounts.models import User
from conftest import PASSWORD, image_bytes, image_upload

REGISTER = "/accounts/register/"
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
PROFILE = "/accounts/profile/"
BECOME_SELLER = "/accounts/become-seller/"

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def signed_in_user_id(client) -> int | None:
    user_id = client.session.get("_auth_user_id")
    return int(user_id) if user_id is not None else None


def stored_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def registration(**overrides) -> dict[str, str]:
    data = {
        "username": "newbie",
        "email": "newbie@example.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(overrides)
    return data


# --- register --------------------------------------------------------------------------


def test_register_page_shows_the_form(db, client):
    response = client.get(REGISTER)

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password2"' in response.content


def test_register_creates_a_buyer_logs_them_in_and_goes_home(db, client):
    response = client.post(REGISTER, registration())

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(username="newbie")
    assert user.role == User.Role.BUYER
    assert not user.is_staff
    assert user.check_password(PASSWORD)
    assert signed_in_user_id(client) == user.pk


def test_register_ignores_role_and_staff_fields_posted_with_the_form(db, client):
    client.post(REGISTER, registration(role="seller", is_staff="on", is_superuser="on"))

    user = User.objects.get(username="newbie")
    assert user.role == User.Role.BUYER
    assert not user.is_staff and not user.is_superuser


def test_register_with_a_10_mb_username_is_refused_without_creating_anyone(db, client):
    response = client.post(REGISTER, registration(username="a" * 10_000_000))

    assert response.status_code == 400
    assert not User.objects.exists()


def test_register_when_already_signed_in_goes_home(db, client, buyer):
    client.force_login(buyer)

    response = client.post(REGISTER, registration())

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert not User.objects.filter(username="newbie").exists()


def assert_form_reshown_with_typed_values(response, field: str) -> None:
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors.get(field), form.errors
    content = response.content.decode()
    assert 'value="newbie"' in content
    assert 'value="newbie@example.test"' in content
    assert PASSWORD not in content  # passwords are never sent back


def test_register_with_mismatched_passwords_reshows_the_form(db, client):
    response = client.post(REGISTER, registration(password2="correct-horse-43"))

    assert_form_reshown_with_typed_values(response, "password2")
    assert not User.objects.exists()
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize("weak", ["password", "12345678", "newbie12"])
def test_register_with_a_weak_password_reshows_the_form(db, client, weak):
    response = client.post(REGISTER, registration(password1=weak, password2=weak))

    assert response.status_code == 200
    assert response.context["form"].errors.get("password1")
    content = response.content.decode()
    assert 'value="newbie"' in content and 'value="newbie@example.test"' in content
    assert not User.objects.exists()


def test_register_with_a_taken_username_in_another_case_reshows_the_form(db, client, buyer):
    response = client.post(REGISTER, registration(username="Bella_Buyer"))

    assert response.status_code == 200
    assert response.context["form"].errors.get("username")
    assert 'value="Bella_Buyer"' in response.content.decode()
    assert User.objects.count() == 1
    assert signed_in_user_id(client) is None


def test_register_with_a_taken_email_reshows_the_form(db, client, buyer):
    response = client.post(REGISTER, registration(email=buyer.email))

    assert response.status_code == 200
    assert response.context["form"].errors.get("email")
    content = response.content.decode()
    assert 'value="newbie"' in content and f'value="{buyer.email}"' in content
    assert User.objects.count() == 1


# --- login and logout ------------------------------------------------------------------


def test_login_signs_in_and_goes_home(db, client, make_user):
    user = make_user("demo_buyer")

    response = client.post(LOGIN, {"username": "demo_buyer", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert signed_in_user_id(client) == user.pk


def test_login_follows_a_safe_next_url(db, client, buyer):
    response = client.post(
        f"{LOGIN}?next={PROFILE}", {"username": buyer.username, "password": PASSWORD}
    )

    assert response["Location"] == PROFILE


def test_login_ignores_a_next_url_on_another_site(db, client, buyer):
    response = client.post(
        f"{LOGIN}?next=https://evil.example/steal",
        {"username": buyer.username, "password": PASSWORD},
    )

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_login_with_a_wrong_password_shows_an_error(db, client, buyer):
    response = client.post(LOGIN, {"username": buyer.username, "password": "wrong-password-1"})

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert signed_in_user_id(client) is None


def test_login_after_five_failures_is_refused_even_with_the_right_password(db, client, buyer):
    for _ in range(5):
        client.post(LOGIN, {"username": buyer.username, "password": "wrong-password-1"})

    response = client.post(LOGIN, {"username": buyer.username, "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert signed_in_user_id(client) is None


def test_login_when_throttled_does_not_check_the_password_at_all(db, client, buyer):
    # Throttling exists to stop password guessing: a refused try must not cost a password
    # hash or count as a guess (audit hooks listen to user_login_failed).
    from django.contrib.auth.signals import user_login_failed

    for _ in range(5):
        client.post(LOGIN, {"username": buyer.username, "password": "wrong-password-1"})
    checked = []

    def record(**kwargs):
        checked.append(kwargs)

    user_login_failed.connect(record)
    try:
        response = client.post(LOGIN, {"username": buyer.username, "password": "wrong-again-2"})
    finally:
        user_login_failed.disconnect(record)

    assert response.status_code == 429
    assert checked == []
    assert f'value="{buyer.username}"' in response.content.decode()


def test_logout_by_post_signs_out(db, client, buyer):
    client.force_login(buyer)

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert signed_in_user_id(client) is None


def test_logout_by_get_does_not_sign_out(db, client, buyer):
    # A link or an <img src> on another site must not be able to sign a shopper out.
    client.force_login(buyer)

    response = client.get(LOGOUT)

    assert response.status_code == 405
    assert signed_in_user_id(client) == buyer.pk


# --- profile ---------------------------------------------------------------------------


def test_profile_requires_login(db, client):
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={PROFILE}"


def test_profile_page_shows_the_users_details(db, client, buyer):
    client.force_login(buyer)

    response = client.get(PROFILE)

    assert response.status_code == 200
    assert buyer.email in response.content.decode()


def test_profile_updates_the_display_name(db, client, buyer):
    client.force_login(buyer)

    response = client.post(PROFILE, {"display_name": "Bella B.", "email": buyer.email})

    assert response.status_code == 302
    assert response["Location"] == PROFILE
    buyer.refresh_from_db()
    assert buyer.display_name == "Bella B."


def test_profile_refuses_another_users_email(db, client, buyer, seller):
    client.force_login(buyer)

    response = client.post(PROFILE, {"display_name": "Bella", "email": seller.email})

    assert response.status_code == 200
    assert response.context["form"].errors.get("email")
    buyer.refresh_from_db()
    assert buyer.email == "bella_buyer@example.test"
    assert buyer.display_name == ""


def test_profile_avatar_upload_is_stored_under_a_server_name(db, client, buyer):
    client.force_login(buyer)

    response = client.post(
        PROFILE,
        {"display_name": "", "email": buyer.email, "avatar": image_upload("Me at the beach.png")},
    )

    assert response.status_code == 302
    buyer.refresh_from_db()
    assert re.fullmatch(r"avatars/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png)", buyer.avatar.name)


def test_profile_avatar_that_is_a_pdf_renamed_png_shows_an_error_and_changes_nothing(
    db, client, buyer
):
    client.force_login(buyer)
    upload = SimpleUploadedFile("avatar.png", PDF_BYTES, content_type="image/png")

    response = client.post(
        PROFILE, {"display_name": "Changed", "email": buyer.email, "avatar": upload}
    )

    assert response.status_code == 200
    assert response.context["form"].errors.get("avatar")
    buyer.refresh_from_db()
    assert buyer.display_name == ""
    assert not buyer.avatar
    assert stored_files() == []


def test_profile_avatar_in_an_unsupported_format_shows_the_error_on_the_avatar(db, client, buyer):
    client.force_login(buyer)
    upload = SimpleUploadedFile("avatar.bmp", image_bytes("BMP"), content_type="image/bmp")

    response = client.post(
        PROFILE, {"display_name": "Changed", "email": buyer.email, "avatar": upload}
    )

    assert response.status_code == 200
    assert response.context["form"].errors.get("avatar")
    buyer.refresh_from_db()
    assert buyer.display_name == ""
    assert not buyer.avatar


def test_profile_seller_updates_shop_name_and_bio(db, client, seller):
    client.force_login(seller)

    response = client.post(
        PROFILE, {"shop-shop_name": "Sam's vintage", "shop-bio": "Old denim, new life."}
    )

    assert response.status_code == 302
    assert response["Location"] == PROFILE
    seller.refresh_from_db()
    assert seller.shop_name == "Sam's vintage"
    assert seller.bio == "Old denim, new life."


def test_profile_seller_cannot_blank_the_shop_name(db, client, seller):
    client.force_login(seller)

    response = client.post(PROFILE, {"shop-shop_name": "   ", "shop-bio": ""})

    assert response.status_code == 200
    assert response.context["shop_form"].errors.get("shop_name")
    seller.refresh_from_db()
    assert seller.shop_name == "sam_seller's shop"


def test_profile_buyer_cannot_set_a_shop_name(db, client, buyer):
    client.force_login(buyer)

    client.post(PROFILE, {"shop-shop_name": "Sneaky shop", "shop-bio": ""})

    buyer.refresh_from_db()
    assert buyer.shop_name == ""
    assert not buyer.is_seller


# --- become a seller -------------------------------------------------------------------


def test_become_seller_requires_login(db, client):
    response = client.get(BECOME_SELLER)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_become_seller_page_shows_the_form_to_a_buyer(db, client, buyer):
    client.force_login(buyer)

    response = client.get(BECOME_SELLER)

    assert response.status_code == 200
    assert b'name="shop_name"' in response.content


def test_become_seller_opens_the_shop_and_goes_to_adding_a_product(db, client, buyer):
    client.force_login(buyer)

    response = client.post(
        BECOME_SELLER, {"shop_name": "Bella's boutique", "bio": "Hand-made hats."}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("catalog:seller-product-create")
    buyer.refresh_from_db()
    assert buyer.is_seller
    assert buyer.shop_name == "Bella's boutique"
    assert buyer.bio == "Hand-made hats."


def test_become_seller_with_an_empty_shop_name_shows_an_error(db, client, buyer):
    client.force_login(buyer)

    response = client.post(BECOME_SELLER, {"shop_name": "  ", "bio": ""})

    assert response.status_code == 200
    assert response.context["form"].errors.get("shop_name")
    buyer.refresh_from_db()
    assert not buyer.is_seller


def test_become_seller_for_an_existing_seller_redirects_away(db, client, seller):
    client.force_login(seller)

    shown = client.get(BECOME_SELLER)
    posted = client.post(BECOME_SELLER, {"shop_name": "Second shop"})

    assert shown.status_code == 302
    assert shown["Location"] == reverse("catalog:seller-products")
    assert posted.status_code == 302
    seller.refresh_from_db()
    assert seller.shop_name == "sam_seller's shop"


# --- a seller's public page ------------------------------------------------------------


def test_seller_page_shows_the_shop_and_only_its_active_products(
    db, client, seller, other_seller, make_product, category
):
    from catalog.services import product_create

    on_sale = make_product(name="Denim jacket")
    make_product(name="Withdrawn wellies", is_active=False)
    product_create(
        seller=other_seller, name="Olga's scarf", price=Decimal("12.00"), category=category
    )

    response = client.get(f"/sellers/{seller.username}/")

    assert response.status_code == 200
    content = response.content.decode()
    assert escape(seller.shop_name) in content
    assert "Denim jacket" in content
    assert "Withdrawn wellies" not in content
    assert "Olga" not in content
    assert list(response.context["products"]) == [on_sale]


@pytest.mark.parametrize("username", ["bella_buyer", "nobody_at_all"])
def test_seller_page_of_a_buyer_or_unknown_user_is_not_found(db, client, buyer, username):
    response = client.get(f"/sellers/{username}/")

    assert response.status_code == 404


def test_seller_page_of_a_deactivated_seller_is_not_found(db, client, seller):
    User.objects.filter(pk=seller.pk).update(is_active=False)

    assert client.get(f"/sellers/{seller.username}/").status_code == 404


def test_seller_page_is_public(db, client, seller):
    services.user_update_profile(user=seller, bio="Vintage denim since 2009.")

    response = client.get(f"/sellers/{seller.username}/")

    assert response.status_code == 200
    assert "Vintage denim since 2009." in response.content.decode()
