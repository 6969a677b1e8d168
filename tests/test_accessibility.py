"""axe-core in Debian's Chromium over the main pages, as a visitor, a buyer and a seller.

A page fails on any "serious" or "critical" violation; the failure lists every one of them
(page, rule, impact, the offending elements and axe's help link), so one run shows all the
work to do.

axe-core comes from the `axe-playwright-python` package (pinned in requirements-dev.txt):
we inject only the `axe.min.js` it bundles. To update axe-core, bump that pin; the version
is in the first line of the bundled file.

Adding a page: append a `Page(role, path)` to PAGES. The path may use the ids the scenario
below prints (`{room}`, `{product_path}`, ...); add what a new page needs to SCENARIO.
"""

import importlib.resources
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.browser import log_in
from tests.helpers import manage, python, site_env, web_server

# The rules' verdicts we act on; "moderate" and "minor" are reported by axe but not fatal.
FATAL_IMPACTS = {"serious", "critical"}


@dataclass(frozen=True)
class Page:
    role: str  # "visitor", "buyer" or "seller": who looks at the page
    path: str  # may hold {placeholders} from the scenario's ids
    status: int = 200


PAGES: list[Page] = [
    # A visitor (signed out).
    Page("visitor", "/"),
    Page("visitor", "/products/"),
    Page("visitor", "/products/?q=hat&category={category_slug}&min_price=1&in_stock=on"),
    Page("visitor", "/products/?q=no-such-thing-at-all"),
    Page("visitor", "{product_path}"),
    Page("visitor", "/rooms/"),
    Page("visitor", "/rooms/{room}/"),
    Page("visitor", "/sellers/sally/"),
    Page("visitor", "/cart/"),
    Page("visitor", "/accounts/login/"),
    Page("visitor", "/accounts/register/"),
    Page("visitor", "/no-such-page/", status=404),
    # A signed-in buyer.
    Page("buyer", "/"),
    Page("buyer", "/rooms/{room}/"),
    Page("buyer", "/cart/"),
    Page("buyer", "/payments/dummy/{pending_order}/"),
    Page("buyer", "/orders/"),
    Page("buyer", "/orders/{paid_order}/"),
    Page("buyer", "/accounts/profile/"),
    Page("buyer", "/accounts/become-seller/"),
    Page("buyer", "/following/"),
    Page("buyer", "/notifications/"),
    Page("buyer", "/sellers/sally/"),
    # A seller.
    Page("seller", "/seller/products/"),
    Page("seller", "/seller/products/new/"),
    Page("seller", "/seller/rooms/"),
    Page("seller", "/seller/rooms/new/"),
    Page("seller", "/seller/rooms/{room}/studio/"),
    Page("seller", "/seller/orders/"),
    Page("seller", "/seller/orders/{paid_order}/"),
    Page("seller", "/seller/dashboard/"),
    Page("seller", "/seller/rooms/{room}/stats/"),
    Page("seller", "/accounts/profile/"),
    Page("seller", "/rooms/{room}/"),
    # A buyer on a phone: the folded header, its menu and the room page's one-column layout.
    Page("phone", "/"),
    Page("phone", "/products/"),
    Page("phone", "/rooms/{room}/"),
    Page("phone", "/cart/"),
    Page("phone", "/orders/"),
]

PASSWORD = "x-Secret-99"

# Run inside the site's environment (a separate process, like manage.py): a seller with a
# live room and a scheduled one, a buyer who follows her, has a paid order, a pending one
# and a cart with an item. Prints the ids the page paths use.
SCENARIO = f"""
import json
from datetime import timedelta
from decimal import Decimal

import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
import io

from accounts import services as accounts
from catalog import services as catalog
from orders import services as orders
from rooms import services as rooms

def person(username):
    return accounts.user_register(
        username=username, email=username + "@example.test", password={PASSWORD!r}
    )

def png():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 90)).save(buffer, format="PNG")
    return SimpleUploadedFile("hat.png", buffer.getvalue(), content_type="image/png")

seller = person("sally")
accounts.user_become_seller(user=seller, shop_name="Sally's Hats")
buyer = person("bob")
hats = catalog.category_create(name="Hats")
hat = catalog.product_create(
    seller=seller, name="Straw hat", price=Decimal("19.00"), stock=8, category=hats, image=png()
)
cap = catalog.product_create(
    seller=seller, name="Sun cap", price=Decimal("12.50"), stock=3, category=hats
)
room = rooms.room_create(
    seller=seller, title="Hat show", scheduled_start=timezone.now(), products=[hat, cap]
)
# Following first: going live then leaves the buyer a notification to list.
accounts.seller_follow(follower=buyer, seller=seller)
rooms.room_go_live(room=room, actor=seller)
rooms.room_spotlight(room=room, actor=seller, product_id=hat.pk)
rooms.room_create(
    seller=seller, title="Winter hats", scheduled_start=timezone.now() + timedelta(days=2),
    products=[cap],
)
cart = orders.cart_for_user(user=buyer)
orders.cart_add(cart=cart, product=hat, quantity=1)
paid = orders.checkout_create_order(user=buyer)
orders.dummy_payment_complete(order=paid, buyer=buyer, pay=True)
orders.cart_add(cart=orders.cart_for_user(user=buyer), product=cap, quantity=1)
pending = orders.checkout_create_order(user=buyer)
orders.cart_add(cart=orders.cart_for_user(user=buyer), product=hat, quantity=2)
# The 404 page as production renders it (DEBUG off); see check_pages.
from django.test import Client, override_settings
with override_settings(DEBUG=False):
    not_found = Client().get("/no-such-page/")
assert not_found.status_code == 404, not_found.status_code
print(json.dumps({{
    "not_found_html": not_found.content.decode(),
    "room": str(room.pk),
    "product_path": hat.get_absolute_url(),
    "category_slug": hats.slug,
    "paid_order": str(paid.pk),
    "pending_order": str(pending.pk),
}}))
"""


