"""Every write to carts, orders and payments goes through here: pages, API, the webhook, the
dummy payment page and commands.

Stock is only ever changed by conditional atomic updates (`stock >= n` inside the UPDATE's
filter), which hold on SQLite, PostgreSQL and MongoDB alike: concurrent buyers can never
drive stock below zero nor get more units than exist.
"""

import contextlib
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from catalog.models import Product
from liveshop.errors import ApplicationError, NotFoundError
from orders import stripe_api
from orders.exceptions import (
    DATABASE_AWAY,
    CartError,
    CheckoutPaymentUnavailable,
    IllegalOrderTransition,
    OutOfStock,
    PaymentProviderError,
    TemporarilyUnavailable,
)
from orders.models import Cart, CartItem, Order, OrderEvent, OrderItem, PaymentEvent
from rooms.models import ShoppingRoom
from rooms.services import room_record_add_to_cart, rooms_product_stock_changed
from rooms.store import SEEN_TTL, get_store

logger = logging.getLogger(__name__)
Status = Order.Status

# The one order status machine.
TRANSITIONS: dict[str, set[str]] = {
    Status.PENDING: {Status.PAID, Status.CANCELLED},
    Status.PAID: {Status.SHIPPED, Status.REFUNDED},
    Status.SHIPPED: {Status.DELIVERED},
    Status.DELIVERED: set(),
    Status.CANCELLED: set(),
    Status.REFUNDED: set(),
}

MAX_QUANTITY_PER_LINE = 100
# Stripe refuses a Checkout Session whose expires_at is less than 30 minutes after the
# session's creation. The session is created after the order (same request, or a retry a
# little later) and every attempt must send the same parameters to be an idempotent replay,
# so the order's window (which is the session's expires_at) carries this much headroom.
SESSION_CREATION_GRACE = timedelta(minutes=2)
SESSION_CART_TOKEN = "cart_token"


# --- carts ----------------------------------------------------------------------------------


def cart_for_user(*, user: User) -> Cart:
    cart, _ = Cart.objects.get_or_create(user=user)
    return cart


def cart_for_session(*, session) -> Cart:
    """The anonymous visitor's cart, created on first use and remembered in the session."""
    token = session.get(SESSION_CART_TOKEN)
    cart = Cart.objects.filter(session_token=token, user=None).first() if token else None
    if cart is None:
        token = secrets.token_hex(16)
        cart = Cart.objects.create(session_token=token)
        session[SESSION_CART_TOKEN] = token
    return cart


def _check_quantity(product: Product, quantity: int) -> None:
    if not product.is_active or not product.seller.is_active:
        raise CartError(
            _("“%(name)s” is no longer on sale.") % {"name": product.name},
            code="product_unavailable",
        )
    if quantity < 1 or quantity > MAX_QUANTITY_PER_LINE:
        message = _("Choose a quantity from 1 to %(max)s.") % {"max": MAX_QUANTITY_PER_LINE}
        raise CartError(message, code="invalid_quantity", fields={"quantity": [message]})
    if quantity > product.stock:
        # Whole sentences, not a "left" fragment, so translators see what they translate.
        message = (
            _("“%(name)s” is only %(stock)s left.")
            if product.stock
            else _("“%(name)s” is sold out.")
        ) % {"name": product.name, "stock": product.stock}
        raise CartError(
            message,
            code="out_of_stock",
            fields={"quantity": [_("Only %(stock)s in stock.") % {"stock": product.stock}]},
        )


