"""Keyboard only: a buyer chats in a live room and changes, empties and checks out the cart
without a mouse. Every control is reached with Tab (from the top of the page, in the page's
own order) and activated with Enter or Space, the way a keyboard user does it."""

import re

from playwright.sync_api import expect

from tests.browser import log_in

MAX_TABS = 80  # more than any page here needs; a control past this is effectively unreachable


def tab_to(page, selector: str) -> None:
    """Presses Tab from the top of the page until the element matching `selector` has focus."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement?.matches(s)", selector):
            return
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {selector!r}")


def test_a_buyer_chats_with_the_keyboard_only(chromium, live_room_site):
    base_url, ids = live_room_site
    page = chromium.new_context().new_page()
    try:
        log_in(page, base_url, "bob", ids["password"])
        page.goto(f"{base_url}/rooms/{ids['room']}/")
        expect(page.locator("#chat-input")).to_be_enabled()  # the socket is open

        tab_to(page, "#chat-input")
        page.keyboard.type("Hello from the keyboard")
        page.keyboard.press("Enter")

        expect(page.locator("#chat-log")).to_contain_text("Hello from the keyboard")
        expect(page.locator("#chat-input")).to_have_value("")
    finally:
        page.context.close()


def test_a_buyer_changes_empties_and_checks_out_the_cart_with_the_keyboard_only(
    chromium, live_room_site
):
    base_url, ids = live_room_site
    page = chromium.new_context().new_page()
    room_url = f"{base_url}/rooms/{ids['room']}/"
    try:
        log_in(page, base_url, "bob", ids["password"])
        # Add the spotlighted product with Enter.
        page.goto(room_url)
        expect(page.locator("#spotlight-add")).to_be_visible()
        tab_to(page, "#spotlight-add")
        page.keyboard.press("Enter")
        expect(page.locator("#cart-count")).to_have_text("1")

        # Change the quantity: type it, then Space on "Update".
        page.goto(f"{base_url}/cart/")
        tab_to(page, "input[name=quantity]")
        page.keyboard.press("Control+A")
        page.keyboard.type("2")
        tab_to(page, ".cart-qty button")
        page.keyboard.press("Space")
        expect(page.locator("input[name=quantity]")).to_have_value("2")
        expect(page.locator("#cart-count")).to_have_text("2")

        # Remove it with Enter: the cart says it is empty.
        tab_to(page, "form:has(input[value=remove]) button")
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_contain_text("Your cart is empty")

        # Add it again and check out, then pay, all with the keyboard.
        page.goto(room_url)
        expect(page.locator("#spotlight-add")).to_be_visible()
        tab_to(page, "#spotlight-add")
        page.keyboard.press("Space")
        expect(page.locator("#cart-count")).to_have_text("1")
        page.goto(f"{base_url}/cart/")
        tab_to(page, "form[action$='/checkout/'] button")
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_contain_text("no money moves")
        tab_to(page, "button[value=pay]")
        page.keyboard.press("Enter")
        expect(page.locator("#order-status")).to_contain_text("Paid")
        expect(page).to_have_url(re.compile(r"/checkout/success/|/orders/"))
    finally:
        page.context.close()
