"""The seller's numbers checked against the events that produced them: viewers joining the
real room socket, chat through the consumer, adds to cart through the API and the page (from
the room and from elsewhere), and orders paid, cancelled or left pending through the dummy
payment backend (the same path as Stripe's webhook)."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework.test import APIClient

from analytics.tests.conftest import read_stats
from orders import services as order_services
from orders.models import CartItem, Order, OrderItem
from rooms.models import ShoppingRoom

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = "/api/v1/cart/items/"
ANON_CSRF = "csrftoken=" + "a1" * 16  # an anonymous browser's cookie (the room page sets it)


def api_for(auth_api, user) -> APIClient:
    return auth_api(user)


def add(client, product, room=None, **extra):
    body = {"product_id": product.pk, **extra}
    if room is not None:
        body["room"] = room.pk
    response = client.post(ITEMS, body, format="json")
    assert response.status_code == 201, response.content
    return response


def buy(user, *, pay: bool | None) -> Order:
    """Check out the user's cart; pay (True), cancel (False) or leave it pending (None)."""
    order = order_services.checkout_create_order(user=user)
    if pay is not None:
        order = order_services.dummy_payment_complete(order=order, buyer=user, pay=pay)
    return order


async def test_dashboard_numbers_match_the_events_that_made_them(
    make_user, seller, jacket, scarf, make_room, open_socket, eventually, auth_api
):
    room = await sync_to_async(make_room)(products=[jacket, scarf], title="Denim night")
    other_room = await sync_to_async(make_room)(products=[scarf], title="Scarf hour")
    amy, ben, cat, dan, eve = [
        await sync_to_async(make_user)(name) for name in ("amy", "ben", "cat", "dan", "eve")
    ]

    # --- viewers: the seller (not a viewer), amy in two tabs, ben on the website, one
    # anonymous browser (twice, one after the other) and one anonymous client without cookies.
    host = await open_socket(room, seller)
    amy_tab1 = await open_socket(room, amy)
    amy_tab2 = await open_socket(room, amy, label="amy tab 2")
    ben_socket = await open_socket(room, ben, via="session")
    browser = await open_socket(room, label="anonymous browser", cookies=ANON_CSRF)
    await open_socket(room, label="anonymous app")
    assert (await open_socket(other_room, amy, label="amy elsewhere")).state["viewer_count"] == 1

    # --- chat through the consumer: 4 lines in the room
    await amy_tab1.chat("Does the jacket run small?")
    await amy_tab2.chat("Mine is an M")
    await ben_socket.chat("Love it")
    await host.chat("It runs true to size")

    await browser.disconnect()
    await open_socket(room, label="anonymous browser again", cookies=ANON_CSRF)

    # --- adds to cart and orders
    def shop() -> None:
        amy_api, ben_api = api_for(auth_api, amy), api_for(auth_api, ben)
        add(amy_api, jacket, room)  # counted
        add(amy_api, scarf, room)  # counted
        add(ben_api, jacket, room)  # counted
        add(ben_api, jacket, other_room)  # the other room does not list it: not counted
        add(ben_api, scarf)  # from the product page: not counted
        visitor = Client()  # an anonymous visitor's session cart, through the page's form
        response = visitor.post(
            "/cart/add/", {"product_id": jacket.pk, "quantity": 1, "room": room.pk}
        )
        assert response.status_code == 302
        add(api_for(auth_api, cat), scarf)  # not from a room
        add(api_for(auth_api, dan), jacket, room)  # counted; the order is cancelled
        add(api_for(auth_api, eve), scarf, room)  # counted; the order stays pending

        buy(amy, pay=True)  # jacket + scarf from the room: 59.00 + 12.50
        buy(ben, pay=True)  # 2 jackets from the room (118.00) + a scarf from nowhere
        buy(cat, pay=True)  # a scarf from nowhere
        buy(dan, pay=False)  # cancelled: not counted
        buy(eve, pay=None)  # pending: not counted

    await sync_to_async(shop)()

    for socket in (host, amy_tab1, amy_tab2, ben_socket):
        await socket.disconnect()

    def persisted() -> ShoppingRoom:
        fresh = ShoppingRoom.objects.get(pk=room.pk)
        return fresh if fresh.total_chat_messages == 4 and fresh.unique_viewers == 4 else None

    stored = await eventually(persisted)
    assert stored, "the chat lines and unique viewers were not persisted"
    # Concurrent distinct viewers at the peak: seller, amy (two tabs: one), ben, 2 anonymous.
    assert stored.peak_viewers == 5
    assert stored.total_add_to_carts == 6
    assert (
        await sync_to_async(lambda: ShoppingRoom.objects.get(pk=other_room.pk).total_add_to_carts)()
        == 0
    )

    def check_pages() -> None:
        site = Client()
        site.force_login(seller)
        expected = {
            "peak_viewers": "5",
            "unique_viewers": "4",
            "chat_messages": "4",
            "add_to_carts": "6",
            "orders": "2",
            "revenue": "189.50 USD",
            "conversion": "50.0 %",
        }
        page = site.get(f"/seller/rooms/{room.pk}/stats/")
        assert page.status_code == 200
        html = page.content.decode()
        assert read_stats(html, ("data-stats", "room")) == expected
        units = read_stats(html, ("data-product-id", str(jacket.pk)))
        assert units == {"units": "3"}
        assert read_stats(html, ("data-product-id", str(scarf.pk))) == {"units": "1"}

        dashboard = site.get("/seller/dashboard/")
        assert dashboard.status_code == 200
        html = dashboard.content.decode()
        assert read_stats(html, ("data-room-id", str(room.pk))) == expected
        assert read_stats(html, ("data-room-id", str(other_room.pk))) == {
            "peak_viewers": "1",
            "unique_viewers": "1",
            "chat_messages": "0",
            "add_to_carts": "0",
            "orders": "0",
            "revenue": "0",
            "conversion": "0.0 %",
        }
        # All shows: amy counts once in each room; the peak is the best show's.
        assert read_stats(html, ("data-stats", "totals")) == {
            "peak_viewers": "5",
            "unique_viewers": "5",
            "chat_messages": "4",
            "add_to_carts": "6",
            "orders": "2",
            "revenue": "189.50 USD",
            "conversion": "40.0 %",
        }
        # Units sold overall (every paid order) and of those, from shows.
        assert read_stats(html, ("data-product-id", str(jacket.pk))) == {
            "units": "3",
            "room_units": "3",
        }
        assert read_stats(html, ("data-product-id", str(scarf.pk))) == {
            "units": "3",
            "room_units": "1",
        }
        assert "<svg" in html and "Denim night" in html

        api = api_for(auth_api, seller).get(f"/api/v1/rooms/{room.pk}/stats/").json()
        assert {key: api[key] for key in expected if key not in {"revenue", "conversion"}} == {
            "peak_viewers": 5,
            "unique_viewers": 4,
            "chat_messages": 4,
            "add_to_carts": 6,
            "orders": 2,
        }
        assert api["revenue"] == [{"currency": "USD", "amount": "189.50"}]
        assert api["conversion"] == "0.5000"
        assert api["units"] == 4
        assert [(p["name"], p["units"]) for p in api["products"]] == [
            ("Denim jacket", 3),
            ("Silk scarf", 1),
        ]
        totals = api_for(auth_api, seller).get("/api/v1/seller/stats/").json()
        assert totals["totals"]["orders"] == 2
        assert totals["totals"]["unique_viewers"] == 5
        assert totals["room_count"] == 2
        assert [p["units"] for p in totals["products"]] == [3, 3]

        # The attribution behind the numbers: each paid line knows its room.
        lines = OrderItem.objects.filter(order__status=Order.Status.PAID, room=room)
        assert sorted(lines.values_list("name", "quantity")) == [
            ("Denim jacket", 1),
            ("Denim jacket", 2),
            ("Silk scarf", 1),
        ]

    await sync_to_async(check_pages)()