def cart_add(*, cart: Cart, product: Product, quantity: int = 1, room_id=None) -> CartItem:
    """Add `quantity` more of `product` (adding to what the cart already holds).

    `room_id`: the shopping room the add was made from. The line is attributed to it (its
    sales count for the room) only while the room is live and lists the product; any other
    room is ignored (the add itself goes through: a room's product list or status can change
    while its page is open). The room's "Added to cart" counts once per cart line and room:
    only when the line's room changes to this one, and once per cart, product and room (see
    _first_add_from_room), so repeated adds or add/remove loops cannot inflate it."""
    if cart.user_id is not None and cart.user_id == product.seller_id:
        raise CartError(_("This is your own product: you cannot buy it."), code="own_product")
    item = _cart_add(cart=cart, product=product, quantity=quantity)
    if (
        room_id is not None
        and ShoppingRoom.objects.filter(
            pk=room_id, status=ShoppingRoom.Status.LIVE, products=product
        ).exists()
    ):
        # Conditional, so that of two racing adds of one line only one sees the change.
        moved = CartItem.objects.filter(pk=item.pk).exclude(room_id=room_id).update(room_id=room_id)
        item.room_id = room_id
        if moved and _first_add_from_room(cart=cart, product=product, room_id=room_id):
            room_record_add_to_cart(room_id=room_id)
    return item


def _first_add_from_room(*, cart: Cart, product: Product, room_id) -> bool:
    """Whether this cart puts this product in from this room for the first time. A removed
    line leaves no trace in the database, so the room store remembers it (a claim that
    expires with the room's unique-viewer set; a show is over long before). The cart's
    creation time is part of the key: a cart id can be reused (SQLite after a rollback)."""
    store = get_store()
    key = f"add-to-cart:{room_id}:{cart.pk}.{cart.created_at.timestamp()}:{product.pk}"
    token = uuid.uuid4().hex  # ours: the claim answers it back only if this add won
    try:
        return async_to_sync(store.value_claim)(key, token, ttl=SEEN_TTL) == token
    except Exception:  # the store is down: the line rule above still holds, count it
        logger.warning("could not check add-to-cart repeats in the room store", exc_info=True)
        return True


def _cart_add(*, cart: Cart, product: Product, quantity: int) -> CartItem:
    item = cart.items.filter(product=product).first()
    wanted = quantity + (item.quantity if item else 0)
    _check_quantity(product, wanted)
    if item is None:
        try:
            with transaction.atomic():
                return CartItem.objects.create(cart=cart, product=product, quantity=wanted)
        except IntegrityError:  # the same product added twice at once: count both
            item = cart.items.get(product=product)
            return cart_set_quantity(cart=cart, item=item, quantity=item.quantity + quantity)
    item.quantity = wanted
    item.save(update_fields=["quantity"])
    Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())
    return item


def cart_set_quantity(*, cart: Cart, item: CartItem, quantity: int) -> CartItem:
    if item.cart_id != cart.pk:
        raise NotFoundError(_("No such cart item."))
    _check_quantity(item.product, quantity)
    item.quantity = quantity
    item.save(update_fields=["quantity"])
    return item


def cart_remove(*, cart: Cart, item: CartItem) -> None:
    if item.cart_id != cart.pk:
        raise NotFoundError(_("No such cart item."))
    item.delete()


def cart_merge_session_into_user(*, session, user: User) -> None:
    """At login, what an anonymous visitor put in the cart joins the user's cart
    (quantities add up, capped at what is in stock)."""
    token = session.pop(SESSION_CART_TOKEN, None)
    session_cart = Cart.objects.filter(session_token=token, user=None).first() if token else None
    if session_cart is None:
        return
    user_cart = cart_for_user(user=user)
    with transaction.atomic():
        for item in session_cart.items.select_related("product", "product__seller"):
            existing = user_cart.items.filter(product=item.product).first()
            total = item.quantity + (existing.quantity if existing else 0)
            total = min(total, item.product.stock, MAX_QUANTITY_PER_LINE)
            if total < 1 or not item.product.is_active or item.product.seller_id == user.pk:
                continue  # sold out, off sale, or the user's own product
            if existing:
                existing.quantity = total
                existing.room_id = item.room_id or existing.room_id  # the latest room wins
                existing.save(update_fields=["quantity", "room"])
            else:
                CartItem.objects.create(
                    cart=user_cart, product=item.product, quantity=total, room_id=item.room_id
                )
        session_cart.delete()


# --- the order status machine ------------------------------------------------------------


