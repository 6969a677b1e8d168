"""What the browser journeys (tests/test_journeys.py) share: one real site with demo data and
a test-pattern broadcast in its live room, small page helpers, and screenshots that are taken
only when `LIVESHOP_SCREENSHOTS` names a folder (`make screenshots`)."""

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from conftest import PROJECT_ROOT
from tests.browser import open_nav
from tests.helpers import manage, python, site_env, web_server

PASSWORD = "Journey-pass-42"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
# An iPhone-sized phone: the viewport meta tag counts, taps are touches.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

# Beside seed_demo's data: people for the seller's show (a spammer, a viewer who queues and
# buys) and a show that starts within the day, so Home has a countdown that ticks.
EXTRA_DATA = f"""
import django, json
django.setup()
from datetime import timedelta
from django.utils import timezone
from accounts import services as accounts
from accounts.models import User
from catalog.models import Product
from rooms import services as rooms
for username in ("spammy_sam", "quinn_queue"):
    accounts.user_register(
        username=username, email=f"{{username}}@example.test", password={PASSWORD!r}
    )
seller = User.objects.get(username="demo_seller")
soon = rooms.room_create(
    seller=seller,
    title="Tonight: candles and cushions",
    description="Cosy home finds, live tonight.",
    scheduled_start=timezone.now() + timedelta(hours=3),
    products=Product.objects.filter(seller=seller, category__name="Home"),
)
print(json.dumps({{"soon_room": soon.pk}}))
"""

# An order whose payment does not add up (Stripe's event says 1 cent): the payment service
# flags it for staff instead of marking it paid. Optionally a correctly paid one first.
ORDERS_FOR_STAFF = """
import django, json, sys
django.setup()
from accounts.models import User
from catalog.models import Product
from orders import services, stripe_api
username, pay_correctly = sys.argv[1], sys.argv[2] == "1"
buyer = User.objects.get(username=username)
product = Product.objects.get(name="Vitamin C serum 30 ml")

def order_paid(amount_total):
    services.cart_add(cart=services.cart_for_user(user=buyer), product=product, quantity=1)
    order = services.checkout_create_order(user=buyer)
    session = {
        "id": f"cs_test_journey_{order.pk}",
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "amount_total": amount_total(order),
        "currency": order.currency.lower(),
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_test_journey_{order.pk}",
    }
    event = {"id": f"evt_journey_{order.pk}", "type": "checkout.session.completed",
             "data": {"object": session}}
    services.payment_event_process(event=event)
    return order.pk

ids = {}
if pay_correctly:
    ids["paid"] = order_paid(lambda order: stripe_api.to_minor_units(order.total))
ids["flagged"] = order_paid(lambda order: 1)
print(json.dumps(ids))
"""


@dataclass
class JourneySite:
    base_url: str
    env: dict[str, str]
    ids: dict
    # What one journey leaves for a later one (journey 3 looks up journey 1's order).
    results: dict = field(default_factory=dict)

    def run(self, code: str, *args: str) -> dict:
        """Run Python in the site's environment; its last output line, as JSON."""
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def journey_site(tmp_path_factory) -> Iterator[JourneySite]:
    """A real server (uvicorn) with seed_demo's data, and `broadcast_demo` publishing a test
    pattern in the demo's live room (as its seller, over WebRTC): shoppers see real moving video."""
    env = site_env(tmp_path_factory.mktemp("journey-site"))
    for command in (("migrate", "--noinput"), ("seed_demo",)):
        done = manage(*command, env=env)
        assert done.returncode == 0, done.stderr
    made = python(EXTRA_DATA, env=env)
    assert made.returncode == 0, made.stderr
    ids = json.loads(made.stdout.strip().splitlines()[-1])
    with web_server(env) as base_url:
        broadcast = subprocess.Popen(
            [sys.executable, "manage.py", "broadcast_demo", "--demo", "--url", base_url],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_broadcast(base_url)
            yield JourneySite(base_url=base_url, env=env, ids=ids)
        finally:
            broadcast.terminate()
            try:
                broadcast.wait(timeout=15)
            except subprocess.TimeoutExpired:
                broadcast.kill()
                broadcast.wait(timeout=10)


def wait_for_broadcast(base_url: str, *, timeout: float = 45.0) -> None:
    """Wait until the demo's live room is on air, so the journeys (and their screenshots)
    start from what a shopper would find: a playing show with its seller in it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base_url}/api/v1/rooms/?status=live") as response:
            rooms = json.load(response)["results"]
        if any(room["stream_status"] == "live" for room in rooms):
            return
        time.sleep(0.25)
    raise AssertionError("broadcast_demo never went on air")


# --- screenshots ---------------------------------------------------------------------------


def screenshot_folder() -> Path | None:
    folder = os.environ.get("LIVESHOP_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    return path if path.is_absolute() else PROJECT_ROOT / path


def shot(page, name: str, *, full_page: bool = False) -> None:
    """Save `<name>.png` of the page, only when screenshots were asked for: a normal test run
    must not rewrite the committed pictures."""
    folder = screenshot_folder()
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    # Pictures the page loads lazily would show as empty boxes below the fold, and a click
    # may have scrolled the page: load them all and start from the top, as a visitor lands.
    page.evaluate(
        """async () => {
          const lazy = [...document.querySelectorAll('img[loading="lazy"]')];
          for (const img of lazy) img.loading = "eager";
          await Promise.all(lazy.map((img) => img.decode().catch(() => null)));
          window.scrollTo(0, 0);
        }"""
    )
    # The caret and focus rings blink: a still picture should not depend on when it was taken.
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, caret="hide")
    # The pictures live in the repository: 256 colours keep them sharp at a third the size.
    # A palette picked from the picture, then dithered onto it: gradients without bands.
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small = rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(path, optimize=True)


# --- page helpers ----------------------------------------------------------------------------


def product_png(label: str, colour: tuple[int, int, int]) -> dict:
    """A real PNG, drawn here, as Playwright's set_input_files takes it."""
    image = Image.new("RGB", (480, 480), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse([90, 90, 390, 390], outline=(255, 255, 255), width=12)
    draw.text((200, 190), label[0].upper(), fill=(255, 255, 255), font_size=96)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"name": f"{label}.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


def no_horizontal_scroll(page) -> bool:
    """Nothing on the page is wider than the screen (the phone check of journey 4)."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def widest_elements(page, limit: int = 5) -> list[str]:
    """The elements that stick out past the right edge: what a failed phone check shows."""
    return page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
             .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
             .slice(0, limit)
             .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
                         + ` right=${Math.round(e.getBoundingClientRect().right)}`)""",
        limit,
    )


def register(page, base_url: str, username: str) -> None:
    """Sign up through the register page, as a new visitor does from the header."""
    open_nav(page)
    page.locator(".site-nav").get_by_role("link", name="Sign up").click()
    page.wait_for_url(f"{base_url}/accounts/register/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base_url}/")
