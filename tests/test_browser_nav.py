"""The site header in Debian's Chromium against a real server (issue 7): one row on a desktop,
a "Menu" that folds the links on a phone (keyboard usable), the seller bar, and the links
still there when scripts are off."""

from playwright.sync_api import expect

from tests.browser import log_in, open_nav

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

MAIN_LINKS = ["Home", "Rooms", "Products", "Following", "Orders"]
SELLER_LINKS = ["Dashboard", "My rooms", "My products", "Sales"]


def fits_the_screen(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_sellers_header_is_one_row_with_the_seller_bar_under_it(chromium, live_room_site):
    base_url, ids = live_room_site
    page = chromium.new_context(**DESKTOP).new_page()
    try:
        log_in(page, base_url, "sally", ids["password"])
        page.goto(f"{base_url}/seller/rooms/")
        main_nav = page.get_by_role("navigation", name="Main")
        expect(main_nav.get_by_role("button", name="Menu")).to_be_hidden()
        names = [*MAIN_LINKS, "Notifications", "Cart"]
        tops = set()
        for name in names:
            link = main_nav.get_by_role("link", name=name).first
            expect(link).to_be_visible()
            box = link.bounding_box()
            tops.add(round(box["y"] + box["height"] / 2))
        assert len(tops) == 1, f"the header's links sit on {len(tops)} rows"
        expect(main_nav.get_by_role("button", name="Log out")).to_be_visible()
        # The seller's pages are in their own bar, the current one marked.
        seller_nav = page.get_by_role("navigation", name="Seller")
        for name in SELLER_LINKS:
            expect(seller_nav.get_by_role("link", name=name)).to_be_visible()
            expect(main_nav.get_by_role("link", name=name)).to_have_count(0)
        expect(seller_nav.get_by_role("link", name="My rooms")).to_have_attribute(
            "aria-current", "page"
        )
        seller_nav.get_by_role("link", name="Sales").click()
        page.wait_for_url(f"{base_url}/seller/orders/")
        expect(seller_nav.get_by_role("link", name="Sales")).to_have_attribute(
            "aria-current", "page"
        )
    finally:
        page.context.close()


def test_a_buyer_opens_and_closes_the_phone_menu_with_the_keyboard(chromium, live_room_site):
    base_url, ids = live_room_site
    page = chromium.new_context(**PHONE).new_page()
    try:
        log_in(page, base_url, "bob", ids["password"])
        page.goto(f"{base_url}/rooms/{ids['room']}/")
        main_nav = page.get_by_role("navigation", name="Main")
        toggle = main_nav.get_by_role("button", name="Menu")
        # Folded: the badges stay in the top bar, the links wait behind "Menu".
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(main_nav.get_by_role("link", name="Cart")).to_be_visible()
        expect(main_nav.get_by_role("link", name="Notifications")).to_be_visible()
        expect(main_nav.get_by_role("link", name="Home")).to_be_hidden()
        assert page.get_by_role("navigation", name="Seller").count() == 0  # not a seller
        assert fits_the_screen(page)

        # The spotlight's picture keeps its square on a phone (it used to stretch).
        media = page.locator(".spotlight__media").bounding_box()
        assert abs(media["width"] - media["height"]) <= 1, media

        toggle.focus()
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        for name in MAIN_LINKS:
            expect(main_nav.get_by_role("link", name=name)).to_be_visible()
        expect(main_nav.get_by_role("button", name="Log out")).to_be_visible()
        page.keyboard.press("Tab")
        expect(main_nav.get_by_role("link", name="Home")).to_be_focused()
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(toggle).to_be_focused()
        expect(main_nav.get_by_role("link", name="Home")).to_be_hidden()

        # A tap outside closes it too; a link in it goes where it says.
        open_nav(page)
        page.mouse.click(5, 830)  # the page's left margin, below the open menu
        expect(toggle).to_have_attribute("aria-expanded", "false")
        open_nav(page)
        main_nav.get_by_role("link", name="Orders").click()
        page.wait_for_url(f"{base_url}/orders/")
        open_nav(page)
        expect(main_nav.get_by_role("link", name="Orders")).to_have_attribute(
            "aria-current", "page"
        )
    finally:
        page.context.close()


def test_without_javascript_every_header_link_is_still_there(chromium, live_room_site):
    base_url, ids = live_room_site
    context = chromium.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{base_url}/")
        main_nav = page.get_by_role("navigation", name="Main")
        expect(main_nav.get_by_role("button", name="Menu")).to_be_hidden()
        for name in ["Home", "Rooms", "Products", "Cart"]:
            expect(main_nav.get_by_role("link", name=name)).to_be_visible()
        main_nav.get_by_role("link", name="Log in").scroll_into_view_if_needed()
        expect(main_nav.get_by_role("link", name="Log in")).to_be_visible()
        assert fits_the_screen(page)
    finally:
        context.close()