def order_transition(
    *, order: Order, to: str, actor: User | None = None, note: str = "", **fields
) -> Order:
    """Move `order` to `to` if the table allows it; write an OrderEvent. A conditional update
    makes the check and the move one step, so racing requests cannot both move it."""
    if to not in TRANSITIONS[order.status]:
        raise IllegalOrderTransition(
            _("A %(status)s order cannot become %(to)s.") % {"status": order.status, "to": to}
        )
    with transaction.atomic():
        moved = Order.objects.filter(pk=order.pk, status=order.status).update(
            status=to, updated_at=timezone.now(), **fields
        )
        if not moved:
            order.refresh_from_db()
            raise IllegalOrderTransition(
                _("The order is already %(status)s.") % {"status": order.status}
            )
        OrderEvent.objects.create(
            order=order, from_status=order.status, to_status=to, actor=actor, note=note
        )
        order.refresh_from_db()
    return order


def _order_flag(*, order: Order, reason: str) -> None:
    Order.objects.filter(pk=order.pk).update(needs_review=True, review_reason=reason[:500])
    OrderEvent.objects.create(order=order, note=f"Flagged for staff: {reason}"[:500])
    logger.warning("order %s flagged for staff: %s", order.pk, reason)


def order_review_resolve(*, order: Order, actor: User, note: str = "") -> Order:
    """Staff have looked at a flagged order (e.g. a payment that did not match, or a refund
    to make): clear the flag and say so in the order's history."""
    if not actor.is_staff:
        raise NotFoundError(_("No such order."))
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(needs_review=False)
        OrderEvent.objects.create(
            order=order, actor=actor, note=f"Reviewed by staff: {note or order.review_reason}"[:500]
        )
    order.refresh_from_db()
    return order


def _release_stock(order: Order) -> None:
    items = list(order.items.all())  # read once: the lines serve both loops
    for item in items:
        Product.objects.filter(pk=item.product_id).update(stock=F("stock") + item.quantity)
    rooms_product_stock_changed(product_ids=[item.product_id for item in items])


# --- checkout ----------------------------------------------------------------------------


# How many checkouts this process runs at once (settings.CHECKOUT_CONCURRENCY). Sized once:
# the semaphore is the process's queue.
_checkout_slots = threading.BoundedSemaphore(settings.CHECKOUT_CONCURRENCY)


@contextlib.contextmanager
def checkout_slot() -> Iterator[None]:
    """Hold one of the process's checkout slots; wait for one in line (first come, first
    served) for up to settings.CHECKOUT_QUEUE_SECONDS, else TemporarilyUnavailable.

    Why: in a flash sale every buyer presses "Pay" at once. Unbounded, each request took the
    database at the same moment: on PostgreSQL one connection each ("too many clients" beyond
    max_connections), on SQLite a writer each polling for the file lock (20 s timeouts), and
    the race took 40 to 70 s (bench/README.md, checkout_race.py). In line, a checkout finds
    the database to itself and reads the stock at its turn, so once the units are gone every
    later buyer is refused by a read (checkout_create_order), not by the write path. The
    views hold the slot around the whole request, authentication included, so a waiting
    request holds no database connection either."""
    if not _checkout_slots.acquire(timeout=settings.CHECKOUT_QUEUE_SECONDS):
        raise TemporarilyUnavailable(
            _(
                "So many people are checking out right now that yours could not start; "
                "nothing was ordered or reserved. Try again in a few seconds."
            )
        )
    try:
        yield
    finally:
        _checkout_slots.release()


def _ran_out(product: Product, left: int) -> OutOfStock:
    return OutOfStock(
        _("“%(name)s” ran out: only %(stock)s left.") % {"name": product.name, "stock": left},
        fields={"product_id": [str(product.pk)]},
    )


def _dummy_payment_url(order: Order) -> str:
    # Like a Stripe Checkout URL, it works without a LiveShop session (a mobile app opens it
    # in a browser): the signed token stands for the buyer of this one order.
    token = signing.dumps(str(order.pk), salt=DUMMY_PAYMENT_SALT)
    return reverse("orders:dummy-payment", kwargs={"pk": order.pk}) + f"?token={token}"


