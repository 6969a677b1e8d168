"""Order and payment refusals with stable codes (docs/api.md)."""

from django.db import InterfaceError, OperationalError

from liveshop.errors import ApplicationError

# The database is there but refuses or fails for now (too many connections, a lock held too
# long, the server restarting): worth a retry, unlike a bug. Views answer these with
# TemporarilyUnavailable.
DATABASE_AWAY = (OperationalError, InterfaceError)


class CartError(ApplicationError):
    code = "cart_invalid"


class OutOfStock(ApplicationError):
    code = "out_of_stock"
    status = 409


class IllegalOrderTransition(ApplicationError):
    code = "illegal_transition"
    status = 409


class PaymentProviderError(ApplicationError):
    """The payment provider could not be reached or refused the request."""

    code = "payment_unavailable"
    status = 502


class CheckoutPaymentUnavailable(PaymentProviderError):
    """Checkout made the order but could not open its payment page, so the order was released:
    cancelled, its stock back on sale, its lines back in the buyer's cart. Same code and status
    as PaymentProviderError (what a client sees does not change); pages send the buyer back to
    the cart rather than to the order."""


class TemporarilyUnavailable(ApplicationError):
    """The checkout could not run now (every checkout slot taken for too long, or the
    database refusing: too many connections, a lock held too long, the server away).
    Answered 503 with Retry-After; nothing was changed unless the message says otherwise."""

    code = "temporarily_unavailable"
    status = 503
    retry_after = 2  # seconds: a flash sale's queue drains in seconds, not minutes


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body does not check out."""
