"""`/payments/stripe/webhook/`: events signed with a test secret exactly as Stripe signs them.

Only a valid, fresh signature is believed (anything else: 400 and nothing changes); each event
acts once however often and in whatever order it arrives; a failure while fulfilling answers
5xx without recording the event, so Stripe's redelivery fulfils it exactly once. The dummy
payment backend goes through the very same path."""

import json
import logging
import time

import pytest
from django.db import OperationalError

from catalog.models import Product
from liveshop.errors import NotFoundError
from orders import services
from orders.models import Order, OrderEvent, PaymentEvent
from orders.stripe_api import to_minor_units
from orders.tests.conftest import WEBHOOK_SECRET
from orders.tests.fake_stripe import (
    charge_object,
    checkout_session_object,
    event,
    stripe_signature,
)
from orders.tests.test_oversell import run_race
from tests.helpers import site_env

Status = Order.Status
STRIPE_ENV = {
    "PAYMENTS_BACKEND": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_x",
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def completed(order: Order, **overrides) -> dict:
    return event("checkout.session.completed", checkout_session_object(order, **overrides))


def expired(order: Order) -> dict:
    obj = checkout_session_object(order, status="expired", payment_status="unpaid")
    obj["payment_intent"] = None
    return event("checkout.session.expired", obj)


def refunded(order: Order, **overrides) -> dict:
    fields = {"payment_intent": order.payment_intent_id, "currency": order.currency.lower()}
    fields.update(overrides)
    charge = charge_object(amount=to_minor_units(order.total), **fields)
    return event("charge.refunded", charge)


def transitions(order: Order) -> list[tuple[str, str]]:
    return list(
        OrderEvent.objects.filter(order=order)
        .exclude(to_status="")
        .values_list("from_status", "to_status")
    )


def stock_of(order: Order) -> list[int]:
    return [Product.objects.get(pk=item.product_id).stock for item in order.items.all()]


def snapshot(order: Order) -> dict:
    """Everything a webhook could change about an order."""
    order = Order.objects.get(pk=order.pk)
    return {
        "order": {
            field: getattr(order, field)
            for field in ("status", "needs_review", "review_reason", "payment_intent_id")
        },
        "events": list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True)),
        "payment_events": PaymentEvent.objects.count(),
        "stock": stock_of(order),
    }


@pytest.fixture
def order(make_order, make_product):
    """A pending order for 2 of a product that had 5 units."""
    product = make_product(stock=5)
    return make_order(lines=[(product, 2)])


def paid(order: Order, deliver) -> Order:
    assert deliver(completed(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID
    return order


# --- checkout.session.completed ----------------------------------------------------------


def test_completed_marks_the_order_paid(deliver, order):
    sent = completed(order)
    response = deliver(sent)
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "processed"}
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert order.payment_intent_id == f"pi_test_{order.pk}"
    assert not order.needs_review
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.PAID)]
    recorded = PaymentEvent.objects.get()
    assert (recorded.event_id, recorded.event_type, recorded.order_id) == (
        sent["id"],
        "checkout.session.completed",
        order.pk,
    )
    assert stock_of(order) == [3]  # still reserved: sold


def test_the_order_is_found_by_client_reference_id_alone(deliver, order):
    assert deliver(completed(order, metadata={})).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param({"amount_total": "less"}, id="amount-too-low"),
        pytest.param({"amount_total": "more"}, id="amount-too-high"),
        pytest.param({"amount_total": "major-units"}, id="amount-in-major-units"),
        pytest.param({"currency": "eur"}, id="other-currency"),
    ],
)
def test_a_payment_that_does_not_match_the_order_is_flagged_not_paid(deliver, order, wrong):
    due = to_minor_units(order.total)
    amount = {"less": due - 1, "more": due + 100, "major-units": due // 100}
    overrides = {
        key: amount[value] if key == "amount_total" else value for key, value in wrong.items()
    }
    response = deliver(completed(order, **overrides))
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PENDING
    assert order.needs_review
    assert f"expected {due} USD" in order.review_reason
    assert transitions(order) == [("", Status.PENDING)]
    assert OrderEvent.objects.filter(order=order, note__startswith="Flagged for staff").count()


def test_a_session_completed_before_the_money_arrives_waits_for_it(deliver, order):
    """Asynchronous payment methods (bank debits) complete the session unpaid; Stripe
    confirms later with checkout.session.async_payment_succeeded."""
    assert deliver(completed(order, payment_status="unpaid")).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PENDING
    assert not order.needs_review

    later = event("checkout.session.async_payment_succeeded", checkout_session_object(order))
    assert deliver(later).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.PAID)]


