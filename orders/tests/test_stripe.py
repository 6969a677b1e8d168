"""Checkout's Stripe boundary: the real `stripe` SDK against a fake Stripe API on loopback.

What reaches Stripe (amounts in minor units, currency, line items, metadata, expiry and the
idempotency key), and how checkout behaves when Stripe answers 500, is too slow or cannot be
reached: the order stays pending with its stock reserved, the buyer is told clearly, and no
retry ever makes a second session (so nothing can be charged twice)."""

import time
from decimal import Decimal

import pytest

from catalog.models import Product
from orders import services
from orders.exceptions import IllegalOrderTransition, PaymentProviderError
from orders.models import Order
from orders.stripe_api import to_minor_units

SUCCESS_URL = "https://shop.test/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.test/checkout/cancel/"


def pay_url(order: Order) -> str:
    return services.checkout_payment_url(
        order=order, success_url=SUCCESS_URL, cancel_url=CANCEL_URL
    )


def stock_of(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


@pytest.fixture
def two_line_order(make_order, make_product):
    jacket = make_product(name="Denim jacket", price=Decimal("59.00"), stock=5)
    mug = make_product(name="Stoneware mug", price=Decimal("12.50"), stock=9)
    return make_order(lines=[(jacket, 2), (mug, 1)])


# --- what the SDK sends --------------------------------------------------------------------


def test_checkout_session_carries_the_order_in_minor_units(fake_stripe, two_line_order, buyer):
    order = two_line_order
    url = pay_url(order)

    [request] = fake_stripe.session_requests()
    form = request.form
    assert request.header("Content-Type").startswith("application/x-www-form-urlencoded")
    assert request.header("Authorization") == "Bearer sk_test_x"
    assert "PythonBindings" in request.header("User-Agent")  # the official SDK made it
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "2"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][unit_amount]"] == "5900"
    assert form["line_items[0][price_data][product_data][name]"] == "Denim jacket"
    assert form["line_items[1][quantity]"] == "1"
    assert form["line_items[1][price_data][unit_amount]"] == "1250"
    assert form["line_items[1][price_data][product_data][name]"] == "Stoneware mug"
    assert "line_items[2][quantity]" not in form
    assert form["client_reference_id"] == str(order.pk)
    assert form["metadata[order_id]"] == str(order.pk)
    assert form["payment_intent_data[metadata][order_id]"] == str(order.pk)
    assert form["customer_email"] == buyer.email
    assert form["success_url"] == SUCCESS_URL
    assert form["cancel_url"] == CANCEL_URL
    assert request.idempotency_key == order.idempotency_key
    assert order.idempotency_key  # derived from the order, stored with it

    # The session's expiry is the order's payment window, about 30 minutes ahead.
    expires_at = int(form["expires_at"])
    assert expires_at == int(order.expires_at.timestamp())
    ahead = expires_at - request.received_at
    assert 30 * 60 <= ahead <= 33 * 60

    # What Stripe will charge is what the order says.
    session = fake_stripe.sessions[order.checkout_session_id]
    assert session["amount_total"] == to_minor_units(order.total) == 2 * 5900 + 1250
    assert session["currency"] == "usd"
    assert url == session["url"] == f"https://checkout.stripe.test/c/pay/{session['id']}"
    order.refresh_from_db()
    assert order.checkout_session_id == session["id"]
    assert order.checkout_url == url
    assert order.status == Order.Status.PENDING


def test_cents_and_euros_cross_the_boundary_exactly(fake_stripe, make_order):
    order = make_order(price=Decimal("19.99"), currency="EUR", quantity=3, stock=3)
    pay_url(order)
    [request] = fake_stripe.session_requests()
    assert request.form["line_items[0][price_data][unit_amount]"] == "1999"
    assert request.form["line_items[0][price_data][currency]"] == "eur"
    assert fake_stripe.sessions[order.checkout_session_id]["amount_total"] == 5997
    assert to_minor_units(order.total) == 5997


def test_asking_again_answers_the_same_payment_page(fake_stripe, make_order):
    order = make_order()
    stale = Order.objects.get(pk=order.pk)  # e.g. a double click served by another request
    first = pay_url(order)
    assert pay_url(order) == first  # known already: Stripe is not asked again
    assert len(fake_stripe.session_requests()) == 1

    # A request that did not see the first answer asks Stripe with the same key: replayed.
    assert pay_url(stale) == first
    requests = fake_stripe.session_requests()
    assert len(requests) == 2
    assert {r.idempotency_key for r in requests} == {order.idempotency_key}
    assert fake_stripe.sessions_created == 1


def test_every_order_has_its_own_idempotency_key(fake_stripe, make_order):
    orders = [make_order(), make_order()]
    for order in orders:
        pay_url(order)
    keys = [r.idempotency_key for r in fake_stripe.session_requests()]
    assert keys == [o.idempotency_key for o in orders]
    assert len(set(keys)) == 2
    assert fake_stripe.sessions_created == 2


