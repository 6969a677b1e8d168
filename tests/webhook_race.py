"""Stripe delivers webhooks at least once and in no set order, sometimes the same event twice
at the same moment. Threads with their own database connections post signed events to the
real webhook view at once, against whichever database the environment names; prints what
happened as JSON.

    DATABASE_URL=... PAYMENTS_BACKEND=stripe STRIPE_SECRET_KEY=sk_test_x \
        STRIPE_WEBHOOK_SECRET=whsec_test python tests/webhook_race.py

Scenarios:
- duplicate: the same checkout.session.completed event, twice at once, then redelivered
  (Stripe redelivers whatever was not answered 2xx);
- crossing: checkout.session.completed and checkout.session.expired for one order at once,
  then both redelivered.
"""

import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")

import django

django.setup()

from decimal import Decimal  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

from accounts import services as accounts  # noqa: E402
from catalog import services as catalog  # noqa: E402
from catalog.models import Product  # noqa: E402
from orders import services  # noqa: E402
from orders.models import Order, OrderEvent, PaymentEvent  # noqa: E402
from orders.tests.fake_stripe import checkout_session_object, event, stripe_signature  # noqa: E402

SECRET = settings.STRIPE_WEBHOOK_SECRET


def person(username: str, *, seller: bool = False):
    user = accounts.user_register(
        username=username, email=f"{username}@example.test", password="x-Secret-99"
    )
    if seller:
        accounts.user_become_seller(user=user, shop_name=f"{username}'s shop")
    return user


seller = person("hook_seller", seller=True)
category = catalog.category_create(name="Hooks")


def pending_order(name: str):
    buyer = person(name.lower().replace(" ", "_") + "_buyer")
    product = catalog.product_create(
        seller=seller, name=name, price=Decimal("30.00"), stock=5, category=category
    )
    services.cart_add(cart=services.cart_for_user(user=buyer), product=product, quantity=2)
    return services.checkout_create_order(user=buyer), product


# Make the deliveries overlap inside the handler, where the race would be: each delivery has
# checked that the event is new and waits for the other before touching the order.
meet = threading.Barrier(2)
for event_type, handler in list(services.PAYMENT_EVENT_HANDLERS.items()):

    def meeting(obj, handler=handler):
        try:
            meet.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass  # the other delivery is already done, or serialised before us
        return handler(obj)

    services.PAYMENT_EVENT_HANDLERS[event_type] = meeting


def post(body: str) -> dict:
    client = Client(raise_request_exception=False)
    try:
        response = client.post(
            "/payments/stripe/webhook/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=stripe_signature(body, SECRET),
        )
        answer = {"status": response.status_code}
        if response.headers.get("Content-Type", "").startswith("application/json"):
            answer["outcome"] = response.json().get("outcome")
        return answer
    finally:
        connection.close()


def at_once(bodies: list[str]) -> list[dict]:
    meet.reset()
    answers: list[dict | None] = [None] * len(bodies)

    def deliver(index: int) -> None:
        answers[index] = post(bodies[index])

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def state(order: Order, product: Product) -> dict:
    order.refresh_from_db()
    return {
        "status": order.status,
        "needs_review": order.needs_review,
        "stock": Product.objects.get(pk=product.pk).stock,
        "transitions": list(
            OrderEvent.objects.filter(order=order)
            .exclude(to_status="")
            .values_list("from_status", "to_status")
        ),
        "payment_events": PaymentEvent.objects.filter(order=order).count(),
    }


report = {}

order, product = pending_order("Duplicate hat")
completed = json.dumps(event("checkout.session.completed", checkout_session_object(order)))
first = at_once([completed, completed])
redelivered = [post(completed)]
report["duplicate"] = {"first": first, "redelivered": redelivered, **state(order, product)}

order, product = pending_order("Crossing hat")
bodies = [
    json.dumps(event("checkout.session.completed", checkout_session_object(order))),
    json.dumps(
        event(
            "checkout.session.expired",
            checkout_session_object(order, status="expired", payment_status="unpaid"),
        )
    ),
]
first = at_once(bodies)
# Stripe redelivers what was not acknowledged; we redeliver both (a 2xx one is a duplicate).
redelivered = [post(body) for body in bodies]
report["crossing"] = {"first": first, "redelivered": redelivered, **state(order, product)}

print(json.dumps(report))
