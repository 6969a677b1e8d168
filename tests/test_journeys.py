"""The whole site as its people use it, in Debian's Chromium against a real server (issue 7):

1. a shopper lands on Home, signs up, filters products, watches a live show (real video from
   broadcast_demo), chats, buys the spotlighted product and finds the paid order;
2. a new seller opens a shop, adds products with pictures, plans a show, goes live with the
   fake camera, spotlights, moderates a spammer, admits from the queue, ends the show and
   reads its orders and numbers;
3. staff find journey 1's order in Django admin, with its items and events, and a payment
   flagged for review;
4. journey 1 again on a phone-sized screen: every step reachable, nothing wider than the screen.

One site for the module (tests/journeys.py: seed_demo's data, one server, one browser). The
journeys run in file order; journey 3 uses journey 1's order when it ran, and makes its own
paid order otherwise, so each journey also passes alone (`-k staff`).

`make screenshots` runs this file with LIVESHOP_SCREENSHOTS=docs/screenshots: each journey then
saves its key screens there (README "Screenshots")."""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from tests import journeys
from tests.browser import go_live, log_in, open_nav, send_chat, wait_for_pictures, watch_errors
from tests.journeys import (
    DESKTOP,
    ORDERS_FOR_STAFF,
    PASSWORD,
    PHONE,
    no_horizontal_scroll,
    product_png,
    register,
    shot,
    widest_elements,
)

journey_site = journeys.journey_site  # the module's site (a fixture)

LIVE_ROOM = "Evening drop: denim and silk"
SPOTLIGHTED = "Denim jacket, stonewashed"


def assert_fits_the_phone(page, mobile: bool) -> None:
    if mobile:
        assert no_horizontal_scroll(page), (page.url, widest_elements(page))


