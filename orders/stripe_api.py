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


def to_minor_units(amount: Decimal) -> int:
    return int((amount * MINOR_UNITS_PER_UNIT).to_integral_value())


def _client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        # A retry carries the same idempotency key, so it can never make a second session.
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
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
        session = _client().v1.checkout.sessions.create(
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
