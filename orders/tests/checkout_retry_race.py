"""A buyer's checkout fails because Stripe is down; once it is back they tap "Check out" again,
twice at once on the page while the app retries at the same moment. Threads with their own
database connections post to the real page and API views together, against the fake Stripe
server on loopback, which records every session made. Then two "Pay now" at once for an order
whose payment page was never saved. Run in its own process by test_stripe.py (the threads need
a real database file); prints what happened as JSON.

    DATABASE_URL=sqlite:///... PAYMENTS_BACKEND=stripe STRIPE_SECRET_KEY=sk_test_x \\
        STRIPE_WEBHOOK_SECRET=whsec_test python orders/tests/checkout_retry_race.py
"""

import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # not under test

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from catalog.models import Product  # noqa: E402
from orders.models import CartItem, Order  # noqa: E402
from orders.tests.checkout_script_data import buyer_with_a_sneaker_in_the_cart  # noqa: E402
from orders.tests.fake_stripe import FakeStripe  # noqa: E402

CHECKOUT_API, CHECKOUT_PAGE = "/api/v1/checkout/", "/checkout/"

stripe = FakeStripe().start()
settings.STRIPE_API_BASE = stripe.url


buyer, sneaker, access = buyer_with_a_sneaker_in_the_cart("retry", stock=5, category="Drops")


def api_client() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def page_client() -> Client:
    client = Client()
    client.force_login(buyer)
    return client


def answer(response) -> dict:
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        return {
            "status": response.status_code,
            "code": (body.get("error") or {}).get("code"),
            "checkout_url": body.get("checkout_url"),
        }
    return {"status": response.status_code, "location": response.headers.get("Location")}


def at_once(requests: list) -> list[dict]:
    """Each (client, path) posted from its own thread, all released together."""
    start = threading.Barrier(len(requests))
    answers: list[dict | None] = [None] * len(requests)

    def post(index: int) -> None:
        client, path = requests[index]
        try:
            start.wait(timeout=10)
            answers[index] = answer(client.post(path))
        except Exception as exc:  # reported, not hidden
            answers[index] = {"error": repr(exc)}
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def state() -> dict:
    stripe.wait_idle()
    return {
        "stock": Product.objects.get(pk=sneaker.pk).stock,
        "cart_lines": CartItem.objects.filter(cart__user=buyer).count(),
        "orders": dict(Counter(Order.objects.filter(buyer=buyer).values_list("status", flat=True))),
        "sessions_per_order": dict(
            Counter(session["metadata"]["order_id"] for session in stripe.sessions.values())
        ),
    }


report: dict = {}

# 1. Stripe is down: the checkout is refused and released.
stripe.mode = "error500"
report["failed"] = answer(api_client().post(CHECKOUT_API))
report["after_failure"] = state()

# 2. Stripe is back (a little slow, so the requests overlap): a double tap on the page and the
# app's retry, at once.
stripe.mode, stripe.slow_seconds = "slow", 0.3
clients = [(page_client(), CHECKOUT_PAGE), (page_client(), CHECKOUT_PAGE)]
clients += [(api_client(), CHECKOUT_API), (api_client(), CHECKOUT_API)]
report["retries"] = at_once(clients)
report["after_retries"] = state()
pending = Order.objects.filter(buyer=buyer, status=Order.Status.PENDING).first()
report["pending_order"] = None if pending is None else str(pending.pk)
report["pending_url"] = None if pending is None else pending.checkout_url

# 3. "Pay now" twice at once for an order whose payment page was made but never saved (the
# database failed just after Stripe answered): both ask Stripe with the order's key.
if pending is not None:
    Order.objects.filter(pk=pending.pk).update(checkout_url="", checkout_session_id="")
    pay = f"/api/v1/orders/{pending.pk}/pay/"
    asked_before = len(stripe.session_requests())
    report["pay_now"] = at_once([(api_client(), pay), (api_client(), pay)])
    report["after_pay_now"] = state()
    # 3 when they overlapped: one was refused while the other ran (409) and the SDK asked again.
    report["pay_now_requests"] = len(stripe.session_requests()) - asked_before
    report["keys_sent"] = sorted({r.idempotency_key for r in stripe.session_requests()})
    report["order_keys"] = sorted(
        Order.objects.filter(buyer=buyer).values_list("idempotency_key", flat=True)
    )

stripe.stop()
print(json.dumps(report))
