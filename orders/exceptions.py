"""Order and payment refusals with stable codes (docs/api.md)."""

from liveshop.errors import ApplicationError


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


class InvalidWebhook(Exception):
    """A webhook whose signature, timestamp or body does not check out."""
