"""Cart, checkout and order pages (buyers) and the seller's sales pages.

Every write goes through orders.services; a service's refusal (an ApplicationError with a
message a person can act on) becomes an error message and changes nothing. No page here ever
marks an order paid: only a payment event does (Stripe's webhook, or the dummy backend's
Pay button, which feeds the very same event handler)."""

import logging
import re
from decimal import Decimal
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.decorators import seller_required
from catalog.models import Product
from liveshop.converters import PrimaryKeyConverter
from liveshop.errors import ApplicationError
from orders import selectors, services
from orders.exceptions import (
    DATABASE_AWAY,
    CheckoutPaymentUnavailable,
    IllegalOrderTransition,
    OutOfStock,
    PaymentProviderError,
)
from orders.forms import CartAddForm, CartQuantityForm, ShipForm
from orders.models import Cart, CartItem, Order

logger = logging.getLogger(__name__)
Status = Order.Status
ORDERS_PER_PAGE = 20
# The success page asks for the order's status this often while payment is processing.
STATUS_POLL_SECONDS = 2


# --- helpers -----------------------------------------------------------------------------


def _login_then(view_name: str):
    """POST-only views: a visitor whose session ran out logs in and lands on a page that
    can be shown (the POST itself cannot be replayed by a redirect)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(reverse(view_name, kwargs=kwargs or None))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _cart_for_writing(request: HttpRequest) -> Cart:
    if request.user.is_authenticated:
        return services.cart_for_user(user=request.user)
    return services.cart_for_session(session=request.session)


def _safe_next(request: HttpRequest) -> str | None:
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return _("Please check what you entered.")


def _own_order(request: HttpRequest, pk) -> Order:
    """The signed-in buyer's order; anyone else's is simply not found."""
    return get_object_or_404(Order.objects.filter(buyer=request.user), pk=pk)


def _own_order_from_query(request: HttpRequest) -> Order:
    order_id = request.GET.get("order", "")
    if not re.fullmatch(PrimaryKeyConverter.regex, order_id):
        raise Http404("No such order.")
    return _own_order(request, order_id)


def _payment_redirect(request: HttpRequest, order: Order, *, at_checkout: bool) -> HttpResponse:
    """Send the buyer to where they pay (Stripe Checkout, or the dummy page).

    `at_checkout`: the order was made by this request. If its payment page cannot be had, the
    order is released (services.checkout_open_payment) and the buyer goes back to the cart,
    which holds the items again: "Check out" is the retry. "Pay now" on an existing order
    keeps it as it is."""
    query = f"?order={order.pk}"
    open_payment = services.checkout_open_payment if at_checkout else services.checkout_payment_url
    try:
        url = open_payment(
            order=order,
            success_url=request.build_absolute_uri(reverse("orders:checkout-success")) + query,
            cancel_url=request.build_absolute_uri(reverse("orders:checkout-cancel")) + query,
        )
    except CheckoutPaymentUnavailable as exc:
        messages.error(request, exc.message)
        return redirect("orders:cart")
    except PaymentProviderError as exc:
        # The order is still there, pending ("Pay now" on its page tries again), or it was
        # cancelled meanwhile: its page says which.
        messages.error(request, exc.message)
        return redirect(order)
    except IllegalOrderTransition as exc:
        messages.error(request, exc.message)
        return redirect(order)
    return redirect(url)


def _totals(lines, amount) -> list[tuple[str, Decimal]]:
    """Totals per currency, in the order the currencies first appear."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        currency, value = amount(line)
        totals[currency] = totals.get(currency, Decimal("0")) + value
    return list(totals.items())


def _with_status_labels(events) -> list:
    labels = dict(Status.choices)
    events = list(events)
    for event in events:
        event.from_label = labels.get(event.from_status, event.from_status)
        event.to_label = labels.get(event.to_status, event.to_status)
    return events


# --- the cart ----------------------------------------------------------------------------


@require_safe
def cart_page(request):
    items = selectors.cart_items(selectors.cart_of_request(request))
    for item in items:
        product = item.product
        # Stock or availability may have changed since the line was added: say so here,
        # before checkout refuses it.
        if not product.is_active or not product.seller.is_active:
            item.problem = _("No longer on sale: remove it to check out.")
        elif product.stock < item.quantity:
            item.problem = (
                _("Only %(n)s left.") % {"n": product.stock} if product.stock else _("Sold out.")
            )
        else:
            item.problem = ""
    totals = _totals(items, lambda item: (item.product.currency, item.line_total))
    return render(
        request,
        "orders/cart.html",
        {
            "items": items,
            "totals": totals,
            "mixed_currencies": len(totals) > 1,
            "max_quantity": services.MAX_QUANTITY_PER_LINE,
        },
    )


