"""Named reads of carts and orders."""

from django.db.models import Prefetch, QuerySet, Sum

from accounts.models import User
from orders.models import Cart, CartItem, Order, OrderEvent, OrderItem
from orders.services import SESSION_CART_TOKEN


def cart_of_request(request) -> Cart | None:
    """The cart this visitor sees, without creating one."""
    if request.user.is_authenticated:
        return Cart.objects.filter(user=request.user).first()
    token = request.session.get(SESSION_CART_TOKEN)
    return Cart.objects.filter(session_token=token, user=None).first() if token else None


def cart_items(cart: Cart | None) -> list[CartItem]:
    if cart is None:
        return []
    return list(cart.items.select_related("product", "product__seller"))


def cart_count(cart: Cart | None) -> int:
    if cart is None:
        return 0
    return cart.items.aggregate(n=Sum("quantity"))["n"] or 0


def orders_of_buyer(*, buyer: User) -> QuerySet[Order]:
    return Order.objects.filter(buyer=buyer).prefetch_related("items")


def orders_of_seller(*, seller: User) -> QuerySet[Order]:
    """Orders with at least one of the seller's products; only their own lines attached."""
    own_items = Prefetch(
        "items", queryset=OrderItem.objects.filter(seller=seller), to_attr="seller_items"
    )
    return (
        Order.objects.filter(items__seller=seller)
        .distinct()
        .select_related("buyer")
        .prefetch_related(own_items)
    )


def order_status_events() -> QuerySet[OrderEvent]:
    """The history buyers and sellers see: status changes only. Staff notes (review flags,
    which can name amounts and refunds) have no status change and stay in admin."""
    return OrderEvent.objects.exclude(to_status="").select_related("actor")
