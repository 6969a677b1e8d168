"""Buying from a live show in a real browser: the buyer adds the spotlighted product without
leaving the stream, pays with the dummy backend and finds the paid order; the seller ships it."""

import re

from playwright.sync_api import expect

from tests.browser import log_in


def test_buyer_buys_the_spotlighted_product_and_the_seller_ships_it(chromium, live_room_site):
    base_url, ids = live_room_site
    buyer = chromium.new_context().new_page()
    seller = chromium.new_context().new_page()
    try:
        log_in(buyer, base_url, "bob", ids["password"])
        buyer.goto(f"{base_url}/rooms/{ids['room']}/")
        expect(buyer.locator("#spotlight")).to_contain_text("Straw hat")
        buyer.evaluate("window.__stillTheSamePage = true")

        buyer.locator("#spotlight-add").click()
        expect(buyer.locator("#cart-count")).to_have_text("1")
        # The stream was never left nor reloaded.
        assert buyer.evaluate("window.__stillTheSamePage") is True
        assert buyer.url == f"{base_url}/rooms/{ids['room']}/"

        buyer.goto(f"{base_url}/cart/")
        expect(buyer.locator("main")).to_contain_text("Straw hat")
        buyer.get_by_role("button", name="Check out").click()
        expect(buyer.locator("main")).to_contain_text("no money moves")
        buyer.get_by_role("button", name=re.compile(r"^Pay ")).click()
        expect(buyer.locator("#order-status")).to_contain_text("Paid")

        buyer.goto(f"{base_url}/orders/")
        expect(buyer.locator("main")).to_contain_text("Paid")

        log_in(seller, base_url, "sally", ids["password"])
        seller.goto(f"{base_url}/seller/orders/")
        seller.get_by_role("link", name=re.compile(r"^Order \d+")).first.click()
        seller.get_by_label("Tracking number").fill("TRACK-42")
        seller.get_by_role("button", name="Mark shipped").click()
        expect(seller.locator("main")).to_contain_text("Shipped")

        buyer.goto(f"{base_url}/orders/")
        buyer.get_by_role("link", name=re.compile(r"Order \d+")).first.click()
        expect(buyer.locator("main")).to_contain_text("TRACK-42")
    finally:
        buyer.context.close()
        seller.context.close()
