"""No dead links: a crawler follows every same-site link and GET form on the demo data, as a
visitor, a buyer, a seller and staff, and no target may answer 404 or a server error.

Django's test client is enough: what is checked is where the links point, not how they look.
The crawl is bounded (pages per role, query-string variants per path) so it stays quick."""

from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from catalog.models import Product
from orders import services as order_services
from rooms import services as room_services
from rooms.models import ShoppingRoom

DEMO_PASSWORD = "liveshop-demo"
START = [
    "/",
    "/products/",
    "/rooms/",
    "/cart/",
    "/orders/",
    "/following/",
    "/accounts/profile/",
    "/accounts/become-seller/",
    "/seller/products/",
    "/seller/rooms/",
    "/seller/orders/",
]
# Targets never fetched: leaving (logout only takes POST anyway) and the admin's insides,
# whose links Django itself tests; the admin's front page is still checked.
SKIP_PREFIXES = ("/accounts/logout/", "/admin/", "/api/")
ALWAYS_CHECK = {"/admin/"}
MAX_FETCHES = 250
MAX_VARIANTS_PER_PATH = 4


class LinkParser(HTMLParser):
    """Collects <a href> and the action of every GET form."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "form" and (values.get("method") or "get").lower() == "get":
            self.links.append(values.get("action") or "")


def same_site_links(html: str, page_url: str) -> list[str]:
    parser = LinkParser()
    parser.feed(html)
    found = []
    for href in parser.links:
        url, _fragment = urldefrag(urljoin(f"http://testserver{page_url}", href))
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or parts.netloc != "testserver":
            continue  # other sites, mailto:, javascript:
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def crawl(client: Client) -> tuple[dict[str, list[str]], int]:
    """Breadth-first from START; returns {bad target: [pages linking to it]} and the count of
    pages fetched."""
    queue: deque[tuple[str, str]] = deque((url, "(start)") for url in START)
    seen: set[str] = set()
    variants: dict[str, int] = {}
    bad: dict[str, list[str]] = {}
    fetched = 0
    while queue and fetched < MAX_FETCHES:
        url, source = queue.popleft()
        path = urlsplit(url).path
        if url in seen:
            if url in bad:
                bad[url].append(source)
            continue
        if path.startswith(SKIP_PREFIXES) and url not in ALWAYS_CHECK:
            continue
        if variants.get(path, 0) >= MAX_VARIANTS_PER_PATH:
            continue
        seen.add(url)
        variants[path] = variants.get(path, 0) + 1
        response = client.get(url)
        fetched += 1
        if response.status_code == 404 or response.status_code >= 500:
            bad[url] = [f"{source} -> {response.status_code}"]
            continue
        if response.status_code in {301, 302, 303, 307, 308}:
            queue.append((response["Location"], url))
            continue
        if url in ALWAYS_CHECK or "text/html" not in response.get("Content-Type", ""):
            continue
        for link in same_site_links(response.content.decode(), url):
            queue.append((link, url))
    return bad, fetched


@pytest.fixture
def demo_site(db, settings):
    settings.DEBUG = True  # seed_demo refuses to plant known passwords with DEBUG off
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    # An ended show too, so the "ended" sections and their links are crawled.
    seller = User.objects.get(username="demo_seller")
    room = room_services.room_create(
        seller=seller, title="Last week's show", scheduled_start=timezone.now()
    )
    room_services.room_go_live(room=room, actor=seller)
    room_services.room_end(room=room, actor=seller)
    assert ShoppingRoom.objects.filter(status=ShoppingRoom.Status.ENDED).exists()
    # Orders (a paid one and one waiting for payment), so order pages and their links are
    # crawled for the buyer and the seller; and an item left in the cart.
    buyer = User.objects.get(username="demo_buyer")
    product = Product.objects.filter(seller=seller, stock__gt=2).first()
    order_services.cart_add(cart=order_services.cart_for_user(user=buyer), product=product)
    paid = order_services.checkout_create_order(user=buyer)
    order_services.dummy_payment_complete(order=paid, buyer=buyer, pay=True)
    order_services.cart_add(cart=order_services.cart_for_user(user=buyer), product=product)
    order_services.checkout_create_order(user=buyer)
    order_services.cart_add(cart=order_services.cart_for_user(user=buyer), product=product)


@pytest.mark.parametrize("username", [None, "demo_buyer", "demo_seller", "demo_staff"])
def test_no_link_or_get_form_on_the_site_leads_to_a_missing_page(demo_site, username):
    client = Client()
    if username:
        assert client.login(username=username, password=DEMO_PASSWORD)
    bad, fetched = crawl(client)
    print(f"{username or 'visitor'}: {fetched} pages fetched")
    assert fetched > 10, "the crawl found almost nothing: are the start pages right?"
    assert not bad, "dead links:\n" + "\n".join(
        f"{target}  linked from {', '.join(sources[:3])}" for target, sources in bad.items()
    )


# --- empty states: a page with nothing to list says so and offers the next step ----------

EMPTY_PAGES = {
    None: ["/", "/products/", "/rooms/", "/cart/", "/sellers/sam_seller/"],
    "buyer": ["/cart/", "/orders/", "/following/"],
    "seller": ["/seller/products/", "/seller/rooms/", "/seller/orders/"],
}


@pytest.mark.parametrize("who", [None, "buyer", "seller"])
def test_every_list_page_shows_an_empty_state_on_an_empty_site(client, buyer, seller, who):
    if who:
        client.force_login({"buyer": buyer, "seller": seller}[who])
    for url in EMPTY_PAGES[who]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "empty-state" in response.content.decode(), f"{url} has no empty state"
