"""Who may see a seller's numbers, tried from the attacker's side: another seller, a buyer,
an anonymous visitor, on the pages and the API. And the dashboard's cost: a fixed number of
queries however many rooms and products the seller has."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from analytics.tests.conftest import read_stats
from orders import services as order_services

DASHBOARD = "/seller/dashboard/"


def stats_page(room) -> str:
    return f"/seller/rooms/{room.pk}/stats/"


def stats_api(room) -> str:
    return f"/api/v1/rooms/{room.pk}/stats/"


@pytest.fixture
def room(make_room, jacket):
    return make_room(products=[jacket], title="Denim night")


# --- pages --------------------------------------------------------------------------------


def test_another_seller_cannot_see_a_rooms_numbers(client, other_seller, room):
    client.force_login(other_seller)
    assert client.get(stats_page(room)).status_code == 404
    page = client.get(DASHBOARD)
    assert page.status_code == 200
    assert "Denim night" not in page.content.decode()  # their own (empty) dashboard


def test_a_buyer_is_sent_to_open_a_shop(client, buyer, room):
    client.force_login(buyer)
    for url in (DASHBOARD, stats_page(room)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == "/accounts/become-seller/"


def test_anonymous_visitors_are_sent_to_log_in(client, room):
    for url in (DASHBOARD, stats_page(room)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_an_unknown_or_malformed_room_is_not_found(client, seller):
    client.force_login(seller)
    assert client.get("/seller/rooms/999999/stats/").status_code == 404
    assert client.get("/seller/rooms/abc/stats/").status_code == 404


def test_the_dashboard_only_reads(client, seller, room):
    client.force_login(seller)
    assert client.post(DASHBOARD).status_code == 405
    assert client.post(stats_page(room)).status_code == 405


def test_a_seller_without_rooms_gets_the_empty_state(client, make_user):
    newcomer = make_user("nina", seller=True)
    client.force_login(newcomer)
    html = client.get(DASHBOARD).content.decode()
    assert "No numbers yet." in html
    assert 'href="/seller/rooms/new/"' in html


def test_a_scheduled_room_shows_zeros_and_a_dash_for_conversion(client, seller, make_room, jacket):
    room = make_room(products=[jacket], live=False)
    client.force_login(seller)
    html = client.get(stats_page(room)).content.decode()
    stats = read_stats(html, ("data-stats", "room"))
    assert stats["conversion"] == "—"
    assert stats["orders"] == "0" and stats["revenue"] == "0"
    assert "Nothing was bought from this show yet." in html


def test_the_seller_nav_and_rooms_list_link_to_the_numbers(client, seller, room):
    client.force_login(seller)
    html = client.get("/seller/rooms/").content.decode()
    assert f'href="{DASHBOARD}"' in html
    assert f'href="{stats_page(room)}"' in html


# --- API ----------------------------------------------------------------------------------


def test_the_api_answers_the_seller_and_staff_only(
    api_client, auth_api, seller, other_seller, buyer, room
):
    assert auth_api(seller).get(stats_api(room)).status_code == 200
    # Another seller's room is "not yours", like every seller action on rooms: 404.
    assert auth_api(other_seller).get(stats_api(room)).status_code == 404
    assert auth_api(buyer).get(stats_api(room)).status_code == 403
    assert api_client.get(stats_api(room)).status_code == 401
    assert auth_api(seller).get("/api/v1/rooms/999999/stats/").status_code == 404
    staff = account_services.staff_user_create(
        username="stella", email="stella@example.test", password="correct-horse-42"
    )
    assert auth_api(staff).get(stats_api(room)).json()["room"]["title"] == "Denim night"


def test_the_seller_stats_api_is_for_sellers(api_client, auth_api, seller, buyer, room):
    assert api_client.get("/api/v1/seller/stats/").status_code == 401
    assert auth_api(buyer).get("/api/v1/seller/stats/").status_code == 403
    answer = auth_api(seller).get("/api/v1/seller/stats/").json()
    assert answer["room_count"] == 1
    assert answer["rooms"][0]["room"]["title"] == "Denim night"
    assert answer["totals"]["conversion"] is None


def test_a_buyer_cannot_change_numbers_through_the_stats_endpoint(auth_api, seller, room):
    assert auth_api(seller).post(stats_api(room), {}, format="json").status_code == 405


# --- cost ---------------------------------------------------------------------------------


def _sell(seller, buyer, make_product, make_room, count: int) -> None:
    """`count` more rooms, each with its own product, each sold once from the room."""
    for number in range(count):
        product = make_product(name=f"Product {number}", price=Decimal("10.00"), stock=5)
        room = make_room(products=[product], title=f"Show {number}")
        cart = order_services.cart_for_user(user=buyer)
        order_services.cart_add(cart=cart, product=product, room_id=room.pk)
        order = order_services.checkout_create_order(user=buyer)
        order_services.dummy_payment_complete(order=order, buyer=buyer, pay=True)


def test_the_dashboard_costs_the_same_queries_for_many_rooms_and_products(
    client, seller, buyer, make_product, make_room
):
    client.force_login(seller)
    _sell(seller, buyer, make_product, make_room, 1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(DASHBOARD).status_code == 200
    _sell(seller, buyer, make_product, make_room, 8)
    with CaptureQueriesContext(connection) as many:
        html = client.get(DASHBOARD).content.decode()
    assert "Show 7" in html and "Product 7" in html
    assert len(many) == len(few), [q["sql"] for q in many]

    room = make_room(products=[], title="Room page")
    with CaptureQueriesContext(connection) as one_room:
        assert client.get(stats_page(room)).status_code == 200
    assert len(one_room) <= len(few)
