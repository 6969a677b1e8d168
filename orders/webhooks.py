"""`/payments/stripe/webhook/`: Stripe tells us what happened to a payment."""

import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from liveshop.api import error_body
from orders import services, stripe_api
from orders.exceptions import InvalidWebhook

logger = logging.getLogger(__name__)


@csrf_exempt  # Stripe signs the body instead; a CSRF token cannot exist here
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if not settings.STRIPE_WEBHOOK_SECRET:
        return JsonResponse(
            error_body("webhook_not_configured", _("Stripe webhooks are not configured here.")),
            status=400,
        )
    try:
        event = stripe_api.webhook_event(request.body, request.headers.get("Stripe-Signature"))
    except InvalidWebhook as exc:
        logger.warning("refused a Stripe webhook: %s", exc)
        return JsonResponse(
            error_body("invalid_signature", _("The webhook signature does not verify.")),
            status=400,
        )
    # A database error here propagates as a 500: the event is not recorded as processed,
    # so Stripe's redelivery fulfils it (exactly once).
    outcome = services.payment_event_process(event=event)
    return JsonResponse({"received": True, "outcome": outcome})