@require_POST
def cart_add(request):
    form = CartAddForm(request.POST)
    next_url = _safe_next(request)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect(next_url or "orders:cart")
    product = (
        Product.objects.select_related("seller").filter(pk=form.cleaned_data["product_id"]).first()
    )
    if product is None:
        raise Http404("No such product.")
    try:
        services.cart_add(
            cart=_cart_for_writing(request),
            product=product,
            quantity=form.cleaned_data["quantity"],
            room_id=form.cleaned_data["room"] or None,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(next_url or "orders:cart")
    messages.success(request, _("Added “%(name)s” to your cart.") % {"name": product.name})
    return redirect(next_url or "orders:cart")


@require_POST
def cart_item_update(request, pk: str):
    cart = selectors.cart_of_request(request)
    if cart is None:
        raise Http404("No such cart item.")
    item = get_object_or_404(
        CartItem.objects.filter(cart=cart).select_related("product", "product__seller"), pk=pk
    )
    name = item.product.name
    try:
        if request.POST.get("action") == "remove":
            services.cart_remove(cart=cart, item=item)
            messages.success(request, _("Removed “%(name)s” from your cart.") % {"name": name})
        else:
            form = CartQuantityForm(request.POST)
            if not form.is_valid():
                messages.error(request, _first_error(form))
            elif form.cleaned_data["quantity"] == 0:
                services.cart_remove(cart=cart, item=item)
                messages.success(request, _("Removed “%(name)s” from your cart.") % {"name": name})
            else:
                item = services.cart_set_quantity(
                    cart=cart, item=item, quantity=form.cleaned_data["quantity"]
                )
                messages.success(
                    request,
                    _("“%(name)s”: quantity is now %(n)s.") % {"name": name, "n": item.quantity},
                )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("orders:cart")


# --- checkout ----------------------------------------------------------------------------


@require_POST
def checkout(request):
    if not request.user.is_authenticated:
        messages.info(request, _("Log in to check out. Your cart will be waiting."))
        return redirect_to_login(reverse("orders:cart"))
    try:
        with services.checkout_slot():  # in line with the API's checkouts (services.py)
            order = services.checkout_create_order(user=request.user)
    except DATABASE_AWAY:
        logger.warning("checkout refused, database unavailable", exc_info=True)
        messages.error(
            request,
            _("The shop cannot take orders for a moment; nothing was reserved. Try again."),
        )
        return redirect("orders:cart")
    except OutOfStock as exc:
        messages.error(
            request,
            _("%(reason)s Nothing was reserved: change your cart and check out again.")
            % {"reason": exc.message},
        )
        return redirect("orders:cart")
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("orders:cart")
    return _payment_redirect(request, order, at_checkout=True)


@login_required
@require_safe
def checkout_success(request):
    order = _own_order_from_query(request)
    return render(
        request,
        "orders/checkout_success.html",
        {
            "order": order,
            "items": order.items.all(),
            "poll_seconds": STATUS_POLL_SECONDS,
        },
    )


@login_required
@require_safe
def checkout_cancel(request):
    order = _own_order_from_query(request)
    return render(request, "orders/checkout_cancel.html", {"order": order})


# --- the buyer's orders ------------------------------------------------------------------


@login_required
@require_safe
def order_list(request):
    orders = selectors.orders_of_buyer(buyer=request.user)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"page": page})


def _wants_json(request: HttpRequest) -> bool:
    if request.GET.get("format") == "json":
        return True
    # Browsers accept */* too: only a client that prefers JSON over HTML gets it.
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


@never_cache
@login_required
@require_safe
def order_detail(request, pk: str):
    order = _own_order(request, pk)
    if _wants_json(request):
        # What the success page polls for: the status only, never a way to change it.
        response = JsonResponse(
            {
                "id": str(order.pk),
                "status": order.status,
                "status_display": order.get_status_display(),
            }
        )
    else:
        response = render(
            request,
            "orders/order_detail.html",
            {
                "order": order,
                "items": order.items.all(),
                "events": _with_status_labels(selectors.order_status_events().filter(order=order)),
            },
        )
    patch_vary_headers(response, ["Accept"])
    return response


