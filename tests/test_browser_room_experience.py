"""The room page as a viewer lives it, in Chromium against a real server (uvicorn): the stock counts
down live as another buyer checks out (down to "Sold out"), a new spotlight animates in, the
chat keeps a reader who scrolled up where they are and offers a "new messages" pill, and a
dropped connection shows a banner, comes back by itself and carries on without duplicates.

The site runs on Redis (room store and channel layer), as in production: the chat history
and the remembered spotlight outlive the server restart the last test makes."""

import json
import re
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser import log_in, send_chat, watch_errors
from tests.helpers import WebServer, manage, python, run_script, site_env

pytestmark = pytest.mark.redis

# A second product in the scenario's live room, and buyer A ("amy"); bob is buyer B.
SETUP = """
import django, json
django.setup()
from accounts import services as accounts
from accounts.models import User
from catalog import services as catalog
from catalog.models import Product
from rooms import services as rooms
from rooms.models import ShoppingRoom
sally = User.objects.get(username="sally")
hat = Product.objects.get(seller=sally)
panama = catalog.product_create(
    seller=sally, name="Panama hat", price="49.00", stock=10, category=hat.category
)
room = ShoppingRoom.objects.get(seller=sally)
rooms.room_update(room=room, actor=sally, products=[hat, panama])
accounts.user_register(username="amy", email="amy@example.test", password={password!r})
print(json.dumps({{"panama": panama.pk}}))
"""

# The chat log's distance from its bottom, as room.js measures it.
FROM_BOTTOM = "log => log.scrollHeight - log.scrollTop - log.clientHeight"


