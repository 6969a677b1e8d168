"""Checkout's Stripe boundary: the real `stripe` SDK against a fake Stripe API on loopback.

What reaches Stripe (amounts in minor units, currency, line items, metadata, expiry and the
idempotency key), and what happens when Stripe answers 500, is too slow, refuses or cannot be
reached:
- at checkout (services.checkout_open_payment) the order is released at once: cancelled with
  a note, its stock back on sale, its lines back in the cart; the buyer is told clearly, and
  checking out again makes a new order with a new key and exactly one session;
- "Pay now" on an order already pending (services.checkout_payment_url) keeps it pending and
  asks again with the order's own key, so no retry ever makes a second session for one order
  (nothing can be charged twice);
- a session Stripe made although checkout gave up belongs to the released order: a payment on
  it is flagged for a refund."""

import time
from decimal import Decimal

import pytest
from django.db import OperationalError

from catalog.models import Product
from orders import services, stripe_api
from orders.exceptions import (
    CheckoutPaymentUnavailable,
    IllegalOrderTransition,
    PaymentProviderError,
)
from orders.models import Order
from orders.stripe_api import to_minor_units
from orders.tests.fake_stripe import checkout_session_object, event
from orders.tests.test_oversell import run_race
from orders.tests.test_webhooks import STRIPE_ENV
from tests.helpers import site_env

SUCCESS_URL = "https://shop.test/checkout/success/?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.test/checkout/cancel/"


def pay_url(order: Order) -> str:
    return services.checkout_payment_url(
        order=order, success_url=SUCCESS_URL, cancel_url=CANCEL_URL
    )


