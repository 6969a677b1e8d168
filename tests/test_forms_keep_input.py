"""A form with an error comes back with what the user typed (text, selects, checkboxes), says
what is wrong, and changes nothing; a chosen file cannot be refilled, so the page says to
choose it again."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from conftest import PASSWORD, image_upload
from orders import services as order_services

REFILL_NOTE = "choose it again"


def option_selected(html: str, value: str) -> bool:
    return f'value="{value}" selected' in html


def test_registering_with_different_passwords_keeps_the_name_and_email(client, db):
    response = client.post(
        "/accounts/register/",
        {
            "username": "newbie_42",
            "email": "newbie@example.test",
            "password1": "correct-horse-42",
            "password2": "correct-horse-43",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The two passwords differ." in html
    assert 'value="newbie_42"' in html and 'value="newbie@example.test"' in html
    assert "correct-horse-4" not in html  # passwords are never echoed back
    assert not get_user_model().objects.filter(username="newbie_42").exists()


def test_a_failed_login_keeps_the_username(client, buyer):
    response = client.post(
        "/accounts/login/", {"username": buyer.username, "password": "wrong-password"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{buyer.username}"' in html
    assert "wrong-password" not in html
    assert "_auth_user_id" not in client.session


def test_a_product_with_a_bad_price_keeps_every_other_field(client, seller, category):
    client.force_login(seller)
    response = client.post(
        "/seller/products/new/",
        {
            "name": "Velvet beret",
            "description": "Soft, warm, deep red.",
            "category": str(category.pk),
            "price": "-3",
            "currency": "EUR",
            "stock": "7",
            "image": image_upload(),
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-invalid="true"' in html or "field--invalid" in html
    assert 'value="Velvet beret"' in html
    assert "Soft, warm, deep red." in html
    assert option_selected(html, str(category.pk))
    assert option_selected(html, "EUR")
    assert 'value="7"' in html
    assert REFILL_NOTE in html
    assert not seller.products.exists()


def test_a_room_with_a_bad_start_keeps_title_description_and_chosen_products(
    client, seller, make_product
):
    hat = make_product(name="Straw hat")
    make_product(name="Sun cap")
    client.force_login(seller)
    response = client.post(
        "/seller/rooms/new/",
        {
            "title": "Summer hats live",
            "description": "Straw, linen and caps.",
            "scheduled_start": "not a date",
            "products": [str(hat.pk)],
            "moderators": "",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "field--invalid" in html
    assert 'value="Summer hats live"' in html
    assert "Straw, linen and caps." in html
    # The chosen product is still ticked, the other one is not.
    assert html.count("checked") >= 1
    assert f'value="{hat.pk}"' in html
    checked = [line for line in html.splitlines() if "checked" in line and "products" in line]
    assert len(checked) == 1 and f'value="{hat.pk}"' in checked[0]
    assert not seller.rooms.exists()


def test_a_profile_with_a_bad_email_keeps_the_display_name(client, buyer):
    client.force_login(buyer)
    response = client.post(
        "/accounts/profile/", {"display_name": "Bella B.", "email": "not-an-email"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="Bella B."' in html and 'value="not-an-email"' in html
    buyer.refresh_from_db()
    assert buyer.display_name != "Bella B." and buyer.email == "bella_buyer@example.test"


def test_a_shop_with_no_name_keeps_the_bio(client, seller):
    client.force_login(seller)
    response = client.post("/accounts/profile/", {"shop-shop_name": "", "shop-bio": "Hats."})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hats." in html
    seller.refresh_from_db()
    assert seller.shop_name == "sam_seller's shop"


@pytest.mark.parametrize("quantity", ["0.5", "lots", "-2", "100000"])
def test_a_bad_cart_quantity_is_refused_clearly_and_the_cart_is_unchanged(
    client, buyer, make_product, quantity
):
    product = make_product(price=Decimal("10.00"), stock=5)
    cart = order_services.cart_for_user(user=buyer)
    item = order_services.cart_add(cart=cart, product=product, quantity=2)
    client.force_login(buyer)
    response = client.post(f"/cart/items/{item.pk}/", {"quantity": quantity}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "message--error" in html
    item.refresh_from_db()
    assert item.quantity == 2


def test_checkout_with_too_many_keeps_the_cart_and_says_why(client, buyer, make_product):
    product = make_product(stock=3)
    cart = order_services.cart_for_user(user=buyer)
    item = order_services.cart_add(cart=cart, product=product, quantity=3)
    product.stock = 1  # others bought meanwhile
    product.save(update_fields=["stock"])
    client.force_login(buyer)
    response = client.post("/checkout/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].endswith("/cart/")
    assert "Nothing was reserved" in html
    item.refresh_from_db()
    assert item.quantity == 3
    assert PASSWORD not in html
