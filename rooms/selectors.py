"""Named reads of rooms, and the shapes rooms take on the socket."""

import logging

from asgiref.sync import async_to_sync
from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from accounts.models import User
from catalog.models import Product
from rooms.models import ChatMessage, ShoppingRoom
from rooms.store import get_store

logger = logging.getLogger(__name__)


def rooms_for_listing() -> QuerySet[ShoppingRoom]:
    """Live rooms first, then upcoming (soonest first), then ended (latest first)."""
    order = Case(
        When(status=ShoppingRoom.Status.LIVE, then=Value(0)),
        When(status=ShoppingRoom.Status.SCHEDULED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        ShoppingRoom.objects.filter(seller__is_active=True)
        .select_related("seller", "spotlight_product")
        .annotate(status_order=order)
        # ended_at is empty for live and upcoming rooms, so it only orders the ended ones
        # (latest first, as the docstring promises; scheduled_start alone listed the oldest
        # ended show first). pk last: a stable order, so pages never repeat or skip a room.
        .order_by("status_order", F("ended_at").desc(), "scheduled_start", "pk")
    )


def room_with_details(room_id) -> ShoppingRoom | None:
    # No moderators prefetch: every check asks the database for the one user in question
    # (`room.moderators.filter(...)`, which a prefetch does not serve), so it was a query no
    # caller read, on every socket connect (a join storm's busiest thread: bench/README.md).
    return (
        ShoppingRoom.objects.select_related("seller", "spotlight_product")
        .prefetch_related("products")
        .filter(pk=room_id)
        .first()
    )


def public_id(pk) -> int | str:
    """A primary key as JSON carries it: an integer on SQL databases, a string for
    MongoDB's ObjectIds (which neither json nor msgpack can encode)."""
    return pk if isinstance(pk, int) else str(pk)


def user_summary(user: User) -> dict:
    return {"id": public_id(user.pk), "username": user.username, "display_name": user.public_name}


def product_summary(product: Product) -> dict:
    """How a product travels on the socket (spotlight-product, room-state)."""
    return {
        "id": public_id(product.pk),
        "name": product.name,
        "price": str(product.price),
        "currency": product.currency,
        "stock": product.stock,
        "image_url": product.image.url if product.image else None,
    }


def user_may_moderate_room(*, room_id, user) -> bool:
    """Seller, staff, or a moderator the seller named: read fresh from the database."""
    if not user.is_authenticated:
        return False
    fresh = User.objects.filter(pk=user.pk, is_active=True).values("is_staff").first()
    if fresh is None:
        return False
    rooms = ShoppingRoom.objects.filter(pk=room_id)
    return bool(
        fresh["is_staff"]
        or rooms.filter(seller_id=user.pk).exists()
        or rooms.filter(moderators=user.pk).exists()
    )


def room_role(room: ShoppingRoom, user) -> str:
    """seller | moderator | buyer | anonymous, as the socket's `you.role` says."""
    if not user.is_authenticated:
        return "anonymous"
    if user.pk == room.seller_id:
        return "seller"
    if user.is_staff or room.moderators.filter(pk=user.pk).exists():
        return "moderator"
    return "buyer"


def spotlight_from_db(room: ShoppingRoom) -> dict | None:
    """The spotlight as the database knows it: the fallback when the room store has none
    (a fresh Redis), so late joiners always see it."""
    return product_summary(room.spotlight_product) if room.spotlight_product_id else None


def chat_history(room: ShoppingRoom) -> QuerySet[ChatMessage]:
    """The room's saved chat lines that were not deleted (scroll-back)."""
    return ChatMessage.objects.filter(room=room, deleted_at=None).select_related("user")


def with_viewer_counts(rooms) -> list[ShoppingRoom]:
    """Attach `viewer_count` to each live room, read from the room store (the socket keeps
    it there): all rooms in one round trip, so the page costs the same however many are live."""
    rooms = list(rooms)
    live = [room for room in rooms if room.is_live]
    try:
        counts = (
            async_to_sync(get_store().viewer_counts)([str(room.pk) for room in live])
            if live
            else []
        )
    except Exception:
        # A store hiccup must not take the shop window down; the cards just omit the count.
        logger.warning("could not read viewer counts", exc_info=True)
        counts = [None] * len(live)
    for room, count in zip(live, counts, strict=True):
        room.viewer_count = count
    return rooms
