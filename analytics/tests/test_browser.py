"""The numbers as a real browser makes them: an anonymous visitor watches a live room on a
real daphne, reloads it (still one viewer) and adds the spotlighted product to the cart over
fetch; the seller's pages count both."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import chromium, live_room_site  # noqa: F401  (module-scoped fixtures)


@pytest.fixture(autouse=True)
def _empty_room_store():
    """The server is another process with its own store: nothing to clear here (and the
    async clearing of conftest.py cannot run beside Playwright's own event loop)."""


def test_a_visitors_watching_and_add_to_cart_reach_the_sellers_numbers(
    chromium,  # noqa: F811
    live_room_site,  # noqa: F811
):
    base_url, ids = live_room_site
    visitor = chromium.new_context()
    seller = chromium.new_context()
    try:
        page = visitor.new_page()
        page.goto(f"{base_url}/rooms/{ids['room']}/")
        expect(page.locator("#spotlight-add")).to_be_visible()
        page.reload()  # the same browser again: not a second unique viewer
        page.locator("#spotlight-add").click()
        expect(page.locator("#cart-count")).to_have_text("1")

        desk = seller.new_page()
        desk.goto(f"{base_url}/accounts/login/?next=/seller/dashboard/")
        desk.get_by_label("Username").fill("sally")
        desk.get_by_label("Password").fill(ids["password"])
        desk.locator("main form button[type=submit]").click()
        expect(desk).to_have_url(re.compile(r"/seller/dashboard/$"))
        expect(desk.locator("[data-stats=totals] [data-stat=add_to_carts]")).to_have_text("1")
        desk.get_by_role("link", name=re.compile(r"Numbers\s+Hat show")).click()
        numbers = desk.locator("[data-stats=room]")
        expect(numbers.locator("[data-stat=add_to_carts]")).to_have_text("1")
        expect(numbers.locator("[data-stat=unique_viewers]")).to_have_text("1")
        expect(numbers.locator("[data-stat=orders]")).to_have_text("0")
        expect(numbers.locator("[data-stat=conversion]")).to_have_text("0.0 %")
        expect(desk.locator("svg.bar-chart")).to_have_count(0)  # nothing sold: no chart yet
    finally:
        visitor.close()
        seller.close()