@pytest.fixture(scope="module")
def experience_site(tmp_path_factory, redis_url):
    """tests/live_room_scenario.py's live room (the straw hat, 4 in stock, spotlighted) plus
    a Panama hat (10), on a server that can be restarted; yields (server, ids)."""
    import redis

    # A database of its own, emptied first: other tests' rooms share ids with these.
    url = urllib.parse.urlsplit(redis_url)._replace(path="/13").geturl()
    redis.Redis.from_url(url).flushdb()
    env = site_env(tmp_path_factory.mktemp("room-experience"), REDIS_URL=url)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = run_script("tests/live_room_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    ids = json.loads(scenario.stdout.strip().splitlines()[-1])
    made = python(SETUP.format(password=ids["password"]), env=env)
    assert made.returncode == 0, made.stderr
    ids.update(json.loads(made.stdout.strip().splitlines()[-1]))
    server = WebServer(env)
    server.start()
    try:
        yield server, ids
    finally:
        server.stop()
        redis.Redis.from_url(url).flushdb()


def api(base_url: str, token: str, path: str, body: dict | None = None) -> dict:
    """POST to the REST API as a mobile client would (JWT, JSON)."""
    request = urllib.request.Request(
        f"{base_url}{path}",
        method="POST",
        data=json.dumps(body or {}).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def buy(base_url: str, token: str, product_id, quantity: int) -> None:
    """Buyer B checks out: the order is pending and its units are reserved."""
    api(base_url, token, "/api/v1/cart/items/", {"product_id": product_id, "quantity": quantity})
    api(base_url, token, "/api/v1/checkout/")


def room_page(browser, base_url: str, ids: dict, username: str, **context_options):
    page = browser.new_context(**context_options).new_page()
    log_in(page, base_url, username, ids["password"])
    page.goto(f"{base_url}/rooms/{ids['room']}/")
    expect(page.get_by_role("textbox", name="Message")).to_be_enabled()  # the socket is up
    return page


def has_class(name: str) -> re.Pattern:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def test_stock_counts_down_live_and_a_new_spotlight_animates_in_on_a_phone(
    chromium, experience_site
):
    server, ids = experience_site
    base_url = server.base_url
    # Buyer A watches on a phone: the video comes first, then the spotlight, then the chat.
    amy = room_page(chromium, base_url, ids, "amy", viewport={"width": 390, "height": 844})
    errors = watch_errors(amy)
    try:
        tops = [
            amy.locator(selector).bounding_box()["y"]
            for selector in ("#room-video", "#spotlight", "#chat-log")
        ]
        assert tops == sorted(tops), tops
        assert amy.evaluate("document.documentElement.scrollWidth") <= 390

        card = amy.locator("#spotlight")
        stock = amy.locator("#spotlight-stock")
        listed = amy.locator(f'.room-product[data-product-id="{ids["hat"]}"]')
        add = amy.locator("#spotlight-add")
        expect(stock).to_have_text("4 left")
        expect(stock).to_have_class(has_class("stock--low"))
        expect(add).to_be_visible()

        # Buyer B checks out one straw hat: A's card and list count down without a reload.
        buy(base_url, ids["buyer"], ids["hat"], 1)
        expect(stock).to_have_text("3 left")
        expect(listed.locator("[data-stock]")).to_have_text("3 left")
        expect(add).to_be_visible()
        # A late joiner's card shows the count now too: room-state's spotlight still says 4
        # (remembered when it was spotlighted), its product_stock says 3.
        late = room_page(chromium, base_url, ids, "bob")
        expect(late.locator("#spotlight-name")).to_have_text("Straw hat")
        expect(late.locator("#spotlight-stock")).to_have_text("3 left")
        late.context.close()

        # ...then the last three: sold out, and nothing left to add.
        buy(base_url, ids["buyer"], ids["hat"], 3)
        expect(stock).to_have_text("Sold out")
        expect(card).to_have_class(has_class("spotlight--sold-out"))
        expect(add).to_be_hidden()
        expect(amy.locator("#spotlight-sold-out")).to_be_visible()
        expect(amy.locator("#spotlight-sold-out")).to_be_disabled()
        expect(listed.locator("[data-stock]")).to_have_text("Sold out")
        expect(listed.get_by_role("button", name="Add to cart")).to_be_hidden()

        # The seller puts the Panama hat in the spotlight: the card animates in with it.
        api(
            base_url,
            ids["seller"],
            f"/api/v1/rooms/{ids['room']}/spotlight/",
            {"product_id": ids["panama"]},
        )
        expect(amy.locator("#spotlight-name")).to_have_text("Panama hat")
        expect(card).to_have_class(has_class("spotlight--enter"))
        expect(card).not_to_have_class(has_class("spotlight--sold-out"))
        assert card.evaluate("card => getComputedStyle(card).animationName") == "spotlight-enter"
        expect(stock).to_have_text("10 left")
        expect(stock).not_to_have_class(has_class("stock--low"))
        expect(add).to_be_visible()
        expect(amy.locator("#spotlight-sold-out")).to_be_hidden()
        assert errors == []
    finally:
        amy.context.close()


def test_chat_keeps_a_reader_who_scrolled_up_in_place_and_offers_a_new_messages_pill(
    chromium, experience_site
):
    server, ids = experience_site
    base_url = server.base_url
    amy = room_page(chromium, base_url, ids, "amy")
    sally = room_page(chromium, base_url, ids, "sally")
    bob = room_page(chromium, base_url, ids, "bob")
    errors = watch_errors(amy)
    log, pill = amy.locator("#chat-log"), amy.locator("#chat-new")
    try:
        # Long lines fill the log; a reader at the bottom follows them by itself.
        for n in range(3):
            send_chat(sally, f"Note {n}: " + "straw hats are woven by hand " * 14)
        expect(log.locator(".chat-msg")).to_have_count(3)
        assert log.evaluate("log => log.scrollHeight > log.clientHeight + 200")
        amy.wait_for_function(
            f"({FROM_BOTTOM})(document.getElementById('chat-log')) < 48", polling=100
        )
        expect(pill).to_be_hidden()

        # The reader scrolls up; new lines do not pull them down but show the pill.
        log.hover()
        amy.mouse.wheel(0, -5000)
        amy.wait_for_function("document.getElementById('chat-log').scrollTop === 0")
        send_chat(bob, "first new line")
        send_chat(bob, "second new line")
        expect(log).to_contain_text("second new line")
        expect(pill).to_have_text("2 new messages ↓")
        assert log.evaluate("log => log.scrollTop") == 0

        # The pill is a button: Enter on it jumps to the newest line and it goes.
        pill.focus()
        amy.keyboard.press("Enter")
        expect(pill).to_be_hidden()
        amy.wait_for_function(
            f"({FROM_BOTTOM})(document.getElementById('chat-log')) < 48", polling=100
        )
        expect(log).to_be_focused()

        # Scrolling back down by hand clears it too.
        amy.mouse.wheel(0, -5000)
        amy.wait_for_function("document.getElementById('chat-log').scrollTop === 0")
        send_chat(sally, "one more thing")
        expect(pill).to_have_text("1 new message ↓")
        log.hover()
        amy.mouse.wheel(0, 5000)
        expect(pill).to_be_hidden()
        assert errors == []
    finally:
        for page in (amy, sally, bob):
            page.context.close()


def test_a_dropped_connection_shows_a_banner_and_comes_back_without_duplicates(
    chromium, experience_site
):
    server, ids = experience_site
    base_url = server.base_url
    amy = room_page(chromium, base_url, ids, "amy")
    bob = room_page(chromium, base_url, ids, "bob")
    errors = watch_errors(amy)
    banner, log = amy.locator("#connection-banner"), amy.locator("#chat-log")
    try:
        send_chat(bob, "said before the restart")
        expect(log).to_contain_text("said before the restart")
        expect(banner).to_be_hidden()
        before = log.locator(".chat-msg").count()

        # The server goes away (a crash, a deploy): the page says so...
        server.process.kill()
        server.process.wait(timeout=10)
        server.process = None
        expect(banner).to_be_visible()
        expect(banner).to_have_text("Reconnecting…")
        expect(amy.get_by_role("textbox", name="Message")).to_be_disabled()

        # ...and when it is back, reconnects and resubscribes by itself.
        server.start()
        expect(banner).to_be_hidden(timeout=45000)
        expect(amy.get_by_role("textbox", name="Message")).to_be_enabled()

        # Chat, stock and spotlight flow again, without a reload.
        expect(bob.get_by_role("textbox", name="Message")).to_be_enabled(timeout=45000)
        send_chat(bob, "said after the restart")
        expect(log).to_contain_text("said after the restart")
        buy(base_url, ids["buyer"], ids["panama"], 2)
        panama = amy.locator(f'.room-product[data-product-id="{ids["panama"]}"] [data-stock]')
        expect(panama).to_have_text("8 left")
        api(
            base_url,
            ids["seller"],
            f"/api/v1/rooms/{ids['room']}/spotlight/",
            {"product_id": ids["hat"]},
        )
        expect(amy.locator("#spotlight-name")).to_have_text("Straw hat")
        hat_line = amy.locator(f'.room-product[data-product-id="{ids["hat"]}"] [data-stock]')
        expect(amy.locator("#spotlight-stock")).to_have_text(hat_line.inner_text())

        # The history replayed on reconnecting replaced the log: every line once.
        expect(log.locator(".chat-msg")).to_have_count(before + 1)
        expect(log.locator(".chat-msg", has_text="said before the restart")).to_have_count(1)
        message_ids = log.locator(".chat-msg").evaluate_all(
            "items => items.map(item => item.dataset.messageId)"
        )
        assert len(message_ids) == len(set(message_ids))
        assert errors == []
    finally:
        amy.context.close()
        bob.context.close()
