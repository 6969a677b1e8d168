"""Fixtures for the payment tests: a fake Stripe API on loopback that the real SDK talks to,
Stripe-signed webhook deliveries, and pending orders made through the real checkout."""

import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from orders.tests.fake_stripe import FakeStripe, stripe_signature

WEBHOOK_URL = "/payments/stripe/webhook/"
WEBHOOK_SECRET = "whsec_test"


@pytest.fixture
def stripe_settings(settings):
    """Stripe as the payment backend, with test keys (no server needed for webhooks)."""
    settings.PAYMENTS_BACKEND = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def fake_stripe(stripe_settings) -> Iterator[FakeStripe]:
    """The fake Stripe API, with the SDK's API base pointed at it."""
    server = FakeStripe().start()
    stripe_settings.STRIPE_API_BASE = server.url
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_order(buyer, make_product) -> Callable:
    """A pending order made by the real checkout: `make_order()` buys one of a fresh product;
    `make_order(lines=[(product, qty), ...])` buys those."""
    from orders import services

    def make(*, lines=None, user=None, quantity: int = 1, **product_fields):
        user = user or buyer
        if lines is None:
            product_fields.setdefault("price", Decimal("59.00"))
            lines = [(make_product(**product_fields), quantity)]
        cart = services.cart_for_user(user=user)
        for product, qty in lines:
            services.cart_add(cart=cart, product=product, quantity=qty)
        return services.checkout_create_order(user=user)

    return make


@pytest.fixture
def deliver(client, stripe_settings) -> Callable:
    """POST a webhook to the endpoint, signed with the test secret exactly as Stripe signs:
    `deliver(event)`; `secret=`, `timestamp=`, `signature=` and `body=` override parts."""
    client.raise_request_exception = False  # a 500 is an answer Stripe sees, not a crash

    def post(event=None, *, secret=WEBHOOK_SECRET, timestamp=None, signature=None, body=None):
        body = body if body is not None else json.dumps(event)
        headers = {}
        if signature is None:
            signature = stripe_signature(body, secret, timestamp)
        if signature is not False:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)

    return post