def stock_of(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


def keys_sent(fake_stripe) -> set[str | None]:
    """The idempotency keys of every request to create a checkout session."""
    return {r.idempotency_key for r in fake_stripe.session_requests()}


def asked_twice_with_the_orders_key(fake_stripe, order: Order, *, sessions: int) -> None:
    """The SDK asked Stripe twice (its one retry of its own), both times with the order's
    idempotency key, and Stripe made `sessions` sessions."""
    assert len(fake_stripe.session_requests()) == 2
    assert keys_sent(fake_stripe) == {order.idempotency_key}
    assert fake_stripe.sessions_created == sessions


def refused_quickly(ask, order: Order, error: type[Exception]) -> Exception:
    """`ask(order)` raises `error` within 5 s (however slow or absent Stripe is); returns it."""
    started = time.monotonic()
    with pytest.raises(error) as refused:
        ask(order)
    assert time.monotonic() - started < 5
    return refused.value


@pytest.fixture
def order_of(make_order, make_product):
    """`order_of(quantity)`: a pending order for `quantity` units of a fresh product that had
    5 in stock. Returns (order, product)."""

    def make(quantity: int = 1) -> tuple[Order, Product]:
        product = make_product(stock=5)
        return make_order(lines=[(product, quantity)]), product

    return make


@pytest.fixture
def slow_stripe(fake_stripe, settings):
    """Stripe takes 1.5 s to answer a session (and makes it); the SDK gives up after 0.5 s."""
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    fake_stripe.mode = "slow"
    return fake_stripe


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
    asked_twice_with_the_orders_key(fake_stripe, order, sessions=1)


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


# --- when Stripe fails at checkout: the order is released -----------------------------------


def open_at_checkout(order: Order) -> str:
    return services.checkout_open_payment(
        order=order, success_url=SUCCESS_URL, cancel_url=CANCEL_URL
    )


def cart_of(order: Order) -> dict[int, int]:
    return {
        item.product_id: item.quantity
        for item in services.cart_for_user(user=order.buyer).items.all()
    }


def assert_released(order: Order, product: Product, stock: int) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.checkout_url == ""
    assert order.events.last().note == (
        "Payment service unavailable at checkout: stock released, items back in the cart"
    )
    assert stock_of(product) == stock
    assert cart_of(order) == {item.product_id: item.quantity for item in order.items.all()}


def check_out_again(buyer) -> Order:
    """What "Check out" does with the cart as the failure left it."""
    return services.checkout_create_order(user=buyer)


def test_stripe_500_at_checkout_releases_the_order_and_a_retry_makes_one_session(
    fake_stripe, order_of
):
    order, product = order_of(2)
    assert stock_of(product) == 3
    fake_stripe.mode = "error500"

    with pytest.raises(CheckoutPaymentUnavailable) as refused:
        open_at_checkout(order)

    # The buyer is told what happened and what to do; the API maps it to a 502.
    message = refused.value.message
    assert "not answering" in message and "you have not been charged" in message
    assert "back in your cart" in message
    assert refused.value.code == "payment_unavailable"
    assert refused.value.status == 502
    assert_released(order, product, 5)
    # The SDK retried once by itself, with the order's key.
    asked_twice_with_the_orders_key(fake_stripe, order, sessions=0)

    fake_stripe.mode = "ok"
    retry = check_out_again(order.buyer)
    url = open_at_checkout(retry)
    assert fake_stripe.sessions_created == 1
    [session] = fake_stripe.sessions.values()
    assert session["url"] == url
    assert session["metadata"] == {"order_id": str(retry.pk)}
    assert retry.idempotency_key != order.idempotency_key
    assert fake_stripe.session_requests()[-1].idempotency_key == retry.idempotency_key
    assert stock_of(product) == 3
    assert cart_of(retry) == {}


def test_stripe_unreachable_at_checkout_is_a_clear_error_and_releases_at_once(
    fake_stripe, order_of
):
    order, product = order_of(1)
    fake_stripe.stop()  # nothing listens on that port any more
    refused = refused_quickly(open_at_checkout, order, CheckoutPaymentUnavailable)
    assert "check out again in a moment" in refused.message
    assert_released(order, product, 5)


def test_stripe_refusing_the_request_at_checkout_releases_the_order_too(fake_stripe, order_of):
    order, product = order_of(1)
    fake_stripe.clock_offset = 2 * 60 * 60  # the session would already be past its expiry
    with pytest.raises(CheckoutPaymentUnavailable):
        open_at_checkout(order)
    assert_released(order, product, 5)


@pytest.mark.usefixtures("slow_stripe")
def test_stripe_too_slow_at_checkout_releases_and_the_session_it_made_is_refunded_if_paid(
    fake_stripe, order_of, deliver
):
    order, product = order_of(1)
    refused_quickly(open_at_checkout, order, CheckoutPaymentUnavailable)
    assert_released(order, product, 5)

    # Stripe did make a session for the released order, which nobody ever saw. The SDK's
    # retry carried the same key (refused while the first was in progress, as Stripe does).
    fake_stripe.wait_idle()
    assert keys_sent(fake_stripe) == {order.idempotency_key}
    [orphan] = fake_stripe.sessions.values()
    assert orphan["metadata"] == {"order_id": str(order.pk)}

    # Checking out again: a new order, a new key, its own single session.
    fake_stripe.mode = "ok"
    retry = check_out_again(order.buyer)
    url = open_at_checkout(retry)
    assert retry.idempotency_key != order.idempotency_key
    per_order = [s["metadata"]["order_id"] for s in fake_stripe.sessions.values()]
    assert sorted(per_order) == sorted([str(order.pk), str(retry.pk)])
    assert url != orphan["url"]
    assert stock_of(product) == 4

    # Were the orphan paid anyway, its late webhook flags the cancelled order for a refund;
    # the stock is not taken twice and the buyer's real order is untouched.
    late = event("checkout.session.completed", checkout_session_object(order, id=orphan["id"]))
    assert deliver(late).status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert order.needs_review and "refund" in order.review_reason
    assert stock_of(product) == 4
    retry.refresh_from_db()
    assert retry.status == Order.Status.PENDING and not retry.needs_review
    paid = event("checkout.session.completed", checkout_session_object(retry))
    assert deliver(paid).status_code == 200
    assert Order.objects.get(pk=retry.pk).status == Order.Status.PAID


def test_an_answer_lost_at_checkout_is_recovered_by_the_sdks_retry_with_the_same_key(
    fake_stripe, settings, order_of
):
    """Stripe made the session but its answer came too late: the SDK asks again with the same
    key and Stripe replays the session. One session, the order goes through."""
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    order, product = order_of(1)
    fake_stripe.mode = "late_answer"  # made at once, answered after 1.5 s

    url = open_at_checkout(order)

    asked_twice_with_the_orders_key(fake_stripe, order, sessions=1)
    [session] = fake_stripe.sessions.values()
    assert url == session["url"]
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.checkout_session_id == session["id"]
    assert stock_of(product) == 4


def test_a_released_order_goes_back_to_the_cart_without_doubling_a_line(
    fake_stripe, make_order, make_product
):
    jacket = make_product(name="Denim jacket", stock=5)
    mug = make_product(name="Stoneware mug", stock=9)
    order = make_order(lines=[(jacket, 2), (mug, 1)])
    # Meanwhile (another tab) the buyer put one jacket in the now empty cart.
    services.cart_add(cart=services.cart_for_user(user=order.buyer), product=jacket, quantity=1)
    fake_stripe.mode = "error500"

    with pytest.raises(CheckoutPaymentUnavailable):
        open_at_checkout(order)

    assert cart_of(order) == {jacket.pk: 2, mug.pk: 1}  # the larger, not the sum
    assert (stock_of(jacket), stock_of(mug)) == (5, 9)


def test_a_checkout_the_buyer_cancelled_meanwhile_is_not_put_back_in_the_cart(
    fake_stripe, order_of, monkeypatch
):
    order, product = order_of(1)
    real_payment_url = services.checkout_payment_url

    def cancelled_while_waiting(**kwargs):
        services.order_cancel_by_buyer(order=Order.objects.get(pk=order.pk), buyer=order.buyer)
        return real_payment_url(**kwargs)

    monkeypatch.setattr(services, "checkout_payment_url", cancelled_while_waiting)
    fake_stripe.mode = "error500"

    with pytest.raises(PaymentProviderError) as refused:
        open_at_checkout(order)

    assert not isinstance(refused.value, CheckoutPaymentUnavailable)
    assert "no longer waiting for payment" in refused.value.message
    assert stock_of(product) == 5  # released once, by the cancel
    assert cart_of(order) == {}


def test_when_the_database_fails_too_the_order_waits_for_expiry(fake_stripe, order_of, monkeypatch):
    order, product = order_of(1)

    def database_away(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_checkout_release", database_away)
    fake_stripe.mode = "error500"

    with pytest.raises(PaymentProviderError) as refused:
        open_at_checkout(order)

    # Not released, and the message says so: pay it from the order, or expiry releases it.
    assert not isinstance(refused.value, CheckoutPaymentUnavailable)
    assert "Your items are reserved" in refused.value.message
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING
    assert stock_of(product) == 4


def test_the_checkout_session_call_gives_up_sooner_than_the_settings_timeout(settings):
    settings.STRIPE_TIMEOUT_SECONDS = 10
    assert stripe_api.checkout_session_timeout() == (2.0, 5.0)
    settings.STRIPE_TIMEOUT_SECONDS = 0.5  # the settings' own is never exceeded
    assert stripe_api.checkout_session_timeout() == (0.5, 0.5)


def test_a_double_tap_on_check_out_after_a_failure_makes_one_order_and_one_session(tmp_path):
    """orders/tests/checkout_retry_race.py, in its own process: threads with real commits."""
    report = run_race("orders/tests/checkout_retry_race.py", site_env(tmp_path, **STRIPE_ENV))

    assert report["failed"] == {"status": 502, "code": "payment_unavailable", "checkout_url": None}
    assert report["after_failure"] == {
        "stock": 5,
        "cart_lines": 1,
        "orders": {"cancelled": 1},
        "sessions_per_order": {},
    }
    # Two taps on the page and the app's retry at once: one goes to Stripe's page, the others
    # find the cart taken (the page sends them back to it; the API says why).
    retries = report["retries"]
    url = report["pending_url"]
    assert url.startswith("https://checkout.stripe.test/")
    won = [r for r in retries if r.get("location") == url or r.get("checkout_url") == url]
    assert len(won) == 1, retries
    for lost in retries:
        if lost not in won:
            assert lost.get("location") == "/cart/" or (
                (lost["status"], lost["code"]) in {(409, "cart_changed"), (400, "cart_empty")}
            ), lost
    assert report["after_retries"] == {
        "stock": 4,
        "cart_lines": 0,
        "orders": {"cancelled": 1, "pending": 1},
        "sessions_per_order": {report["pending_order"]: 1},
    }
    # Two "Pay now" at once for that order, its page unsaved: the same page, no new session.
    assert [r["checkout_url"] for r in report["pay_now"]] == [url, url]
    assert report["after_pay_now"] == report["after_retries"]
    assert report["pay_now_requests"] >= 2
    assert report["keys_sent"] == report["order_keys"]  # one key per order, never another


# --- "Pay now" on a pending order: kept, asked again with the order's own key ----------------


def assert_still_pending_and_reserved(order: Order, product: Product, reserved: int) -> None:
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.checkout_url == ""
    assert order.checkout_session_id == ""
    assert stock_of(product) == reserved


def test_pay_now_when_stripe_answers_500_keeps_the_order_and_a_retry_makes_one_session(
    fake_stripe, order_of
):
    order, product = order_of(2)
    fake_stripe.mode = "error500"

    with pytest.raises(PaymentProviderError) as refused:
        pay_url(order)

    assert "not answering" in refused.value.message
    assert "reserved" in refused.value.message
    assert refused.value.code == "payment_unavailable"
    assert refused.value.status == 502
    assert_still_pending_and_reserved(order, product, 3)
    asked_twice_with_the_orders_key(fake_stripe, order, sessions=0)

    fake_stripe.mode = "ok"
    url = pay_url(order)
    assert fake_stripe.sessions_created == 1
    assert keys_sent(fake_stripe) == {order.idempotency_key}
    order.refresh_from_db()
    assert order.checkout_url == url
    assert order.status == Order.Status.PENDING


def test_pay_now_failing_then_the_buyer_cancels_and_the_stock_comes_back(fake_stripe, order_of):
    order, product = order_of(2)
    fake_stripe.mode = "error500"
    with pytest.raises(PaymentProviderError):
        pay_url(order)
    services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert stock_of(product) == 5


@pytest.mark.usefixtures("slow_stripe")
def test_pay_now_too_slow_times_out_quickly_and_the_retry_replays_the_same_session(
    fake_stripe, order_of
):
    order, product = order_of(1)
    refused_quickly(pay_url, order, PaymentProviderError)
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
    assert keys_sent(fake_stripe) == {order.idempotency_key}

    services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    assert stock_of(product) == 5


def test_pay_now_when_stripe_is_unreachable_is_a_clear_error(fake_stripe, order_of):
    order, product = order_of(1)
    fake_stripe.stop()
    refused = refused_quickly(pay_url, order, PaymentProviderError)
    assert "try paying again" in refused.message
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


def test_pay_now_refused_by_stripe_is_a_clear_error_too(fake_stripe, make_order):
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