def checkout_create_order(*, user: User) -> Order:
    """Turn the user's cart into a pending order and reserve its stock: all lines or none."""
    # The lines straight from the user's cart (a user without a cart has none): no cart row
    # is read or made on the way.
    items = list(
        CartItem.objects.filter(cart__user=user).select_related("product", "product__seller")
    )
    if not items:
        raise CartError(_("Your cart is empty."), code="cart_empty")
    currencies = {item.product.currency for item in items}
    if len(currencies) > 1:
        raise CartError(
            _("Your cart mixes currencies; check out one currency at a time."),
            code="mixed_currencies",
        )
    for item in items:
        if not item.product.is_active or not item.product.seller.is_active:
            raise CartError(
                _("“%(name)s” is no longer on sale; remove it from your cart.")
                % {"name": item.product.name},
                code="product_unavailable",
            )
    # Reserve in one global order (by product id), not cart order: on PostgreSQL each UPDATE
    # holds its row until commit, and two carts holding A, B and B, A would wait on each other
    # (deadlock: both checkouts failed with a database error).
    by_product = sorted(items, key=lambda item: item.product_id)
    # Refuse from the stock just read when it cannot cover a line: in a flash sale most buyers
    # come after the last unit, and each of them went through the write transaction (on
    # SQLite, the file's write lock) only to be refused there. The read may be stale; the
    # conditional update below stays the guard against overselling.
    for item in by_product:
        if item.quantity > item.product.stock:
            raise _ran_out(item.product, item.product.stock)
    with transaction.atomic():
        # Claim the cart lines that were read before reserving anything (fix found while
        # writing the orders API): a second checkout of the same cart racing this one (a
        # double tap on "Pay") found the same lines and reserved the stock twice, making two
        # orders; deleting the whole cart at the end also dropped a line added meanwhile
        # that was never ordered. The race loser now deletes fewer rows than it read and
        # stops; an error below rolls the claim back with everything else.
        claimed, _per_model = CartItem.objects.filter(pk__in=[item.pk for item in items]).delete()
        if claimed != len(items):
            raise CartError(
                _("Your cart changed during checkout; check it and try again."),
                code="cart_changed",
                status=409,
            )
        for item in by_product:
            reserved = Product.objects.filter(
                pk=item.product_id, is_active=True, stock__gte=item.quantity
            ).update(stock=F("stock") - item.quantity)
            if not reserved:
                # Leaving the atomic block undoes the lines already reserved.
                left = Product.objects.filter(pk=item.product_id).values_list("stock", flat=True)
                raise _ran_out(item.product, left.first() or 0)
        rooms_product_stock_changed(product_ids=[item.product_id for item in items])
        order = Order.objects.create(
            buyer=user,
            currency=currencies.pop(),
            total=sum((item.product.price * item.quantity for item in items), Decimal("0")),
            payment_backend=settings.PAYMENTS_BACKEND,
            idempotency_key=f"liveshop-checkout-{uuid.uuid4().hex}",
            expires_at=timezone.now()
            + timedelta(minutes=settings.CHECKOUT_SESSION_MINUTES)
            + SESSION_CREATION_GRACE,
        )
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                product=item.product,
                seller=item.product.seller,
                name=item.product.name,
                unit_price=item.product.price,
                currency=item.product.currency,
                quantity=item.quantity,
                room_id=item.room_id,  # the room it was added from, for the seller's numbers
            )
            for item in items
        )
        OrderEvent.objects.create(
            order=order, to_status=Status.PENDING, actor=user, note="Checkout"
        )
        if order.payment_backend == "dummy":
            # The test payment page needs nothing but the order's id: its URL is written with
            # the order rather than in a transaction of its own (one commit per checkout).
            order.checkout_url = _dummy_payment_url(order)
            Order.objects.filter(pk=order.pk).update(checkout_url=order.checkout_url)
    return order


