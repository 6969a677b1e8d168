"""The only module that talks to Stripe (official SDK). Money crosses this boundary in
integer minor units; the rest of LiveShop uses Decimal."""

from decimal import Decimal

import stripe
from django.conf import settings
from django.utils.translation import gettext as _

from orders.exceptions import InvalidWebhook, PaymentProviderError
from orders.models import Order

# Our currencies (USD, EUR, GBP) all have two decimal places in Stripe.
MINOR_UNITS_PER_UNIT = 100
WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's default: older signatures are replays
# Creating the Checkout Session is on the buyer's way from "Check out" to Stripe's page: they
# wait for it, and in a flash sale their reservation is held (and, through the API, one of the
# process's checkout slots) until it answers. With Stripe up a connection takes milliseconds
# and a session normally well under a second, so 2 s without a connection or 5 s without an
# answer is an outage, not a slow day: checkout gives up (after the SDK's one retry: at most
# about 2 x 7 s + 0.5 s, against 20.5 s or more with STRIPE_TIMEOUT_SECONDS' 10 s for each)
# and releases the order (orders.services.checkout_open_payment). A session Stripe made after
# we gave up is never shown to anyone, expires with the order's window, and a payment on it
# would be flagged for a refund. Other calls (closing a session) keep the settings' timeout.
CHECKOUT_CONNECT_TIMEOUT_SECONDS = 2.0
CHECKOUT_READ_TIMEOUT_SECONDS = 5.0


def to_minor_units(amount: Decimal) -> int:
    return int((amount * MINOR_UNITS_PER_UNIT).to_integral_value())


def _client(timeout: float | tuple[float, float] | None = None) -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        # A retry carries the same idempotency key, so it can never make a second session.
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=timeout or settings.STRIPE_TIMEOUT_SECONDS),
    )


def checkout_session_timeout() -> tuple[float, float]:
    """(connect, read) seconds for creating a Checkout Session: the shorter of ours and the
    settings' STRIPE_TIMEOUT_SECONDS."""
    limit = settings.STRIPE_TIMEOUT_SECONDS
    return (
        min(CHECKOUT_CONNECT_TIMEOUT_SECONDS, limit),
        min(CHECKOUT_READ_TIMEOUT_SECONDS, limit),
    )


def checkout_session_create(*, order: Order, success_url: str, cancel_url: str) -> tuple[str, str]:
    """Create the Stripe Checkout Session for `order`; answer (session id, payment page URL)."""
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": item.quantity,
                "price_data": {
                    "currency": item.currency.lower(),
                    "unit_amount": to_minor_units(item.unit_price),
                    "product_data": {"name": item.name},
                },
            }
            for item in order.items.all()
        ],
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "payment_intent_data": {"metadata": {"order_id": str(order.pk)}},
        "customer_email": order.buyer.email or None,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(order.expires_at.timestamp()),
    }
    try:
        session = _client(checkout_session_timeout()).v1.checkout.sessions.create(
            params={key: value for key, value in params.items() if value is not None},
            options={"idempotency_key": order.idempotency_key},
        )
    except stripe.StripeError as exc:
        raise PaymentProviderError(
            _(
                "The payment service is not answering right now. Your items are reserved: "
                "try paying again in a moment from your order."
            )
        ) from exc
    return session.id, session.url


def checkout_session_expire(*, session_id: str) -> None:
    """Close a Checkout Session so its payment page can no longer take money."""
    try:
        _client().v1.checkout.sessions.expire(session_id)
    except stripe.StripeError as exc:
        raise PaymentProviderError(_("The payment page could not be closed.")) from exc


def webhook_event(payload: bytes, signature: str | None) -> dict:
    """Verify a webhook's signature (and its age) and answer the event as a plain dict."""
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            payload,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=WEBHOOK_TOLERANCE_SECONDS,
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc)) from None
    return event.to_dict()
