"""orders.services: the order status machine, carts, and stock reservation at checkout."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.models import Product
from liveshop.errors import NotFoundError
from orders import services
from orders.exceptions import CartError, IllegalOrderTransition, OutOfStock
from orders.models import Cart, CartItem, Order, OrderEvent

Status = Order.Status
ALL_STATUSES = list(Status.values)
ALLOWED = {
    (Status.PENDING, Status.PAID),
    (Status.PENDING, Status.CANCELLED),
    (Status.PAID, Status.SHIPPED),
    (Status.PAID, Status.REFUNDED),
    (Status.SHIPPED, Status.DELIVERED),
}


def stock_of(product: Product) -> int:
    return Product.objects.get(pk=product.pk).stock


def in_status(order: Order, status: str) -> Order:
    """Put a test order in `status` directly (test setup, not a transition)."""
    Order.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    return order


# --- the status machine ------------------------------------------------------------------


def test_the_transition_table_is_the_issue_s_machine():
    table = {(src, dst) for src, targets in services.TRANSITIONS.items() for dst in targets}
    assert table == ALLOWED
    assert set(services.TRANSITIONS) == set(ALL_STATUSES)


@pytest.mark.parametrize(
    ("src", "dst"),
    list(itertools.product(ALL_STATUSES, ALL_STATUSES)),
    ids=lambda status: status,
)
def test_every_move_is_allowed_or_refused_by_the_table(make_order, seller, src, dst):
    order = in_status(make_order(), src)
    events_before = OrderEvent.objects.filter(order=order).count()
    if (src, dst) in ALLOWED:
        moved = services.order_transition(order=order, to=dst, actor=seller, note="test move")
        assert moved.status == dst
        assert Order.objects.get(pk=order.pk).status == dst
        new = OrderEvent.objects.filter(order=order).order_by("pk")[events_before:]
        assert [(e.from_status, e.to_status, e.actor_id, e.note) for e in new] == [
            (src, dst, seller.pk, "test move")
        ]
    else:
        with pytest.raises(IllegalOrderTransition):
            services.order_transition(order=order, to=dst)
        assert Order.objects.get(pk=order.pk).status == src
        assert OrderEvent.objects.filter(order=order).count() == events_before


def test_of_two_racing_transitions_only_one_wins(make_order):
    """Two requests loaded the same pending order; the first to update it wins and the
    other is refused (the check and the move are one conditional UPDATE)."""
    order = make_order()
    first, second = Order.objects.get(pk=order.pk), Order.objects.get(pk=order.pk)
    services.order_transition(order=first, to=Status.PAID)
    with pytest.raises(IllegalOrderTransition, match="already paid"):
        services.order_transition(order=second, to=Status.CANCELLED)
    assert second.status == Status.PAID  # refreshed: the caller sees what happened
    assert Order.objects.get(pk=order.pk).status == Status.PAID
    assert OrderEvent.objects.filter(order=order, to_status=Status.CANCELLED).count() == 0
    assert OrderEvent.objects.filter(order=order, to_status=Status.PAID).count() == 1


def test_the_same_move_twice_from_stale_copies_happens_once(make_order):
    order = make_order()
    first, second = Order.objects.get(pk=order.pk), Order.objects.get(pk=order.pk)
    services.order_transition(order=first, to=Status.PAID)
    with pytest.raises(IllegalOrderTransition):
        services.order_transition(order=second, to=Status.PAID)
    assert OrderEvent.objects.filter(order=order, to_status=Status.PAID).count() == 1


def test_cancelling_twice_releases_the_stock_once(make_order, make_product):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 2)])
    first, second = Order.objects.get(pk=order.pk), Order.objects.get(pk=order.pk)
    services.order_cancel_by_buyer(order=first, buyer=order.buyer)
    with pytest.raises(IllegalOrderTransition):
        services.order_cancel_by_buyer(order=second, buyer=order.buyer)
    assert stock_of(product) == 5


def test_a_cancel_that_loses_to_a_payment_releases_nothing(make_order, make_product):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 2)])
    stale = Order.objects.get(pk=order.pk)
    services.order_transition(order=order, to=Status.PAID)
    with pytest.raises(IllegalOrderTransition):
        services.order_cancel_by_buyer(order=stale, buyer=order.buyer)
    assert stock_of(product) == 3  # sold units stay out


def test_transition_fields_are_saved_with_the_move(make_order, seller):
    order = in_status(make_order(), Status.PAID)
    shipped = services.order_ship(order=order, seller=seller, tracking_number="  TRK-42 ")
    assert shipped.tracking_number == "TRK-42"
    assert OrderEvent.objects.filter(order=order).last().note == "Shipped; tracking TRK-42"
    delivered = services.order_mark_delivered(order=shipped, actor=order.buyer)
    assert delivered.status == Status.DELIVERED


def test_only_the_order_s_seller_ships_and_only_its_people_mark_delivered(
    make_order, other_seller, make_user
):
    order = in_status(make_order(), Status.PAID)
    with pytest.raises(NotFoundError):
        services.order_ship(order=order, seller=other_seller)
    order = in_status(order, Status.SHIPPED)
    with pytest.raises(NotFoundError):
        services.order_mark_delivered(order=order, actor=make_user())
    assert Order.objects.get(pk=order.pk).status == Status.SHIPPED


def test_only_the_buyer_cancels(make_order, make_user):
    order = make_order()
    with pytest.raises(NotFoundError):
        services.order_cancel_by_buyer(order=order, buyer=make_user())
    assert Order.objects.get(pk=order.pk).status == Status.PENDING


# --- carts -------------------------------------------------------------------------------


def test_adding_to_the_cart_adds_up(buyer, make_product):
    product = make_product(stock=5)
    cart = services.cart_for_user(user=buyer)
    services.cart_add(cart=cart, product=product, quantity=2)
    item = services.cart_add(cart=cart, product=product, quantity=1)
    assert item.quantity == 3
    assert services.cart_for_user(user=buyer) == cart
    assert cart.items.count() == 1
    assert stock_of(product) == 5  # a cart reserves nothing


@pytest.mark.parametrize(
    ("quantity", "code"),
    [(0, "invalid_quantity"), (101, "invalid_quantity"), (6, "out_of_stock")],
)
def test_the_cart_refuses_impossible_quantities(buyer, make_product, quantity, code):
    product = make_product(stock=5)
    cart = services.cart_for_user(user=buyer)
    with pytest.raises(CartError) as refused:
        services.cart_add(cart=cart, product=product, quantity=quantity)
    assert refused.value.code == code
    assert not cart.items.exists()


def test_the_cart_says_what_is_left(buyer, make_product):
    product = make_product(name="Silk scarf", stock=2)
    cart = services.cart_for_user(user=buyer)
    services.cart_add(cart=cart, product=product, quantity=2)
    with pytest.raises(CartError, match="“Silk scarf” is only 2 left"):
        services.cart_add(cart=cart, product=product, quantity=1)


def test_products_no_longer_on_sale_cannot_be_added(buyer, make_product, seller):
    cart = services.cart_for_user(user=buyer)
    with pytest.raises(CartError) as refused:
        services.cart_add(cart=cart, product=make_product(is_active=False))
    assert refused.value.code == "product_unavailable"
    product = make_product()
    seller.is_active = False
    seller.save(update_fields=["is_active"])
    product.refresh_from_db()
    with pytest.raises(CartError):
        services.cart_add(cart=cart, product=product)


def test_cart_lines_of_another_cart_are_not_found(buyer, make_user, make_product):
    theirs = services.cart_for_user(user=make_user())
    item = services.cart_add(cart=theirs, product=make_product())
    mine = services.cart_for_user(user=buyer)
    with pytest.raises(NotFoundError):
        services.cart_set_quantity(cart=mine, item=item, quantity=2)
    with pytest.raises(NotFoundError):
        services.cart_remove(cart=mine, item=item)
    assert CartItem.objects.get(pk=item.pk).quantity == 1


def test_a_visitor_s_cart_joins_the_user_s_at_login(buyer, make_product):
    product, other = make_product(stock=5), make_product(name="Wool hat", stock=5)
    session: dict = {}
    visitor_cart = services.cart_for_session(session=session)
    assert services.cart_for_session(session=session) == visitor_cart
    services.cart_add(cart=visitor_cart, product=product, quantity=4)
    services.cart_add(cart=visitor_cart, product=other, quantity=1)
    services.cart_add(cart=services.cart_for_user(user=buyer), product=product, quantity=3)

    services.cart_merge_session_into_user(session=session, user=buyer)
    lines = {i.product_id: i.quantity for i in services.cart_for_user(user=buyer).items.all()}
    assert lines == {product.pk: 5, other.pk: 1}  # 4 + 3 capped at the 5 in stock
    assert not Cart.objects.filter(pk=visitor_cart.pk).exists()
    assert services.SESSION_CART_TOKEN not in session


# --- checkout: reservation -----------------------------------------------------------------


def test_checkout_reserves_the_stock_and_snapshots_the_cart(buyer, seller, make_product, settings):
    jacket = make_product(name="Denim jacket", price=Decimal("59.00"), stock=5)
    mug = make_product(name="Stoneware mug", price=Decimal("12.50"), stock=9)
    cart = services.cart_for_user(user=buyer)
    services.cart_add(cart=cart, product=jacket, quantity=2)
    services.cart_add(cart=cart, product=mug, quantity=3)
    before = timezone.now()

    order = services.checkout_create_order(user=buyer)

    assert (stock_of(jacket), stock_of(mug)) == (3, 6)
    assert order.status == Status.PENDING
    assert order.total == Decimal("155.50")
    assert order.currency == "USD"
    assert order.payment_backend == settings.PAYMENTS_BACKEND
    lines = [
        (i.product_id, i.seller_id, i.name, i.unit_price, i.quantity) for i in order.items.all()
    ]
    assert lines == [
        (jacket.pk, seller.pk, "Denim jacket", Decimal("59.00"), 2),
        (mug.pk, seller.pk, "Stoneware mug", Decimal("12.50"), 3),
    ]
    window = order.expires_at - before
    assert timedelta(minutes=30) <= window <= timedelta(minutes=33)
    assert list(OrderEvent.objects.filter(order=order).values_list("from_status", "to_status")) == [
        ("", Status.PENDING)
    ]
    assert not cart.items.exists()

    # Later price changes do not touch the order.
    Product.objects.filter(pk=jacket.pk).update(price=Decimal("99.00"))
    order.refresh_from_db()
    assert order.total == Decimal("155.50")


def test_each_order_gets_its_own_stable_idempotency_key(make_order):
    first, second = make_order(), make_order()
    assert first.idempotency_key and second.idempotency_key
    assert first.idempotency_key != second.idempotency_key
    assert Order.objects.get(pk=first.pk).idempotency_key == first.idempotency_key


def test_checkout_refuses_when_stock_runs_out_and_reserves_nothing(buyer, make_product):
    plenty = make_product(name="Plain tee", stock=10)
    scarce = make_product(name="Last vinyl", stock=3)
    cart = services.cart_for_user(user=buyer)
    services.cart_add(cart=cart, product=plenty, quantity=2)
    services.cart_add(cart=cart, product=scarce, quantity=3)
    Product.objects.filter(pk=scarce.pk).update(stock=1)  # someone else bought two

    with pytest.raises(OutOfStock) as refused:
        services.checkout_create_order(user=buyer)

    assert "“Last vinyl” ran out: only 1 left" in refused.value.message
    assert refused.value.code == "out_of_stock"
    assert refused.value.status == 409
    assert refused.value.fields == {"product_id": [str(scarce.pk)]}
    assert (stock_of(plenty), stock_of(scarce)) == (10, 1)
    assert not Order.objects.exists()
    assert cart.items.count() == 2  # the buyer's cart is kept to fix and retry


def test_checkout_refuses_an_empty_cart(buyer):
    with pytest.raises(CartError) as refused:
        services.checkout_create_order(user=buyer)
    assert refused.value.code == "cart_empty"


def test_checkout_refuses_mixed_currencies(buyer, make_product):
    cart = services.cart_for_user(user=buyer)
    services.cart_add(cart=cart, product=make_product(currency="USD", stock=5))
    euro = make_product(name="Beret", currency="EUR", stock=5)
    services.cart_add(cart=cart, product=euro)
    with pytest.raises(CartError) as refused:
        services.checkout_create_order(user=buyer)
    assert refused.value.code == "mixed_currencies"
    assert stock_of(euro) == 5


def test_checkout_refuses_a_product_taken_off_sale_after_it_was_added(buyer, make_product):
    product = make_product(stock=5)
    services.cart_add(cart=services.cart_for_user(user=buyer), product=product)
    Product.objects.filter(pk=product.pk).update(is_active=False)
    with pytest.raises(CartError) as refused:
        services.checkout_create_order(user=buyer)
    assert refused.value.code == "product_unavailable"
    assert stock_of(product) == 5


def test_the_last_units_can_be_bought_and_then_no_more(make_user, make_product):
    product = make_product(stock=2)
    first, second = make_user(), make_user()
    for user in (first, second):
        services.cart_add(cart=services.cart_for_user(user=user), product=product, quantity=2)
    services.checkout_create_order(user=first)
    assert stock_of(product) == 0
    with pytest.raises(OutOfStock):
        services.checkout_create_order(user=second)
    assert stock_of(product) == 0


# --- releasing stock ---------------------------------------------------------------------


def test_cancelling_returns_the_stock(make_order, make_product):
    product = make_product(stock=5)
    order = make_order(lines=[(product, 3)])
    assert stock_of(product) == 2
    cancelled = services.order_cancel_by_buyer(order=order, buyer=order.buyer)
    assert cancelled.status == Status.CANCELLED
    assert stock_of(product) == 5
    with pytest.raises(IllegalOrderTransition):
        services.order_cancel_by_buyer(order=cancelled, buyer=order.buyer)
    assert stock_of(product) == 5


def test_overdue_pending_orders_expire_and_release_their_stock(make_order, make_product):
    product = make_product(stock=10)
    overdue = make_order(lines=[(product, 2)])
    overdue_paid = make_order(lines=[(product, 3)])
    current = make_order(lines=[(product, 1)])
    past = timezone.now() - timedelta(minutes=1)
    Order.objects.filter(pk__in=[overdue.pk, overdue_paid.pk]).update(expires_at=past)
    services.order_transition(order=overdue_paid, to=Status.PAID)
    assert stock_of(product) == 4

    assert services.orders_expire_overdue() == 1
    assert Order.objects.get(pk=overdue.pk).status == Status.CANCELLED
    assert Order.objects.get(pk=overdue_paid.pk).status == Status.PAID
    assert Order.objects.get(pk=current.pk).status == Status.PENDING
    assert stock_of(product) == 6
    assert services.orders_expire_overdue() == 0  # nothing twice
    assert stock_of(product) == 6


def test_the_expire_orders_command(make_order, capsys):
    order = make_order()
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("expire_orders")
    assert "Expired 1 order." in capsys.readouterr().out
    assert Order.objects.get(pk=order.pk).status == Status.CANCELLED


# --- the dummy payment page ----------------------------------------------------------------


def test_the_dummy_backend_pays_on_our_own_page_without_stripe(settings, make_order):
    settings.PAYMENTS_BACKEND = "dummy"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # would fail if anything called Stripe
    order = make_order()
    url = services.checkout_payment_url(
        order=order, success_url="https://shop.test/ok", cancel_url="https://shop.test/no"
    )
    assert url.startswith(f"/payments/dummy/{order.pk}/?token=")
    assert Order.objects.get(pk=order.pk).checkout_url == url


def test_a_seller_cannot_put_their_own_product_in_their_cart(seller, make_product):
    product = make_product(seller=seller, name="Own thing")
    with pytest.raises(CartError) as refused:
        services.cart_add(cart=services.cart_for_user(user=seller), product=product, quantity=1)
    assert refused.value.code == "own_product"
    assert not services.cart_for_user(user=seller).items.exists()