def checkout_payment_url(*, order: Order, success_url: str, cancel_url: str) -> str:
    """Where the buyer pays for a pending order. Asking again (a retry, a double click)
    answers the same payment page: the Stripe session is created once per order."""
    if order.status != Status.PENDING:
        raise IllegalOrderTransition(_("This order is not waiting for payment."))
    if order.checkout_url:
        return order.checkout_url
    if order.payment_backend == "dummy":  # an order made before its URL came with it
        url = _dummy_payment_url(order)
        Order.objects.filter(pk=order.pk).update(checkout_url=url)
        return url
    # The network call happens outside any transaction: nothing is held while Stripe answers.
    session_id, url = stripe_api.checkout_session_create(
        order=order, success_url=success_url, cancel_url=cancel_url
    )
    Order.objects.filter(pk=order.pk).update(checkout_session_id=session_id, checkout_url=url)
    order.checkout_session_id, order.checkout_url = session_id, url
    return url


def checkout_open_payment(*, order: Order, success_url: str, cancel_url: str) -> str:
    """The payment page of an order checkout has just made (checkout_payment_url). When it
    cannot be had (Stripe unreachable, failing, refusing, or too slow: stripe_api's timeouts),
    the order is released at once: cancelled with a note saying why, its stock back on sale,
    its lines back in the buyer's cart; CheckoutPaymentUnavailable (502 payment_unavailable)
    says so. Checking out again is one click and makes a new order with a new idempotency key,
    so one Checkout Session per order still holds.

    Why not keep the order pending for a retry: its stock stayed off sale for everyone until
    the payment window closed (30 minutes), which in a flash sale during a Stripe outage is
    the whole sale. A session Stripe made although we gave up (a timeout) belongs to the
    released order: nobody has its URL, and a payment on it anyway is flagged for a refund
    (_on_session_completed)."""
    try:
        return checkout_payment_url(order=order, success_url=success_url, cancel_url=cancel_url)
    except PaymentProviderError as exc:
        try:
            released = _checkout_release(order=order)
        except DATABASE_AWAY:
            # The order stays pending and reserved, as the provider's message says; the
            # scheduled expire_orders releases it when its window closes.
            logger.warning("checkout: could not release order %s", order.pk, exc_info=True)
            raise exc
        if not released:  # the buyer cancelled it meanwhile (its stock went back then)
            raise PaymentProviderError(
                _(
                    "The payment service is not answering right now, and this order is no "
                    "longer waiting for payment. You have not been charged."
                )
            ) from exc
        logger.warning("checkout: payment page unavailable, order %s released", order.pk)
        raise CheckoutPaymentUnavailable(
            _(
                "The payment service is not answering right now, so your order was not placed "
                "and you have not been charged. Your items are back in your cart but not held "
                "for you: check out again in a moment."
            )
        ) from exc


def _checkout_release(*, order: Order) -> bool:
    """Cancel a pending order whose payment page could not be opened, return its stock and
    put its lines back in the cart, all at once; False if it was no longer pending."""
    try:
        with transaction.atomic():
            order = _cancel_pending(
                order=order,
                actor=None,
                note="Payment service unavailable at checkout: stock released, "
                "items back in the cart",
            )
            _cart_restore(order)
    except IllegalOrderTransition:
        return False
    return True


def _cart_restore(order: Order) -> None:
    """Put a released order's lines back in its buyer's cart, with the rooms they came from.
    A line of the same product the buyer put in meanwhile keeps the larger quantity, not the
    sum: the buyer never meant to buy both."""
    cart = cart_for_user(user=order.buyer)
    for line in order.items.all():
        item = cart.items.filter(product_id=line.product_id).first()
        if item is None:
            try:
                with transaction.atomic():
                    CartItem.objects.create(
                        cart=cart,
                        product_id=line.product_id,
                        quantity=line.quantity,
                        room_id=line.room_id,
                    )
                continue
            except IntegrityError:  # put in at this very moment
                item = cart.items.get(product_id=line.product_id)
        if line.quantity > item.quantity:
            item.quantity = min(line.quantity, MAX_QUANTITY_PER_LINE)
            item.save(update_fields=["quantity"])
    Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())