def test_only_a_pending_order_gets_a_payment_page(fake_stripe, make_order):
    order = make_order()
    services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    with pytest.raises(IllegalOrderTransition):
        pay_url(order)
    assert fake_stripe.requests == []


# --- when Stripe fails -------------------------------------------------------------------


def assert_still_pending_and_reserved(order: Order, product: Product, reserved: int) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.checkout_url == ""
    assert order.checkout_session_id == ""
    assert stock_of(product) == reserved


def test_stripe_500_leaves_the_order_pending_and_a_retry_makes_one_session(
    fake_stripe, make_order, make_product
):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 2)])
    fake_stripe.mode = "error500"

    with pytest.raises(PaymentProviderError) as refused:
        pay_url(order)

    # The buyer is told what happened and what to do; the API maps it to a 502.
    assert "not answering" in refused.value.message
    assert "reserved" in refused.value.message
    assert refused.value.code == "payment_unavailable"
    assert refused.value.status == 502
    assert_still_pending_and_reserved(order, product, 3)
    # The SDK retried once by itself, with the same key.
    failed = fake_stripe.session_requests()
    assert len(failed) == 2
    assert {r.idempotency_key for r in failed} == {order.idempotency_key}
    assert fake_stripe.sessions_created == 0

    fake_stripe.mode = "ok"
    url = pay_url(order)
    assert fake_stripe.sessions_created == 1
    assert {r.idempotency_key for r in fake_stripe.session_requests()} == {order.idempotency_key}
    order.refresh_from_db()
    assert order.checkout_url == url
    assert order.status == Order.Status.PENDING


def test_stripe_500_then_the_buyer_cancels_and_the_stock_comes_back(
    fake_stripe, make_order, make_product
):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 2)])
    fake_stripe.mode = "error500"
    with pytest.raises(PaymentProviderError):
        pay_url(order)
    services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert stock_of(product) == 5


def test_stripe_too_slow_times_out_quickly_and_the_retry_replays_the_same_session(
    fake_stripe, settings, make_order, make_product
):
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    product = make_product(stock=5)
    order = make_order(lines=[(product, 1)])
    fake_stripe.mode = "slow"  # 1.5 s: Stripe makes the session, the client has given up

    started = time.monotonic()
    with pytest.raises(PaymentProviderError):
        pay_url(order)
    assert time.monotonic() - started < 5
    assert_still_pending_and_reserved(order, product, 4)

    # Stripe did make the session the buyer never saw; asking again must return it, not a
    # second one the buyer could also pay.
    fake_stripe.wait_idle()
    assert fake_stripe.sessions_created == 1
    [made] = fake_stripe.sessions
    fake_stripe.mode = "ok"
    url = pay_url(order)
    assert fake_stripe.sessions_created == 1
    assert url == fake_stripe.sessions[made]["url"]
    order.refresh_from_db()
    assert order.checkout_session_id == made
    assert {r.idempotency_key for r in fake_stripe.session_requests()} == {order.idempotency_key}

    services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    assert stock_of(product) == 5


def test_stripe_unreachable_is_a_clear_error(fake_stripe, make_order, make_product):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 1)])
    fake_stripe.stop()  # nothing listens on that port any more
    started = time.monotonic()
    with pytest.raises(PaymentProviderError) as refused:
        pay_url(order)
    assert time.monotonic() - started < 5
    assert "try paying again" in refused.value.message
    assert_still_pending_and_reserved(order, product, 4)


def test_a_first_attempt_that_never_reached_stripe_can_be_retried_a_minute_later(
    fake_stripe, make_order
):
    """Stripe wants `expires_at` at least 30 minutes after it creates the session, and a
    retry must send the same parameters as the first attempt (same idempotency key)."""
    order = make_order()
    fake_stripe.mode = "error500"
    with pytest.raises(PaymentProviderError):
        pay_url(order)
    fake_stripe.mode = "ok"
    fake_stripe.clock_offset = 60  # the buyer tries again a minute later
    pay_url(order)
    assert fake_stripe.sessions_created == 1
    forms = [r.form for r in fake_stripe.session_requests()]
    assert all(form == forms[0] for form in forms)


def test_stripe_refusing_the_request_is_a_clear_error_too(fake_stripe, make_order):
    order = make_order()
    fake_stripe.clock_offset = 2 * 60 * 60  # the session would already be past its expiry
    with pytest.raises(PaymentProviderError):
        pay_url(order)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.checkout_url == ""


def test_cancelling_a_stripe_order_closes_its_payment_page(fake_stripe, make_order):
    order = make_order()
    services.checkout_payment_url(
        order=order, success_url="http://testserver/s", cancel_url="http://testserver/c"
    )
    order.refresh_from_db()

    services.order_cancel_by_buyer(order=order, buyer=order.buyer)

    expire_calls = [r for r in fake_stripe.requests if r.path.endswith("/expire")]
    assert [r.path for r in expire_calls] == [
        f"/v1/checkout/sessions/{order.checkout_session_id}/expire"
    ]
    assert fake_stripe.sessions[order.checkout_session_id]["status"] == "expired"