def test_an_add_from_a_room_that_does_not_list_the_product_still_adds_unattributed(
    buyer, auth_api, jacket, scarf, make_room
):
    room = make_room(products=[scarf])
    add(auth_api(buyer), jacket, room)

    item = CartItem.objects.get(cart__user=buyer)
    assert item.room_id is None and item.quantity == 1
    assert ShoppingRoom.objects.get(pk=room.pk).total_add_to_carts == 0


def test_a_malformed_room_is_refused_and_adds_nothing(buyer, auth_api, jacket, client):
    response = auth_api(buyer).post(ITEMS, {"product_id": jacket.pk, "room": "x'1"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["room"]
    assert not CartItem.objects.exists()

    response = client.post("/cart/add/", {"product_id": jacket.pk, "room": "nope"}, follow=True)
    assert "That is not a shopping room." in response.content.decode()
    assert not CartItem.objects.exists()


def test_the_room_of_an_anonymous_add_survives_login_and_reaches_the_order(
    buyer, client, jacket, make_room
):
    room = make_room(products=[jacket])
    client.post("/cart/add/", {"product_id": jacket.pk, "room": room.pk})
    client.post("/accounts/login/", {"username": buyer.username, "password": "correct-horse-42"})

    order = buy(buyer, pay=True)

    assert order.status == Order.Status.PAID
    assert order.items.get().room_id == room.pk
    assert ShoppingRoom.objects.get(pk=room.pk).total_add_to_carts == 1


def test_refunded_orders_leave_the_numbers(buyer, auth_api, jacket, make_room, seller):
    from analytics import selectors
    from orders.services import order_transition

    room = make_room(products=[jacket])
    add(auth_api(buyer), jacket, room, quantity=2)
    order = buy(buyer, pay=True)
    assert selectors.room_stats(room=room).revenue[0].amount == Decimal("118.00")

    order_transition(order=order, to=Order.Status.REFUNDED)

    stats = selectors.room_stats(room=room)
    assert (stats.orders, stats.revenue, stats.conversion) == (0, [], None)