def order_cancel_by_buyer(*, order: Order, buyer: User) -> Order:
    if order.buyer_id != buyer.pk:
        raise NotFoundError(_("No such order."))
    order = _cancel_pending(order=order, actor=buyer, note="Cancelled by the buyer")
    if order.payment_backend == "stripe" and order.checkout_session_id:
        # Close the Stripe page too, so the buyer cannot pay an order that no longer holds
        # stock. Best effort: if it fails, a late payment is still flagged for a refund.
        try:
            stripe_api.checkout_session_expire(session_id=order.checkout_session_id)
        except ApplicationError:
            logger.warning("could not expire Stripe session of cancelled order %s", order.pk)
    return order


def _cancel_pending(*, order: Order, actor: User | None, note: str) -> Order:
    with transaction.atomic():
        order = order_transition(order=order, to=Status.CANCELLED, actor=actor, note=note)
        _release_stock(order)
    return order


def orders_expire_overdue() -> int:
    """Cancel pending orders whose payment window closed, returning their stock."""
    expired = 0
    for order in Order.objects.filter(status=Status.PENDING, expires_at__lt=timezone.now()):
        try:
            _cancel_pending(order=order, actor=None, note="Payment window expired")
            expired += 1
        except IllegalOrderTransition:
            pass  # paid or cancelled meanwhile
    return expired


def order_ship(*, order: Order, seller: User, tracking_number: str = "") -> Order:
    if not order.items.filter(seller=seller).exists():
        raise NotFoundError(_("No such order."))
    tracking_number = tracking_number.strip()[:100]
    note = f"Shipped; tracking {tracking_number}" if tracking_number else "Shipped"
    return order_transition(
        order=order, to=Status.SHIPPED, actor=seller, note=note, tracking_number=tracking_number
    )


def order_mark_delivered(*, order: Order, actor: User) -> Order:
    if not (order.buyer_id == actor.pk or order.items.filter(seller=actor).exists()):
        raise NotFoundError(_("No such order."))
    return order_transition(order=order, to=Status.DELIVERED, actor=actor, note="Delivered")


# --- payment events (Stripe webhooks and the dummy backend alike) ------------------------


def _order_from(obj: dict) -> Order | None:
    metadata = obj.get("metadata") or {}
    order_id = metadata.get("order_id") or obj.get("client_reference_id")
    if not order_id or not re.fullmatch(r"[0-9]{1,18}|[0-9a-f]{24}", str(order_id)):
        return None
    try:
        return Order.objects.filter(pk=order_id).first()
    except (ValueError, TypeError):  # an id the database cannot hold
        return None


def _on_session_completed(obj: dict) -> Order | None:
    order = _order_from(obj)
    if order is None:
        logger.warning("checkout.session.completed for an unknown order: %s", obj.get("id"))
        return None
    if obj.get("payment_status") not in {"paid", "no_payment_required"}:
        return order  # asynchronous payment methods confirm later
    amount, currency = obj.get("amount_total"), str(obj.get("currency", "")).upper()
    if amount != stripe_api.to_minor_units(order.total) or currency != order.currency:
        _order_flag(
            order=order,
            reason=f"paid {amount} {currency}, expected "
            f"{stripe_api.to_minor_units(order.total)} {order.currency}",
        )
        return order
    if order.status == Status.PENDING:
        order_transition(
            order=order,
            to=Status.PAID,
            note="Payment confirmed",
            payment_intent_id=str(obj.get("payment_intent") or ""),
        )
    elif order.status == Status.CANCELLED:
        _order_flag(order=order, reason="payment arrived after the order was cancelled: refund it")
    return order


def _on_session_expired(obj: dict) -> Order | None:
    order = _order_from(obj)
    if order is not None and order.status == Status.PENDING:
        _cancel_pending(order=order, actor=None, note="Checkout session expired")
    return order