@pytest.fixture(scope="module")
def a11y_site(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    env = site_env(tmp_path_factory.mktemp("a11y-site"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = python(SCENARIO, env=env)
    assert scenario.returncode == 0, scenario.stderr
    ids = json.loads(scenario.stdout.strip().splitlines()[-1])
    with web_server(env) as base_url:
        yield base_url, ids


def axe_source() -> str:
    return (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text()


def fatal_violations(page) -> list[dict]:
    """Runs axe on the loaded page; returns its serious and critical violations."""
    page.add_script_tag(content=axe_source())
    result = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v["impact"] in FATAL_IMPACTS]


def describe(url: str, violations: list[dict]) -> list[str]:
    lines = []
    for violation in violations:
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        lines.append(
            f"{url}: [{violation['impact']}] {violation['id']}: {violation['help']}\n"
            f"    on: {targets}\n    see: {violation['helpUrl']}"
        )
    return lines


def check_pages(
    chromium,
    base_url: str,
    ids: dict,
    role: str,
    login: str | None,
    not_found: bytes = b"",
    **context_options,
) -> None:
    context = chromium.new_context(**context_options)
    page = context.new_page()
    if not_found:
        # The site under test runs with DEBUG on (the dummy payment backend needs it), where
        # Django answers 404 with its technical page; this serves our own 404 template,
        # rendered as production renders it, under the site's address and styles.
        page.route(
            f"{base_url}/no-such-page/",
            lambda route: route.fulfill(
                status=404, content_type="text/html; charset=utf-8", body=not_found
            ),
        )
    problems: list[str] = []
    try:
        if login:
            log_in(page, base_url, login, PASSWORD)
        for entry in (p for p in PAGES if p.role == role):
            url = base_url + entry.path.format(**ids)
            response = page.goto(url)
            # Let the page's scripts settle (the room page opens its socket, the studio its
            # controls) so axe sees what a user sees.
            page.wait_for_load_state("networkidle")
            assert response is not None and response.status == entry.status, (
                f"{url} answered {response and response.status}, expected {entry.status}"
            )
            problems += describe(entry.path, fatal_violations(page))
    finally:
        context.close()
    assert not problems, f"axe found {len(problems)} serious or critical violation(s):\n" + (
        "\n".join(problems)
    )


def test_a_visitor_meets_no_serious_accessibility_violation(chromium, a11y_site):
    base_url, ids = a11y_site
    not_found = ids["not_found_html"].encode()
    check_pages(chromium, base_url, ids, "visitor", None, not_found=not_found)


def test_a_buyer_meets_no_serious_accessibility_violation(chromium, a11y_site):
    base_url, ids = a11y_site
    check_pages(chromium, base_url, ids, "buyer", "bob")


def test_a_seller_meets_no_serious_accessibility_violation(chromium, a11y_site):
    base_url, ids = a11y_site
    check_pages(chromium, base_url, ids, "seller", "sally")


def test_a_buyer_on_a_phone_meets_no_serious_accessibility_violation(chromium, a11y_site):
    base_url, ids = a11y_site
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    check_pages(chromium, base_url, ids, "phone", "bob", **phone)


def test_the_check_itself_catches_a_serious_violation(chromium):
    """Guards against a silently broken check (axe not loaded, impacts renamed)."""
    page = chromium.new_page()
    try:
        page.set_content('<html lang="en"><body><main><img src="x.png"></main></body></html>')
        assert "image-alt" in {v["id"] for v in fatal_violations(page)}
    finally:
        page.close()