def shopper_journey(browser, site, *, username: str, mobile: bool, prefix: str) -> str:
    """Journey 1 (and, on a phone, journey 4). Returns the paid order's id."""
    base_url = site.base_url

    def name(step: int, label: str) -> str:  # 01-home.png, 31-mobile-home.png...
        return f"{prefix}{step}-{'mobile-' if mobile else ''}{label}"

    context = browser.new_context(**(PHONE if mobile else DESKTOP))
    page = context.new_page()
    errors = watch_errors(page)
    try:
        # Home: what is live (with viewers), what is coming (with a countdown), products.
        page.goto(f"{base_url}/")
        live = page.locator("section", has=page.get_by_role("heading", name="Live now"))
        live_card = live.locator(".room-card", has_text=LIVE_ROOM)
        expect(live_card).to_be_visible()
        expect(live_card.locator(".room-card__viewers")).to_have_text(
            re.compile(r"[1-9]\d* watching")
        )
        upcoming = page.locator("section", has=page.get_by_role("heading", name="Upcoming shows"))
        soon_card = upcoming.locator(".room-card", has_text="Tonight: candles and cushions")
        countdown = soon_card.locator("[data-countdown]")
        expect(countdown).to_have_text(re.compile(r"\d+:\d\d:\d\d"))
        expect(countdown).not_to_have_text(countdown.inner_text())  # it ticks
        featured = page.locator(
            "section", has=page.get_by_role("heading", name="Featured products")
        )
        expect(featured.locator(".product-card").first).to_be_visible()
        assert_fits_the_phone(page, mobile)
        shot(page, name(1, "home"), full_page=True)

        # Sign up from the header.
        register(page, base_url, username)
        expect(page.locator(".nav-list__account")).to_contain_text(username)

        # Products: filter by category and stock from the header's Products link.
        open_nav(page)  # phones fold the header's links behind "Menu"
        page.locator(".site-nav").get_by_role("link", name="Products", exact=True).click()
        page.wait_for_url(f"{base_url}/products/")
        expect(page.locator(".product-card", has_text="Canvas sneakers")).to_be_visible()
        if mobile:
            # Phones fold the filters behind a toggle.
            page.get_by_text("More filters and sorting").click()
        page.get_by_label("Category").select_option(label="Fashion")
        page.get_by_label("In stock only").check()
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"/products/\?.*in_stock=true"))
        results = page.locator(".catalog-layout__results")
        expect(results.locator(".product-card", has_text=SPOTLIGHTED)).to_be_visible()
        expect(results.locator(".product-card", has_text="Silk scarf")).to_be_visible()
        # Sold out and other categories are filtered away.
        expect(results.locator(".product-card", has_text="Canvas sneakers")).to_have_count(0)
        expect(results.locator(".product-card", has_text="Wireless earbuds")).to_have_count(0)
        assert_fits_the_phone(page, mobile)
        shot(page, name(2, "products"))

        # The live show, from Home: real video (broadcast_demo's test pattern).
        open_nav(page)
        page.locator(".site-nav").get_by_role("link", name="Home").click()
        page.wait_for_url(f"{base_url}/")
        page.locator(".room-card__title").get_by_role("link", name=LIVE_ROOM).click()
        page.wait_for_url(re.compile(r"/rooms/[^/]+/$"))
        room_url = page.url
        watching = wait_for_pictures(page, "#live-video", timeout_ms=45000)
        assert watching["width"] > 0 and not watching["paused"]
        expect(page.locator("#room-video")).to_have_attribute("data-video-state", "live")
        expect(page.locator("#viewer-count")).not_to_have_text("0")

        send_chat(page, f"Hi! {username} here: does the jacket run large?")
        expect(page.locator("#chat-log")).to_contain_text(f"{username} here")

        expect(page.locator("#spotlight-name")).to_have_text(SPOTLIGHTED)
        page.evaluate("window.__stillTheSamePage = true")
        page.locator("#spotlight-add").click()
        expect(page.locator("#cart-count")).to_have_text("1")
        assert page.evaluate("window.__stillTheSamePage") is True and page.url == room_url
        assert_fits_the_phone(page, mobile)
        shot(page, name(3, "room-live"), full_page=mobile)

        # Check out with the dummy backend, from the header's cart.
        page.locator(".nav-cart").click()
        page.wait_for_url(f"{base_url}/cart/")
        expect(page.locator("main")).to_contain_text(SPOTLIGHTED)
        assert_fits_the_phone(page, mobile)
        shot(page, name(4, "cart"))
        page.get_by_role("button", name="Check out").click()
        expect(page.locator("main")).to_contain_text("no money moves")
        assert_fits_the_phone(page, mobile)
        shot(page, name(5, "checkout"))
        page.get_by_role("button", name=re.compile(r"^Pay ")).click()
        expect(page.locator("#order-status")).to_contain_text("Paid")

        # The paid order in Orders.
        open_nav(page)
        page.locator(".site-nav").get_by_role("link", name="Orders").click()
        page.wait_for_url(f"{base_url}/orders/")
        order_link = page.get_by_role("link", name=re.compile(r"Order \d+")).first
        expect(order_link).to_be_visible()
        expect(page.locator("main")).to_contain_text("Paid")
        assert_fits_the_phone(page, mobile)
        shot(page, name(6, "orders"))
        order_id = re.search(r"\d+", order_link.inner_text()).group(0)
        order_link.click()
        expect(page.locator("main")).to_contain_text(SPOTLIGHTED)
        assert_fits_the_phone(page, mobile)
        assert errors == [], errors
        return order_id
    finally:
        context.close()


def test_journey_1_shopper_watches_chats_and_buys_from_a_live_show(chromium_media, journey_site):
    order_id = shopper_journey(
        chromium_media, journey_site, username="shirley_shopper", mobile=False, prefix="0"
    )
    journey_site.results["shopper"] = ("shirley_shopper", order_id)


SELLER = "nora_newshop"
NEW_PRODUCTS = [
    ("Hand-thrown vase", "35.00", "5", (40, 110, 160)),
    ("Woven basket", "22.50", "3", (190, 140, 60)),
]
SPAM = [f"BUY CHEAP FOLLOWERS {n} → spam.example" for n in range(1, 5)]