# --- checkout.session.expired and charge.refunded -----------------------------------------


def test_expired_cancels_the_order_and_releases_its_stock(deliver, order):
    assert deliver(expired(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert stock_of(order) == [5]
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.CANCELLED)]


def test_refunded_found_by_payment_intent_refunds_and_keeps_the_stock_out(deliver, order):
    paid(order, deliver)
    assert deliver(refunded(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.REFUNDED
    assert stock_of(order) == [3]  # the goods may not come back: staff decide
    assert transitions(order)[-1] == (Status.PAID, Status.REFUNDED)


def test_refunded_found_by_order_id_in_metadata(deliver, order):
    paid(order, deliver)
    charge = refunded(order, payment_intent="pi_unknown", metadata={"order_id": str(order.pk)})
    assert deliver(charge).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.REFUNDED
    assert stock_of(order) == [3]


def test_a_partial_refund_is_flagged_for_staff_and_leaves_the_order_paid(deliver, order):
    paid(order, deliver)
    assert deliver(refunded(order, amount_refunded=100)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert order.needs_review and "partial refund" in order.review_reason


def test_a_refund_for_an_unpaid_order_is_flagged(deliver, order):
    charge = refunded(order, payment_intent="", metadata={"order_id": str(order.pk)})
    assert deliver(charge).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PENDING
    assert order.needs_review


def test_events_for_unknown_orders_are_acknowledged_and_change_nothing(deliver, order):
    before = snapshot(order)
    ghost = checkout_session_object(order, client_reference_id="999999", metadata={})
    assert deliver(event("checkout.session.completed", ghost)).status_code == 200
    bad_id = checkout_session_object(order, client_reference_id="1; DROP", metadata={})
    assert deliver(event("checkout.session.completed", bad_id)).status_code == 200
    charge = charge_object(payment_intent="pi_nobody", amount=100)
    assert deliver(event("charge.refunded", charge)).status_code == 200
    after = snapshot(order)
    assert after["order"] == before["order"]
    assert after["events"] == before["events"]
    assert after["stock"] == before["stock"]


def test_unknown_event_types_are_acknowledged_and_logged(deliver, order, caplog):
    before = snapshot(order)
    with caplog.at_level(logging.INFO, logger="orders.services"):
        response = deliver(event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert "unhandled type customer.created" in caplog.text
    after = snapshot(order)
    assert (after["order"], after["events"], after["stock"]) == (
        before["order"],
        before["events"],
        before["stock"],
    )


# --- duplicates and order of arrival -----------------------------------------------------


def test_the_same_event_twice_acts_once(deliver, order):
    sent = completed(order)
    assert deliver(sent).json()["outcome"] == "processed"
    second = deliver(sent)
    assert second.status_code == 200
    assert second.json()["outcome"] == "duplicate"
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.PAID)]
    assert PaymentEvent.objects.count() == 1


def test_the_same_refund_twice_acts_once(deliver, order):
    paid(order, deliver)
    sent = refunded(order)
    deliver(sent)
    assert deliver(sent).json()["outcome"] == "duplicate"
    assert [t for t in transitions(order) if t[1] == Status.REFUNDED] == [
        (Status.PAID, Status.REFUNDED)
    ]


def test_expired_after_completed_leaves_the_order_paid(deliver, order):
    paid(order, deliver)
    assert deliver(expired(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert not order.needs_review
    assert stock_of(order) == [3]  # sold stock is not released by a stale expiry
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.PAID)]


def test_completed_after_expired_stays_cancelled_and_is_flagged_for_a_refund(deliver, order):
    deliver(expired(order))
    assert deliver(completed(order)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert order.needs_review
    assert "refund" in order.review_reason
    assert stock_of(order) == [5]  # released once, not taken again
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.CANCELLED)]


def test_a_database_error_while_fulfilling_is_retried_by_redelivery(deliver, order, monkeypatch):
    real_transition = services.order_transition
    failures = []

    def flaky_transition(**kwargs):
        if not failures:
            failures.append(kwargs["to"])
            raise OperationalError("database is locked (simulated)")
        return real_transition(**kwargs)

    monkeypatch.setattr(services, "order_transition", flaky_transition)
    sent = completed(order)

    first = deliver(sent)
    assert first.status_code == 500  # Stripe will redeliver
    assert failures == [Status.PAID]
    assert PaymentEvent.objects.count() == 0
    order.refresh_from_db()
    assert order.status == Status.PENDING

    again = deliver(sent)
    assert again.status_code == 200
    assert again.json()["outcome"] == "processed"
    assert deliver(sent).json()["outcome"] == "duplicate"
    order.refresh_from_db()
    assert order.status == Status.PAID
    assert transitions(order) == [("", Status.PENDING), (Status.PENDING, Status.PAID)]
    assert PaymentEvent.objects.count() == 1


def check_webhook_race(report: dict, *, duplicate_always_acknowledged: bool) -> None:
    """Checks on tests/webhook_race.py's report (SQLite here, PostgreSQL in
    tests/test_oversell_postgres.py)."""
    duplicate = report["duplicate"]
    answers = duplicate["first"] + duplicate["redelivered"]
    assert [a.get("outcome") for a in answers].count("processed") == 1
    assert all(a["status"] in (200, 500) for a in answers), answers
    if duplicate_always_acknowledged:
        assert [a["status"] for a in duplicate["first"]] == [200, 200]
    assert duplicate["redelivered"] == [{"status": 200, "outcome": "duplicate"}]
    assert duplicate["status"] == Status.PAID
    assert duplicate["transitions"] == [["", "pending"], ["pending", "paid"]]
    assert duplicate["payment_events"] == 1
    assert duplicate["stock"] == 3

    # Completed and expired at once: whichever wins, the other is handled consistently
    # once redelivered, and the stock matches the outcome.
    crossing = report["crossing"]
    assert all(a["status"] == 200 for a in crossing["redelivered"]), crossing
    assert crossing["payment_events"] == 2
    assert len(crossing["transitions"]) == 2
    if crossing["status"] == Status.PAID:
        assert (crossing["stock"], crossing["needs_review"]) == (3, False)
    else:
        assert crossing["status"] == Status.CANCELLED
        assert (crossing["stock"], crossing["needs_review"]) == (5, True)


def test_concurrent_deliveries_fulfil_once_on_sqlite(tmp_path):
    """Threads with their own connections on a SQLite file (own process, real commits)."""
    report = run_race("tests/webhook_race.py", site_env(tmp_path, **STRIPE_ENV))
    # SQLite may refuse the losing writer outright ("database is locked"): a 500, which
    # Stripe redelivers and which then changes nothing.
    check_webhook_race(report, duplicate_always_acknowledged=False)


# --- the signature ------------------------------------------------------------------------


def _tampered(sent: dict) -> dict:
    body = json.dumps(sent)
    forged = body.replace(
        f'"amount_total": {sent["data"]["object"]["amount_total"]}', '"amount_total": 1'
    )
    assert forged != body
    return {"body": forged, "signature": stripe_signature(body, WEBHOOK_SECRET)}


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param(lambda sent: {"signature": False}, id="missing"),
        pytest.param(lambda sent: {"signature": ""}, id="empty"),
        pytest.param(lambda sent: {"signature": "garbage"}, id="garbage"),
        pytest.param(lambda sent: {"signature": f"t={int(time.time())}"}, id="no-v1"),
        pytest.param(lambda sent: {"secret": "whsec_someone_else"}, id="wrong-secret"),
        pytest.param(_tampered, id="tampered-body"),
        pytest.param(lambda sent: {"timestamp": int(time.time()) - 301}, id="stale-timestamp"),
        pytest.param(
            lambda sent: {
                "signature": stripe_signature(json.dumps(sent), WEBHOOK_SECRET).replace(
                    "v1=", "v0="
                )
            },
            id="only-v0-scheme",
        ),
        pytest.param(lambda sent: {"body": "not json", "event": None}, id="signed-non-json"),
    ],
)
def test_a_webhook_that_does_not_verify_is_refused_and_changes_nothing(deliver, order, forgery):
    sent = completed(order)
    before = snapshot(order)
    options = forgery(sent)
    payload = options.pop("event", sent)
    response = deliver(payload, **options)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert snapshot(order) == before
    # The genuine delivery still works afterwards.
    assert deliver(sent).status_code == 200