@require_POST
@_login_then("orders:order-detail")
def order_pay(request, pk: str):
    order = _own_order(request, pk)
    if order.status != Status.PENDING:
        messages.info(request, _("This order is not waiting for payment."))
        return redirect(order)
    return _payment_redirect(request, order, at_checkout=False)


@require_POST
@_login_then("orders:order-detail")
def order_cancel(request, pk: str):
    order = _own_order(request, pk)
    try:
        services.order_cancel_by_buyer(order=order, buyer=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Order %(id)s is cancelled.") % {"id": order.pk})
    return redirect(order)


# --- the dummy payment backend -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def dummy_payment(request, pk: str):
    """A local stand-in for Stripe Checkout, for development without Stripe keys. Its buttons
    feed the same payment-event handler as Stripe's webhook: no shortcut to "paid".

    Opened with the order's signed `token` (the checkout URL has it), it needs no session,
    as Stripe's page needs none: a mobile app opens it in a browser. Without a token it is
    for the signed-in buyer only."""
    if settings.PAYMENTS_BACKEND != "dummy":
        raise Http404("The test payment backend is off.")
    token = request.GET.get("token", "")
    dummy_orders = Order.objects.filter(payment_backend="dummy").select_related("buyer")
    if token:
        order = get_object_or_404(dummy_orders, pk=pk)
        if not services.dummy_payment_token_valid(order=order, token=token):
            raise Http404("No such payment page.")
    elif not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    else:
        order = get_object_or_404(dummy_orders.filter(buyer=request.user), pk=pk)
    # Opened from an app (token, no session of the buyer's): the page itself shows the outcome.
    from_app = request.user.pk != order.buyer_id
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in {"pay", "cancel"}:
            messages.error(request, _("Choose Pay or Cancel."))
            return redirect(request.get_full_path())
        if order.status != Status.PENDING:
            # A stale tab: paying a cancelled order would only flag it for a refund.
            messages.info(
                request,
                _("This order is no longer waiting for payment (status: %(status)s).")
                % {"status": order.get_status_display()},
            )
            return redirect(request.get_full_path() if from_app else order.get_absolute_url())
        order = services.dummy_payment_complete(order=order, buyer=order.buyer, pay=action == "pay")
        if from_app:
            return redirect(request.get_full_path())
        if action == "pay":
            return redirect(reverse("orders:checkout-success") + f"?order={order.pk}")
        messages.info(request, _("Payment cancelled. The order is cancelled."))
        return redirect(order)
    return render(
        request, "orders/dummy_payment.html", {"order": order, "items": order.items.all()}
    )


# --- the seller's sales ------------------------------------------------------------------


def _seller_order(request: HttpRequest, pk) -> Order:
    return get_object_or_404(selectors.orders_of_seller(seller=request.user), pk=pk)


def _seller_total(order: Order) -> list[tuple[str, Decimal]]:
    return _totals(order.seller_items, lambda item: (item.currency, item.line_total))


@seller_required
@require_safe
def seller_orders(request):
    orders = selectors.orders_of_seller(seller=request.user)
    status = request.GET.get("status", "")
    if status in Status.values:
        orders = orders.filter(status=status)
    else:
        status = ""
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    for order in page.object_list:
        order.seller_totals = _seller_total(order)
    return render(
        request,
        "orders/seller_orders.html",
        {
            "page": page,
            "status": status,
            "statuses": Status.choices,
            "query_string": f"status={status}" if status else "",
        },
    )


@seller_required
@require_safe
def seller_order_detail(request, pk: str):
    order = _seller_order(request, pk)
    return render(
        request,
        "orders/seller_order_detail.html",
        {
            "order": order,
            "items": order.seller_items,
            "totals": _seller_total(order),
            "other_sellers": order.items.exclude(seller=request.user).exists(),
            "events": _with_status_labels(selectors.order_status_events().filter(order=order)),
            "ship_form": ShipForm(),
        },
    )


@seller_required
@require_POST
def seller_order_ship(request, pk: str):
    order = _seller_order(request, pk)
    form = ShipForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("orders:seller-order-detail", pk=order.pk)
    try:
        services.order_ship(
            order=order, seller=request.user, tracking_number=form.cleaned_data["tracking_number"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Order %(id)s is marked as shipped.") % {"id": order.pk})
    return redirect("orders:seller-order-detail", pk=order.pk)