def _on_charge_refunded(obj: dict) -> Order | None:
    order = _order_from(obj)
    if order is None and obj.get("payment_intent"):
        order = Order.objects.filter(payment_intent_id=obj["payment_intent"]).first()
    if order is None:
        return None
    refunded, charged = obj.get("amount_refunded"), obj.get("amount")
    if isinstance(refunded, int) and isinstance(charged, int) and refunded < charged:
        # Stripe sends charge.refunded for partial refunds too: staff decide what it means.
        _order_flag(order=order, reason=f"partial refund: {refunded} of {charged}")
    elif order.status == Status.PAID:
        # Stock is not returned automatically: the goods may not come back.
        order_transition(order=order, to=Status.REFUNDED, note="Refunded")
    elif order.status != Status.REFUNDED:
        _order_flag(order=order, reason=f"refund received for a {order.status} order")
    return order


PAYMENT_EVENT_HANDLERS = {
    "checkout.session.completed": _on_session_completed,
    # A session completed unpaid (bank debits and other delayed methods) is confirmed by
    # this later event, with payment_status "paid": without it such orders stayed pending.
    "checkout.session.async_payment_succeeded": _on_session_completed,
    "checkout.session.expired": _on_session_expired,
    "charge.refunded": _on_charge_refunded,
}


def payment_event_process(*, event: dict) -> str:
    """Apply one verified payment event exactly once; answer what happened.

    The event id is recorded in the same transaction as its effect: if the effect fails,
    the event is not recorded and a redelivery tries again; if it succeeded, a redelivery
    (or a concurrent duplicate) changes nothing."""
    event_id, event_type = str(event.get("id", "")), str(event.get("type", ""))
    if not event_id:
        raise ApplicationError(_("The event has no id."), code="invalid_event")
    handler = PAYMENT_EVENT_HANDLERS.get(event_type)
    if PaymentEvent.objects.filter(event_id=event_id).exists():
        return "duplicate"
    try:
        with transaction.atomic():
            order = None
            if handler is None:
                logger.info("payment event %s of unhandled type %s", event_id, event_type)
            else:
                obj = (event.get("data") or {}).get("object") or {}
                order = handler(obj)
            PaymentEvent.objects.create(event_id=event_id, event_type=event_type, order=order)
    except IntegrityError:
        return "duplicate"  # the same event processed concurrently: the other one won
    except IllegalOrderTransition:
        # The order moved while this event was handled. On PostgreSQL that is how a
        # concurrent delivery of this same event shows (its conditional update won, ours
        # found the status changed): once it is recorded this one is a duplicate, not a 500
        # with a traceback. Anything else (another event moved it) still fails, unrecorded,
        # and Stripe's redelivery meets the new state.
        if PaymentEvent.objects.filter(event_id=event_id).exists():
            return "duplicate"
        raise
    return "processed" if handler else "ignored"


DUMMY_PAYMENT_SALT = "orders.dummy-payment"


def dummy_payment_token_valid(*, order: Order, token: str) -> bool:
    try:
        return signing.loads(token, salt=DUMMY_PAYMENT_SALT) == str(order.pk)
    except signing.BadSignature:
        return False


def dummy_payment_complete(*, order: Order, buyer: User, pay: bool) -> Order:
    """The dummy backend's Pay / Cancel buttons: the very same path as Stripe's webhook."""
    if order.buyer_id != buyer.pk or order.payment_backend != "dummy":
        raise NotFoundError(_("No such order."))
    obj = {
        "id": f"dummy_session_{order.pk}",
        "client_reference_id": str(order.pk),
        "metadata": {"order_id": str(order.pk)},
        "payment_status": "paid",
        "amount_total": stripe_api.to_minor_units(order.total),
        "currency": order.currency.lower(),
    }
    event_type = "checkout.session.completed" if pay else "checkout.session.expired"
    payment_event_process(
        event={"id": f"dummy_evt_{uuid.uuid4().hex}", "type": event_type, "data": {"object": obj}}
    )
    order.refresh_from_db()
    return order
