"""The cart, checkout and orders REST API as a mobile app (and the room page) sees it."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services as catalog_services
from catalog.models import Product
from catalog.tests.helpers import assert_error_shape
from orders import services
from orders.models import Cart, CartItem, Order, OrderEvent
from orders.tests.fake_stripe import checkout_session_object, event

CART = "/api/v1/cart/"
ITEMS = "/api/v1/cart/items/"
CHECKOUT = "/api/v1/checkout/"
ORDERS = "/api/v1/orders/"
SELLER_ORDERS = "/api/v1/seller/orders/"


def item_url(item_or_id) -> str:
    return f"{ITEMS}{getattr(item_or_id, 'pk', item_or_id)}/"


def order_url(order_or_id, action: str = "") -> str:
    return f"{ORDERS}{getattr(order_or_id, 'pk', order_or_id)}/{action}"


def seller_order_url(order_or_id, action: str = "") -> str:
    return f"{SELLER_ORDERS}{getattr(order_or_id, 'pk', order_or_id)}/{action}"


def stock_of(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


@pytest.fixture(autouse=True)
def _dummy_payments(settings):
    settings.PAYMENTS_BACKEND = "dummy"


@pytest.fixture
def jacket(make_product):
    return make_product(name="Denim jacket", price=Decimal("59.00"), stock=5)


@pytest.fixture
def scarf(make_product):
    return make_product(name="Silk scarf", price=Decimal("12.50"), stock=5)


@pytest.fixture
def mug(make_product, other_seller):
    return make_product(name="Clay mug", price=Decimal("8.00"), stock=50, seller=other_seller)


@pytest.fixture
def buyer_api(auth_api, buyer):
    return auth_api(buyer)


@pytest.fixture
def seller_api(auth_api, seller):
    return auth_api(seller)


UNSET = object()


def add(client, product, quantity=UNSET, **extra):
    body = {"product_id": product.pk, **extra}
    if quantity is not UNSET:
        body["quantity"] = quantity
    return client.post(ITEMS, body, format="json")


def checkout(client, **body):
    return client.post(CHECKOUT, body, format="json")


def paid(order: Order) -> Order:
    return services.dummy_payment_complete(order=order, buyer=order.buyer, pay=True)


# --- reading the cart ----------------------------------------------------------------------


def test_cart_of_a_new_visitor_is_empty_and_reading_it_creates_nothing(api_client, buyer_api):
    for client in (api_client, buyer_api):
        response = client.get(CART)

        assert response.status_code == 200
        assert response.json() == {"items": [], "count": 0, "total": "0.00", "currency": None}
    assert not Cart.objects.exists()


def test_signed_in_user_adds_a_product_and_sees_it_in_the_cart(buyer_api, jacket):
    response = add(buyer_api, jacket, 2)

    assert response.status_code == 201
    body = response.json()
    item = body["item"]
    assert item == {
        "id": item["id"],
        "product": {
            "id": jacket.pk,
            "name": "Denim jacket",
            "price": "59.00",
            "currency": "USD",
            "stock": 5,
            "image_url": None,
            "url": jacket.get_absolute_url(),
        },
        "quantity": 2,
        "line_total": "118.00",
    }
    assert body["cart"] == {"items": [item], "count": 2, "total": "118.00", "currency": "USD"}
    assert buyer_api.get(CART).json() == body["cart"]


def test_adding_a_product_already_in_the_cart_adds_to_its_line(buyer_api, jacket, scarf):
    add(buyer_api, jacket)
    add(buyer_api, scarf, 3)
    response = add(buyer_api, jacket, 2)

    assert response.status_code == 201
    assert response.json()["item"]["quantity"] == 3
    cart = response.json()["cart"]
    assert [(line["product"]["id"], line["quantity"]) for line in cart["items"]] == [
        (jacket.pk, 3),
        (scarf.pk, 3),
    ]
    assert cart["count"] == 6
    assert cart["total"] == "214.50"  # 3 x 59.00 + 3 x 12.50


def test_quantity_defaults_to_one(buyer_api, jacket):
    response = add(buyer_api, jacket)

    assert response.status_code == 201
    assert response.json()["item"]["quantity"] == 1


def test_anonymous_visitor_cart_lives_in_the_session(api_client, jacket, make_user):
    from rest_framework.test import APIClient

    response = add(api_client, jacket, 2)

    assert response.status_code == 201
    cart = api_client.get(CART).json()
    assert cart["count"] == 2
    assert cart["items"][0]["product"]["id"] == jacket.pk
    # Another visitor (another session) has a cart of their own.
    assert APIClient().get(CART).json()["count"] == 0
    assert Cart.objects.get().user is None


def test_anonymous_cart_changes_and_removal_work_in_the_session(api_client, jacket, scarf):
    add(api_client, jacket)
    line = add(api_client, scarf).json()["item"]

    changed = api_client.patch(item_url(line["id"]), {"quantity": 4}, format="json")
    removed = api_client.delete(item_url(changed.json()["item"]["id"]))

    assert changed.status_code == 200
    assert changed.json()["cart"]["count"] == 5
    assert removed.status_code == 200
    assert removed.json()["cart"]["count"] == 1


def test_anonymous_cart_joins_the_users_cart_when_they_sign_in(api_client, buyer, jacket):
    add(api_client, jacket, 2)

    api_client.force_login(buyer)  # a login in this session (fires user_logged_in)

    cart = api_client.get(CART).json()
    assert cart["count"] == 2
    assert Cart.objects.get(user=buyer).items.get().quantity == 2


def test_cart_mixing_currencies_has_no_currency(buyer_api, jacket, make_product):
    euro_bag = make_product(name="Bag", price=Decimal("20.00"), currency="EUR")
    add(buyer_api, jacket)
    response = add(buyer_api, euro_bag)

    assert response.json()["cart"]["currency"] is None


# --- refusals when adding --------------------------------------------------------------------


def test_adding_more_than_in_stock_is_refused_and_changes_nothing(buyer_api, jacket):
    add(buyer_api, jacket, 4)

    response = add(buyer_api, jacket, 2)  # 6 > 5 in stock

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="out_of_stock")
    assert "Denim jacket" in error["message"] and "only 5 left" in error["message"]
    assert buyer_api.get(CART).json()["count"] == 4


def test_adding_a_sold_out_product_says_it_is_sold_out(api_client, make_product):
    gone = make_product(name="Rare vinyl", stock=0)

    response = add(api_client, gone)

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="out_of_stock")
    assert "sold out" in error["message"]
    assert not CartItem.objects.exists()
    assert not Cart.objects.exists()  # a refused add leaves no empty cart behind


@pytest.mark.parametrize("product_id", [999_999, "abc", None, "", 10**30, True, [1], {"id": 1}])
def test_adding_an_unknown_product_is_a_field_error(buyer_api, jacket, product_id):
    response = buyer_api.post(ITEMS, {"product_id": product_id}, format="json")

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert "product_id" in error["fields"]
    assert not CartItem.objects.exists()


def test_adding_a_product_off_sale_is_refused_with_its_name(buyer_api, api_client, jacket, seller):
    catalog_services.product_deactivate(product=jacket, actor=seller)

    for client in (buyer_api, api_client):
        response = add(client, jacket)

        assert response.status_code == 400
        error = assert_error_shape(response.json(), code="product_unavailable")
        assert error["message"] == "“Denim jacket” is no longer on sale."
    assert not CartItem.objects.exists()
    assert not Cart.objects.exists()


def test_adding_a_product_of_a_deactivated_seller_is_refused(buyer_api, jacket, seller):
    seller.is_active = False
    seller.save(update_fields=["is_active"])

    response = add(buyer_api, jacket)

    assert response.status_code == 400
    assert_error_shape(response.json(), code="product_unavailable")
    assert not CartItem.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 101, 10**12, 1.5, "abc", "", None, True, [2]])
def test_bad_quantities_are_refused_and_change_nothing(buyer_api, api_client, jacket, quantity):
    for client in (buyer_api, api_client):
        response = add(client, jacket, quantity)

        assert response.status_code == 400, quantity
        error = assert_error_shape(response.json(), code="invalid")
        assert "quantity" in error["fields"]
    assert not CartItem.objects.exists()


def test_the_line_cannot_grow_past_the_per_line_limit(buyer_api, make_product):
    plenty = make_product(name="Sticker", stock=1000)
    add(buyer_api, plenty, 60)

    response = add(buyer_api, plenty, 60)

    assert response.status_code == 400
    assert_error_shape(response.json(), code="invalid_quantity")
    assert buyer_api.get(CART).json()["count"] == 60


def test_client_supplied_prices_and_totals_are_ignored(buyer_api, jacket):
    response = add(
        buyer_api, jacket, 1, price="0.01", line_total="0.01", total="0.01", currency="GBP"
    )

    assert response.status_code == 201
    assert response.json()["item"]["line_total"] == "59.00"
    assert response.json()["cart"]["total"] == "59.00"
    assert response.json()["cart"]["currency"] == "USD"


# --- changing and removing lines ---------------------------------------------------------------


def test_patch_sets_the_quantity_of_a_line(buyer_api, jacket, scarf):
    add(buyer_api, scarf)
    line = add(buyer_api, jacket, 1).json()["item"]

    response = buyer_api.patch(item_url(line["id"]), {"quantity": 4}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["item"]["quantity"] == 4
    assert body["item"]["line_total"] == "236.00"
    assert body["cart"]["count"] == 5


def test_patch_above_stock_is_refused(buyer_api, jacket):
    line = add(buyer_api, jacket, 1).json()["item"]

    response = buyer_api.patch(item_url(line["id"]), {"quantity": 6}, format="json")

    assert response.status_code == 400
    assert_error_shape(response.json(), code="out_of_stock")
    assert CartItem.objects.get().quantity == 1


@pytest.mark.parametrize("body", [{}, {"quantity": 0}, {"quantity": -3}, {"quantity": 10**12}])
def test_patch_with_a_bad_quantity_is_refused(buyer_api, jacket, body):
    line = add(buyer_api, jacket, 2).json()["item"]

    response = buyer_api.patch(item_url(line["id"]), body, format="json")

    assert response.status_code == 400
    assert "quantity" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert CartItem.objects.get().quantity == 2


def test_patch_of_a_line_whose_product_went_off_sale_is_refused(buyer_api, jacket, seller):
    line = add(buyer_api, jacket, 1).json()["item"]
    catalog_services.product_deactivate(product=jacket, actor=seller)

    response = buyer_api.patch(item_url(line["id"]), {"quantity": 2}, format="json")

    assert response.status_code == 400
    assert_error_shape(response.json(), code="product_unavailable")


def test_delete_removes_the_line_and_answers_the_cart(buyer_api, jacket, scarf):
    line = add(buyer_api, jacket, 2).json()["item"]
    add(buyer_api, scarf, 1)

    response = buyer_api.delete(item_url(line["id"]))

    assert response.status_code == 200
    cart = response.json()["cart"]
    assert [entry["product"]["id"] for entry in cart["items"]] == [scarf.pk]
    assert cart["count"] == 1
    assert cart["total"] == "12.50"
    assert buyer_api.delete(item_url(line["id"])).status_code == 404


def test_another_users_cart_line_is_not_found(auth_api, api_client, make_user, jacket):
    owner = auth_api(make_user("owner"))
    line = add(owner, jacket, 2).json()["item"]
    intruder = auth_api(make_user("intruder"))
    add(intruder, jacket, 1)  # the intruder has a cart of their own

    for client in (intruder, api_client):
        patched = client.patch(item_url(line["id"]), {"quantity": 5}, format="json")
        deleted = client.delete(item_url(line["id"]))

        assert patched.status_code == 404
        assert_error_shape(patched.json(), code="not_found")
        assert deleted.status_code == 404
    assert CartItem.objects.get(pk=line["id"]).quantity == 2


@pytest.mark.parametrize("item_id", ["999999", "abc", "1" * 40, "-1"])
def test_unknown_or_malformed_cart_line_ids_are_not_found(buyer_api, jacket, item_id):
    add(buyer_api, jacket)

    response = buyer_api.patch(item_url(item_id), {"quantity": 2}, format="json")

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")


# --- checkout --------------------------------------------------------------------------------


def test_checkout_with_the_dummy_backend_answers_an_absolute_payment_url_and_reserves_stock(
    buyer_api, buyer, jacket, scarf
):
    add(buyer_api, jacket, 2)
    add(buyer_api, scarf, 1)

    response = checkout(buyer_api)

    assert response.status_code == 201
    body = response.json()
    order = Order.objects.get(pk=body["order_id"])
    assert body == {
        "order_id": order.pk,
        "checkout_url": f"http://testserver{order.checkout_url}",
    }
    assert order.buyer == buyer
    assert order.status == Order.Status.PENDING
    assert order.total == Decimal("130.50")
    assert (stock_of(jacket), stock_of(scarf)) == (3, 4)
    assert buyer_api.get(CART).json()["count"] == 0
    listed = buyer_api.get(order_url(order)).json()
    assert listed["checkout_url"] == body["checkout_url"]


def test_checkout_ignores_client_supplied_totals_status_and_buyer(
    buyer_api, buyer, make_user, jacket
):
    other = make_user("someone_else")
    add(buyer_api, jacket, 1)

    response = checkout(buyer_api, total="0.01", status="paid", buyer=other.pk, price="0.01")

    assert response.status_code == 201
    order = Order.objects.get(pk=response.json()["order_id"])
    assert (order.total, order.status, order.buyer) == (Decimal("59.00"), "pending", buyer)


def test_checkout_of_an_empty_cart_is_refused(buyer_api):
    response = checkout(buyer_api)

    assert response.status_code == 400
    assert_error_shape(response.json(), code="cart_empty")
    assert not Order.objects.exists()


def test_checkout_needs_a_signed_in_user(api_client, jacket):
    add(api_client, jacket)

    response = checkout(api_client)

    assert response.status_code == 401
    assert_error_shape(response.json(), code="not_authenticated")
    assert stock_of(jacket) == 5


def test_checkout_when_stock_ran_out_meanwhile_names_the_product_and_reserves_nothing(
    buyer_api, jacket, scarf, seller
):
    add(buyer_api, jacket, 2)  # reserved first, then rolled back
    add(buyer_api, scarf, 3)
    catalog_services.product_update(product=scarf, actor=seller, stock=1)

    response = checkout(buyer_api)

    assert response.status_code == 409
    error = assert_error_shape(response.json(), code="out_of_stock")
    assert "Silk scarf" in error["message"]
    assert error["fields"] == {"product_id": [str(scarf.pk)]}
    assert (stock_of(jacket), stock_of(scarf)) == (5, 1)
    assert not Order.objects.exists()
    assert buyer_api.get(CART).json()["count"] == 5  # the cart is kept to be fixed


def test_checkout_of_a_product_gone_off_sale_is_refused(buyer_api, jacket, seller):
    add(buyer_api, jacket, 1)
    catalog_services.product_deactivate(product=jacket, actor=seller)

    response = checkout(buyer_api)

    assert response.status_code == 400
    assert (
        "Denim jacket" in assert_error_shape(response.json(), code="product_unavailable")["message"]
    )
    assert not Order.objects.exists()


def test_checkout_of_mixed_currencies_is_refused(buyer_api, jacket, make_product):
    add(buyer_api, jacket)
    add(buyer_api, make_product(name="Bag", currency="EUR"))

    response = checkout(buyer_api)

    assert response.status_code == 400
    assert_error_shape(response.json(), code="mixed_currencies")
    assert stock_of(jacket) == 5


def test_checkout_with_stripe_answers_the_stripe_payment_page(buyer_api, jacket, fake_stripe):
    add(buyer_api, jacket, 1)

    response = checkout(buyer_api)

    assert response.status_code == 201
    order = Order.objects.get(pk=response.json()["order_id"])
    assert order.payment_backend == "stripe"
    assert response.json()["checkout_url"] == order.checkout_url
    assert order.checkout_url.startswith("https://")
    form = fake_stripe.session_requests()[0].form
    assert form["success_url"] == f"http://testserver/checkout/success/?order={order.pk}"
    assert form["cancel_url"] == f"http://testserver/checkout/cancel/?order={order.pk}"


def test_checkout_when_stripe_is_unreachable_answers_502_and_releases_the_order(
    buyer_api, jacket, fake_stripe
):
    fake_stripe.mode = "error500"
    add(buyer_api, jacket, 2)

    response = checkout(buyer_api)

    assert response.status_code == 502
    error = assert_error_shape(response.json(), code="payment_unavailable")
    assert error["fields"] == {}
    assert "you have not been charged" in error["message"]
    assert "back in your cart" in error["message"]
    # Released at once: the stock is back on sale, the order cancelled with the reason, and
    # the cart holds the line again.
    assert stock_of(jacket) == 5
    [listed] = buyer_api.get(ORDERS).json()["results"]
    assert (listed["status"], listed["checkout_url"]) == ("cancelled", None)
    assert "Payment service unavailable at checkout" in listed["events"][-1]["note"]
    cart = buyer_api.get(CART).json()
    assert [(line["product"]["id"], line["quantity"]) for line in cart["items"]] == [(jacket.pk, 2)]
    assert fake_stripe.sessions_created == 0


def test_checking_out_again_after_stripe_came_back_makes_exactly_one_session(
    buyer_api, jacket, fake_stripe
):
    fake_stripe.mode = "error500"
    add(buyer_api, jacket, 1)
    assert checkout(buyer_api).status_code == 502
    released = Order.objects.get(buyer__username="bella_buyer")
    fake_stripe.mode = "ok"

    retried = checkout(buyer_api)
    again = checkout(buyer_api)  # a double tap: the cart is already taken

    assert retried.status_code == 201
    assert again.status_code == 400
    assert_error_shape(again.json(), code="cart_empty")
    order = Order.objects.get(pk=retried.json()["order_id"])
    assert order.pk != released.pk and order.status == Order.Status.PENDING
    assert retried.json()["checkout_url"] == fake_stripe.sessions[order.checkout_session_id]["url"]
    assert fake_stripe.sessions_created == 1
    [session] = fake_stripe.sessions.values()
    assert session["metadata"] == {"order_id": str(order.pk)}
    # A new order, a new key: the released order's key is never used for another order.
    assert order.idempotency_key != released.idempotency_key
    keys = [request.idempotency_key for request in fake_stripe.session_requests()]
    assert keys == [released.idempotency_key] * 2 + [order.idempotency_key]
    assert stock_of(jacket) == 4


def test_paying_a_pending_order_again_after_stripe_came_back_makes_exactly_one_session(
    buyer_api, jacket, fake_stripe, make_order
):
    order = make_order(lines=[(jacket, 1)])  # pending, its payment page never opened
    fake_stripe.mode = "error500"
    failed = buyer_api.post(f"{order_url(order)}pay/")
    assert failed.status_code == 502
    assert "reserved" in assert_error_shape(failed.json(), code="payment_unavailable")["message"]
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING  # kept, as asked
    fake_stripe.mode = "ok"

    first = buyer_api.post(f"{order_url(order)}pay/")
    again = buyer_api.post(f"{order_url(order)}pay/")

    assert first.status_code == again.status_code == 200
    assert first.json()["checkout_url"] == again.json()["checkout_url"]
    assert first.json()["checkout_url"].startswith("https://")
    keys = {request.idempotency_key for request in fake_stripe.session_requests()}
    assert keys == {order.idempotency_key}
    assert fake_stripe.sessions_created == 1


# --- the buyer's orders ----------------------------------------------------------------------


def test_order_detail_shows_items_events_and_no_staff_review_fields(buyer_api, jacket, make_order):
    order = make_order(lines=[(jacket, 2)])
    # A payment that does not match the order flags it for staff.
    bad = checkout_session_object(order, amount_total=1)
    services.payment_event_process(event=event("checkout.session.completed", bad))
    assert Order.objects.get(pk=order.pk).needs_review

    response = buyer_api.get(order_url(order))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "status",
        "total",
        "currency",
        "created_at",
        "updated_at",
        "checkout_url",
        "tracking_number",
        "items",
        "events",
    }
    assert (body["id"], body["status"], body["total"], body["currency"]) == (
        order.pk,
        "pending",
        "118.00",
        "USD",
    )
    # The dummy backend's payment page comes with the order (a Stripe one is asked for).
    assert body["checkout_url"] == f"http://testserver{order.checkout_url}"
    assert body["items"] == [
        {
            "product_id": jacket.pk,
            "name": "Denim jacket",
            "unit_price": "59.00",
            "currency": "USD",
            "quantity": 2,
            "line_total": "118.00",
        }
    ]
    assert [(e["from_status"], e["to_status"], e["note"]) for e in body["events"]] == [
        ("", "pending", "Checkout")
    ]
    assert "Flagged" not in str(body) and "review" not in str(body)


def test_orders_list_shows_only_own_orders_newest_first(
    auth_api, buyer_api, make_user, make_order, jacket, scarf
):
    first = make_order(lines=[(jacket, 1)])
    second = make_order(lines=[(scarf, 1)])
    stranger = make_user("stranger")
    make_order(lines=[(jacket, 1)], user=stranger)

    response = buyer_api.get(ORDERS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [entry["id"] for entry in body["results"]] == [second.pk, first.pk]
    assert auth_api(stranger).get(ORDERS).json()["count"] == 1


def test_orders_list_filters_by_status(buyer_api, make_order, jacket, scarf):
    pending = make_order(lines=[(jacket, 1)])
    done = paid(make_order(lines=[(scarf, 1)]))

    assert [o["id"] for o in buyer_api.get(ORDERS, {"status": "paid"}).json()["results"]] == [
        done.pk
    ]
    assert [o["id"] for o in buyer_api.get(ORDERS, {"status": "pending"}).json()["results"]] == [
        pending.pk
    ]
    bad = buyer_api.get(ORDERS, {"status": "lost"})
    assert bad.status_code == 400
    assert "status" in assert_error_shape(bad.json(), code="invalid")["fields"]


def test_orders_need_a_signed_in_user(api_client):
    for response in (api_client.get(ORDERS), api_client.get(order_url(1))):
        assert response.status_code == 401


def test_another_users_order_is_not_found(auth_api, make_user, make_order, jacket):
    order = make_order(lines=[(jacket, 1)])
    stranger = auth_api(make_user("stranger"))

    for response in (stranger.get(order_url(order)), stranger.post(order_url(order, "cancel/"))):
        assert response.status_code == 404
        assert_error_shape(response.json(), code="not_found")
    assert Order.objects.get(pk=order.pk).status == "pending"


@pytest.mark.parametrize("order_id", ["999999", "abc", "9" * 40])
def test_unknown_or_malformed_order_ids_are_not_found(buyer_api, order_id):
    assert buyer_api.get(order_url(order_id)).status_code == 404
    assert buyer_api.post(order_url(order_id, "cancel/")).status_code == 404


def test_cancelling_a_pending_order_restores_the_stock(buyer_api, make_order, jacket):
    order = make_order(lines=[(jacket, 2)])
    assert stock_of(jacket) == 3

    response = buyer_api.post(order_url(order, "cancel/"), {"status": "paid"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["checkout_url"] is None
    assert body["events"][-1]["from_status"] == "pending"
    assert body["events"][-1]["to_status"] == "cancelled"
    assert stock_of(jacket) == 5


def test_cancelling_a_paid_order_is_refused(buyer_api, make_order, jacket):
    order = paid(make_order(lines=[(jacket, 2)]))

    response = buyer_api.post(order_url(order, "cancel/"))

    assert response.status_code == 409
    assert_error_shape(response.json(), code="illegal_transition")
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert stock_of(jacket) == 3


# --- the seller's orders ---------------------------------------------------------------------


def test_seller_sees_orders_of_their_products_with_only_their_lines(
    seller_api, auth_api, other_seller, buyer, make_order, jacket, mug, make_user
):
    mixed = make_order(lines=[(jacket, 2), (mug, 3)])
    make_order(lines=[(mug, 1)])  # only the other seller's product

    response = seller_api.get(SELLER_ORDERS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    entry = body["results"][0]
    assert entry["id"] == mixed.pk
    assert entry["buyer"] == {
        "id": buyer.pk,
        "username": buyer.username,
        "display_name": "bella_buyer",
    }
    assert [(line["product_id"], line["quantity"]) for line in entry["items"]] == [(jacket.pk, 2)]
    assert entry["total"] == "118.00"  # their lines only
    assert "checkout_url" not in entry and "needs_review" not in entry
    other = auth_api(other_seller).get(SELLER_ORDERS).json()
    assert other["count"] == 2
    assert {line["product_id"] for o in other["results"] for line in o["items"]} == {mug.pk}


def test_seller_orders_filter_by_status(seller_api, make_order, jacket, scarf):
    make_order(lines=[(jacket, 1)])
    done = paid(make_order(lines=[(scarf, 1)]))

    response = seller_api.get(SELLER_ORDERS, {"status": "paid"})

    assert [entry["id"] for entry in response.json()["results"]] == [done.pk]


def test_seller_order_detail_of_another_sellers_order_is_not_found(
    seller_api, auth_api, other_seller, make_order, jacket, mug
):
    theirs = make_order(lines=[(mug, 1)])
    mine = make_order(lines=[(jacket, 1), (mug, 1)])

    assert seller_api.get(seller_order_url(theirs)).status_code == 404
    assert seller_api.post(seller_order_url(theirs, "ship/")).status_code == 404
    assert seller_api.get(seller_order_url("abc")).status_code == 404
    detail = seller_api.get(seller_order_url(mine))
    assert detail.status_code == 200
    assert [line["product_id"] for line in detail.json()["items"]] == [jacket.pk]


def test_seller_order_endpoints_refuse_buyers_and_anonymous_callers(
    buyer_api, api_client, make_order, jacket
):
    order = paid(make_order(lines=[(jacket, 1)]))
    calls = [
        ("get", SELLER_ORDERS),
        ("get", seller_order_url(order)),
        ("post", seller_order_url(order, "ship/")),
    ]
    for method, url in calls:
        forbidden = getattr(buyer_api, method)(url)
        anonymous = getattr(api_client, method)(url)

        assert forbidden.status_code == 403
        assert_error_shape(forbidden.json(), code="permission_denied")
        assert anonymous.status_code == 401
    assert Order.objects.get(pk=order.pk).status == "paid"


def test_seller_ships_a_paid_order_with_a_tracking_number(
    seller_api, seller, other_seller, make_order, jacket
):
    order = paid(make_order(lines=[(jacket, 1)]))

    response = seller_api.post(
        seller_order_url(order, "ship/"),
        {
            "tracking_number": " 1Z999AA10123456784 ",
            "status": "delivered",
            "seller": other_seller.pk,
        },
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "shipped"
    assert body["tracking_number"] == "1Z999AA10123456784"
    shipped = OrderEvent.objects.filter(order=order).last()
    assert (shipped.from_status, shipped.to_status, shipped.actor) == ("paid", "shipped", seller)
    assert "1Z999AA10123456784" in shipped.note
    assert body["events"][-1]["to_status"] == "shipped"


def test_seller_ships_without_a_tracking_number(seller_api, make_order, jacket):
    order = paid(make_order(lines=[(jacket, 1)]))

    response = seller_api.post(seller_order_url(order, "ship/"))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["tracking_number"]) == ("shipped", "")


def test_shipping_an_unpaid_order_is_refused(seller_api, make_order, jacket):
    order = make_order(lines=[(jacket, 1)])

    response = seller_api.post(seller_order_url(order, "ship/"), {"tracking_number": "X1"})

    assert response.status_code == 409
    assert_error_shape(response.json(), code="illegal_transition")
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_a_tracking_number_over_100_characters_is_refused(seller_api, make_order, jacket):
    order = paid(make_order(lines=[(jacket, 1)]))

    response = seller_api.post(seller_order_url(order, "ship/"), {"tracking_number": "X" * 101})

    assert response.status_code == 400
    assert "tracking_number" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert Order.objects.get(pk=order.pk).status == "paid"


# --- query counts ------------------------------------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def orders_for(make_order, make_product, mug, number: int) -> None:
    for index in range(number):
        product = make_product(name=f"Hat {index}", stock=10)
        make_order(lines=[(product, 1), (mug, 1)])


def test_order_lists_take_a_fixed_number_of_queries(
    buyer_api, seller_api, make_order, make_product, mug
):
    orders_for(make_order, make_product, mug, 2)
    few = (count_queries(buyer_api, ORDERS), count_queries(seller_api, SELLER_ORDERS))

    orders_for(make_order, make_product, mug, 8)
    many = (count_queries(buyer_api, ORDERS), count_queries(seller_api, SELLER_ORDERS))

    assert buyer_api.get(ORDERS).json()["count"] == 10
    assert seller_api.get(SELLER_ORDERS).json()["count"] == 10
    assert few == many


def test_the_cart_takes_a_fixed_number_of_queries(buyer_api, make_product):
    add(buyer_api, make_product(name="Cap"))
    few = count_queries(buyer_api, CART)
    for index in range(6):
        add(buyer_api, make_product(name=f"Sock {index}"))

    assert count_queries(buyer_api, CART) == few


def test_a_visitor_cart_cannot_be_filled_from_another_site(db, make_product):
    from rest_framework.test import APIClient

    product = make_product(name="Silk scarf")
    browser = APIClient(enforce_csrf_checks=True)

    forged = browser.post("/api/v1/cart/items/", {"product_id": product.pk}, format="json")
    assert forged.status_code == 403

    browser.get("/accounts/login/")  # a page with a form sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    genuine = browser.post(
        "/api/v1/cart/items/", {"product_id": product.pk}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert genuine.status_code == 201
    assert genuine.json()["cart"]["count"] == 1
