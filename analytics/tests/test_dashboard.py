"""The dashboard's totals and chart: numbers that mean something across shows (the best
show's peak, not a sum of peaks; the chart in the currency most orders were paid in)."""

from decimal import Decimal

import pytest
from django.test import Client

from analytics import selectors
from analytics.tests.conftest import read_stats
from analytics.tests.test_numbers import add, buy
from rooms import services as room_services

pytestmark = pytest.mark.django_db


def test_the_totals_show_the_best_shows_peak_not_the_sum_of_peaks(
    seller, jacket, make_room, auth_api
):
    for title, peak in (("Monday", 40), ("Tuesday", 25), ("Wednesday", 0)):
        room = make_room(products=[jacket], title=title)
        room_services.room_record_viewers(room_id=room.pk, count=peak)

    assert selectors.seller_dashboard(seller=seller).totals.peak_viewers == 40

    site = Client()
    site.force_login(seller)
    html = site.get("/seller/dashboard/").content.decode()
    assert read_stats(html, ("data-stats", "totals"))["peak_viewers"] == "40"
    assert "Peak viewers (best show)" in html
    api = auth_api(seller).get("/api/v1/seller/stats/").json()
    assert api["totals"]["peak_viewers"] == 40
    assert sorted(row["peak_viewers"] for row in api["rooms"]) == [0, 25, 40]


def test_the_chart_uses_the_currency_of_the_most_paid_orders(
    make_user, seller, make_product, make_room, auth_api
):
    # One big EUR order against three small USD ones: the seller mostly sells in USD.
    watch = make_product(name="Watch", price=Decimal("900.00"), currency="EUR", stock=5)
    socks = make_product(name="Socks", price=Decimal("5.00"), currency="USD", stock=50)
    room = make_room(products=[watch, socks], title="Mixed show")
    rich = make_user("rich")
    add(auth_api(rich), watch, room)
    buy(rich, pay=True)
    for name in ("ann", "bob", "cy"):
        shopper = make_user(name)
        add(auth_api(shopper), socks, room)
        buy(shopper, pay=True)
    # An unpaid order does not count either way.
    pending = make_user("pending")
    add(auth_api(pending), watch, room)
    buy(pending, pay=None)

    assert selectors.seller_dashboard(seller=seller).chart_currency == "USD"


def test_with_as_many_orders_in_each_currency_the_chart_uses_the_larger_revenue(
    make_user, seller, make_product, make_room, auth_api
):
    cheap = make_product(name="Pin", price=Decimal("3.00"), currency="USD", stock=5)
    dear = make_product(name="Ring", price=Decimal("2.00"), currency="GBP", stock=5)
    room = make_room(products=[cheap, dear])
    for name, product, quantity in (("a1", cheap, 1), ("a2", dear, 4)):
        shopper = make_user(name)
        add(auth_api(shopper), product, room, quantity=quantity)
        buy(shopper, pay=True)

    assert selectors.seller_dashboard(seller=seller).chart_currency == "GBP"