def test_a_signature_within_the_tolerance_is_accepted(deliver, order):
    response = deliver(completed(order), timestamp=int(time.time()) - 290)
    assert response.status_code == 200


def test_any_matching_v1_signature_is_accepted_as_stripe_does_when_rolling_secrets(deliver, order):
    body = json.dumps(completed(order))
    old = stripe_signature(body, "whsec_old_secret")
    new = stripe_signature(body, WEBHOOK_SECRET)
    both = f"{old},{new.split(',', 1)[1]}"
    assert deliver(body=body, signature=both).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PAID


def test_webhooks_are_refused_when_no_secret_is_configured(deliver, order, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    before = snapshot(order)
    response = deliver(completed(order), secret="")
    assert response.status_code == 400
    assert snapshot(order) == before


def test_the_webhook_only_takes_post(client, stripe_settings):
    assert client.get("/payments/stripe/webhook/").status_code == 405


# --- the dummy backend: the very same path -------------------------------------------------


@pytest.fixture
def dummy_order(settings, make_order, make_product):
    def make():
        settings.PAYMENTS_BACKEND = "dummy"
        order = make_order(lines=[(make_product(stock=5), 2)])
        assert order.payment_backend == "dummy"
        return order

    return make


def outcome(order: Order) -> dict:
    order.refresh_from_db()
    return {
        "status": order.status,
        "needs_review": order.needs_review,
        "transitions": transitions(order),
        "stock": stock_of(order),
    }


@pytest.mark.parametrize("pay", [True, False], ids=["pay", "cancel"])
def test_the_dummy_backend_gives_the_same_results_as_the_webhook(deliver, order, dummy_order, pay):
    dummy = dummy_order()
    services.dummy_payment_complete(order=dummy, buyer=dummy.buyer, pay=pay)
    deliver(completed(order) if pay else expired(order))
    assert outcome(dummy) == outcome(order)
    assert outcome(dummy)["status"] == (Status.PAID if pay else Status.CANCELLED)
    assert outcome(dummy)["stock"] == ([3] if pay else [5])


def test_dummy_pay_twice_and_cancel_after_paying_change_nothing(dummy_order):
    dummy = dummy_order()
    services.dummy_payment_complete(order=dummy, buyer=dummy.buyer, pay=True)
    services.dummy_payment_complete(order=dummy, buyer=dummy.buyer, pay=True)
    services.dummy_payment_complete(order=dummy, buyer=dummy.buyer, pay=False)
    assert outcome(dummy) == {
        "status": Status.PAID,
        "needs_review": False,
        "transitions": [("", Status.PENDING), (Status.PENDING, Status.PAID)],
        "stock": [3],
    }


def test_dummy_payment_is_only_for_the_buyer_and_dummy_orders(
    stripe_settings, order, dummy_order, make_user
):
    dummy = dummy_order()
    with pytest.raises(NotFoundError):
        services.dummy_payment_complete(order=dummy, buyer=make_user(), pay=True)
    with pytest.raises(NotFoundError):  # a Stripe order is paid on Stripe only
        services.dummy_payment_complete(order=order, buyer=order.buyer, pay=True)
    assert outcome(dummy)["status"] == outcome(order)["status"] == Status.PENDING