def test_journey_2_seller_runs_a_show_from_shop_to_numbers(chromium_media, journey_site):
    base_url = journey_site.base_url
    seller_context = chromium_media.new_context(**DESKTOP)
    spammer_context = chromium_media.new_context(**DESKTOP)
    buyer_context = chromium_media.new_context(**DESKTOP)
    seller, spammer, buyer = (
        c.new_page() for c in (seller_context, spammer_context, buyer_context)
    )
    errors = watch_errors(seller)
    # Ending the show and banning ask "are you sure?" first: the seller is sure.
    seller.on("dialog", lambda dialog: dialog.accept())
    try:
        # A new account opens a shop through the become-seller page.
        seller.goto(f"{base_url}/")
        register(seller, base_url, SELLER)
        open_nav(seller)
        seller.locator(".site-nav").get_by_role("link", name="Sell on LiveShop").click()
        seller.wait_for_url(f"{base_url}/accounts/become-seller/")
        seller.get_by_label("Shop name").fill("Nora's Nook")
        seller.get_by_label("Bio").fill("Pottery and baskets, made by hand.")
        seller.get_by_role("button", name="Open my shop").click()
        # Straight on to the first product.
        seller.wait_for_url(f"{base_url}/seller/products/new/")
        # Now a seller: the seller bar under the header has their pages.
        seller_nav = seller.get_by_role("navigation", name="Seller")
        expect(seller_nav.get_by_role("link", name="My products")).to_be_visible()

        # Products with pictures (real PNGs, uploaded through the file input).
        for index, (name, price, stock, colour) in enumerate(NEW_PRODUCTS):
            if index:
                seller.get_by_role("link", name="Add a product").first.click()
                seller.wait_for_url(f"{base_url}/seller/products/new/")
            seller.get_by_label("Name").fill(name)
            seller.get_by_label("Description").fill(f"{name}, one of a kind.")
            seller.get_by_label("Category").select_option(label="Home")
            seller.get_by_label("Price").fill(price)
            seller.get_by_label("Stock").fill(stock)
            seller.get_by_label("Image").set_input_files(product_png(name, colour))
            seller.get_by_role("button", name="Add product").click()
            seller.wait_for_url(f"{base_url}/seller/products/")
            expect(seller.locator("table")).to_contain_text(name)
        shot(seller, "10-seller-products")
        seller.get_by_role("link", name=f"View {NEW_PRODUCTS[0][0]}").click()
        picture = seller.locator("main img").first
        expect(picture).to_be_visible()
        seller.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
        )

        # A show with those products, an hour from now.
        seller_nav.get_by_role("link", name="My rooms").click()
        seller.get_by_role("link", name="Plan a show").first.click()
        seller.get_by_label("Title").fill("Nora's pottery hour")
        seller.get_by_label("Description").fill("Vases and baskets, shown up close.")
        start = timezone.localtime(timezone.now() + timedelta(hours=1))
        seller.get_by_label("Scheduled start").fill(start.strftime("%Y-%m-%dT%H:%M"))
        for name, *_ in NEW_PRODUCTS:
            seller.get_by_label(re.compile(re.escape(name))).check()
        seller.get_by_role("button", name="Schedule the show").click()
        seller.wait_for_url(f"{base_url}/seller/rooms/")
        room_href = seller.get_by_role(
            "link", name="Nora's pottery hour", exact=True
        ).get_attribute("href")
        room_id = re.fullmatch(r"/rooms/([^/]+)/", room_href).group(1)
        room_url = f"{base_url}{room_href}"

        # Live from the studio with the fake camera; the room shows on Home as live.
        go_live(seller, base_url, room_id)
        expect(seller.locator("#stream-status")).to_have_attribute(
            "data-status", "live", timeout=15000
        )
        expect(seller.locator("#room-status")).to_have_text("Live")

        # A buyer comes in (and watches the video), then a spammer.
        log_in(buyer, base_url, "quinn_queue", PASSWORD)
        buyer.goto(room_url)
        wait_for_pictures(buyer, "#live-video", timeout_ms=45000)
        log_in(spammer, base_url, "spammy_sam", PASSWORD)
        spammer.goto(room_url)
        expect(seller.locator("#viewer-count")).to_have_text("3")

        # Spotlight: every viewer sees the product, with its picture.
        seller.get_by_label("Product to spotlight").select_option(label=NEW_PRODUCTS[0][0])
        seller.get_by_role("button", name="Spotlight", exact=True).click()
        for page in (seller, buyer):
            expect(page.locator("#spotlight-name")).to_have_text(NEW_PRODUCTS[0][0])
        expect(buyer.locator("#spotlight-image")).to_be_visible()
        send_chat(seller, "Welcome! The vase is glazed by hand.")
        send_chat(buyer, "Is the vase watertight?")
        shot(seller, "11-studio-live")

        # The spammer floods the chat; the seller deletes, mutes, then bans.
        for line in SPAM:
            send_chat(spammer, line)
        log = seller.locator("#chat-log")
        for line in SPAM:
            expect(log).to_contain_text(line)
        spam = log.locator(".chat-msg", has_text=SPAM[1])
        spam.get_by_role("button", name="Delete the message from spammy_sam").click()
        expect(log.locator(".chat-msg", has_text=SPAM[1])).to_have_count(0)
        expect(buyer.locator("#chat-log")).not_to_contain_text(SPAM[1])

        log.locator(".chat-msg", has_text=SPAM[2]).get_by_role(
            "button", name="Mute spammy_sam for 5 minutes"
        ).click()
        expect(seller.locator("#host-notice")).to_contain_text("muted")
        send_chat(spammer, "you cannot stop me")
        expect(spammer.locator("#chat-error")).to_contain_text("You are muted")
        expect(buyer.locator("#chat-log")).not_to_contain_text("you cannot stop me")

        log.locator(".chat-msg", has_text=SPAM[3]).get_by_role(
            "button", name="Ban spammy_sam from this room"
        ).click()
        expect(seller.locator("#host-notice")).to_contain_text("banned")
        expect(spammer.locator("#chat-error")).to_contain_text("You were banned from this room.")
        expect(spammer.get_by_role("textbox", name="Message")).to_be_disabled()
        expect(seller.locator("#viewer-count")).to_have_text("2")
        shot(seller, "12-moderation", full_page=True)

        # The queue: the buyer lines up, the seller admits them.
        buyer.get_by_role("button", name="Join the queue").click()
        expect(seller.locator("#queue-list")).to_contain_text("quinn_queue")
        seller.get_by_role("button", name="Admit next").click()
        expect(buyer.locator("#queue-status")).to_have_text("It's your turn!")
        expect(seller.locator("#queue-empty")).to_be_visible()

        # The buyer buys the spotlighted vase during the show.
        buyer.locator("#spotlight-add").click()
        expect(buyer.locator("#cart-count")).to_have_text("1")
        # ...paying in another tab: the show plays on in this one.
        checkout = buyer_context.new_page()
        checkout.goto(f"{base_url}/cart/")
        checkout.get_by_role("button", name="Check out").click()
        checkout.get_by_role("button", name=re.compile(r"^Pay ")).click()
        expect(checkout.locator("#order-status")).to_contain_text("Paid")

        # The seller ends the show: the buyer's page says so.
        seller.get_by_role("button", name="End show").click()
        seller.wait_for_url(f"{base_url}/seller/rooms/")
        expect(buyer.locator("#room-status")).to_have_text("Ended")

        # The orders: the buyer's, with the vase.
        seller_nav.get_by_role("link", name="Sales").click()
        seller.get_by_role("link", name=re.compile(r"^Order \d+")).first.click()
        expect(seller.locator("main")).to_contain_text(NEW_PRODUCTS[0][0])
        expect(seller.locator("main")).to_contain_text("quinn_queue")
        shot(seller, "13-seller-order")

        # The room's numbers (analytics: /seller/rooms/<id>/stats/ and /seller/dashboard/).
        # Chat messages counts every line the room accepted (the seller's, the buyer's and
        # the four spam lines, deleted or not, as ShoppingRoom.total_chat_messages does);
        # the muted line was refused, so it is not one. Peak viewers: seller, buyer and spammer
        # at once; unique viewers leave the seller out, so conversion is 1 order / 2 viewers.
        seller.goto(f"{base_url}/seller/rooms/{room_id}/stats/")
        stat = lambda key: seller.locator(f'[data-stat="{key}"]')  # noqa: E731
        expect(stat("orders")).to_have_text(re.compile(r"^\s*1\s*$"))
        expect(stat("chat_messages")).to_have_text(re.compile(r"^\s*6\s*$"))
        expect(stat("add_to_carts")).to_have_text(re.compile(r"^\s*1\s*$"))
        expect(stat("peak_viewers")).to_have_text(re.compile(r"^\s*3\s*$"))
        expect(stat("unique_viewers")).to_have_text(re.compile(r"^\s*2\s*$"))
        expect(stat("revenue")).to_contain_text(re.compile(r"35[.,]00"))
        expect(stat("conversion")).to_have_text(re.compile(r"50[.,]0\s*%"))
        shot(seller, "14-room-numbers", full_page=True)
        seller.goto(f"{base_url}/seller/dashboard/")
        expect(seller.locator("main")).to_contain_text("Nora's pottery hour")
        shot(seller, "15-seller-dashboard", full_page=True)
        assert errors == [], errors
    finally:
        for context in (seller_context, spammer_context, buyer_context):
            context.close()


def test_journey_3_staff_find_an_order_and_a_flagged_payment(chromium_media, journey_site):
    base_url = journey_site.base_url
    # Journey 1's order; alone, this journey pays an order of its own first.
    username, order_id = journey_site.results.get("shopper", ("demo_buyer", None))
    made = journey_site.run(ORDERS_FOR_STAFF, username, "0" if order_id else "1")
    order_id = order_id or str(made["paid"])
    flagged_id = str(made["flagged"])

    page = chromium_media.new_context(**DESKTOP).new_page()
    try:
        page.goto(f"{base_url}/admin/")
        page.get_by_label("Username").fill("demo_staff")
        page.get_by_label("Password").fill("liveshop-demo")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Orders", exact=True).first.click()

        # Search by the buyer's name: their paid order is there.
        page.locator("#searchbar").fill(username)
        page.locator("#changelist-search").get_by_role("button", name="Search").click()
        row = page.locator(
            "#result_list tbody tr", has=page.get_by_role("link", name=order_id, exact=True)
        )
        expect(row).to_contain_text("Paid")
        shot(page, "20-admin-orders")
        row.get_by_role("link", name=order_id, exact=True).click()
        main = page.locator("#content")
        expect(main).to_contain_text(username)
        # Its items and its events (inlines).
        expect(page.locator(".inline-group", has_text="items")).to_contain_text(
            "Vitamin C serum" if username == "demo_buyer" else SPOTLIGHTED
        )
        expect(page.locator(".inline-group", has_text="events")).to_contain_text(
            re.compile(r"pending\W+paid", re.I)
        )
        shot(page, "21-admin-order", full_page=True)

        # The flagged payment: the "needs review" filter finds it, with the reason.
        page.goto(f"{base_url}/admin/orders/order/?needs_review__exact=1")
        flagged = page.locator(
            "#result_list tbody tr", has=page.get_by_role("link", name=flagged_id, exact=True)
        )
        expect(flagged).to_be_visible()
        flagged.get_by_role("link", name=flagged_id, exact=True).click()
        expect(main).to_contain_text("expected")
        expect(main).to_contain_text("paid 1 USD")
        shot(page, "22-admin-flagged-payment", full_page=True)
    finally:
        page.context.close()


def test_journey_4_shopper_journey_on_a_phone(chromium_media, journey_site):
    shopper_journey(chromium_media, journey_site, username="pia_phone", mobile=True, prefix="3")
