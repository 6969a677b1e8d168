"""Every write to rooms goes through here: pages, API, the room socket and commands."""

import asyncio
import contextvars
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from catalog.models import Product
from liveshop.errors import NotFoundError, PermissionDeniedError
from liveshop.images import normalize_image
from notifications.services import notifications_room_live_on_commit
from rooms.events import room_event_on_commit, room_event_send, room_group, run_in_background
from rooms.exceptions import IllegalTransition, RoomEnded
from rooms.models import ChatMessage, RoomBan, ShoppingRoom
from rooms.selectors import product_summary, public_id
from rooms.store import get_store

Status = ShoppingRoom.Status

# At most one product-stock message per product and room per interval (as viewer-count).
STOCK_INTERVAL = 0.5

# The one transition table: scheduled -> live -> ended, nothing else.
TRANSITIONS: dict[str, set[str]] = {
    Status.SCHEDULED: {Status.LIVE},
    Status.LIVE: {Status.ENDED},
    Status.ENDED: set(),
}

EDITABLE_FIELDS = frozenset(
    {"title", "description", "scheduled_start", "products", "cover_image", "moderators"}
)


def _own_room(room: ShoppingRoom, actor: User) -> None:
    if room.seller_id != actor.pk:
        raise NotFoundError(_("No such room."))


def _check_products(seller: User, products) -> list[Product]:
    products = list(products)
    wrong = [p for p in products if p.seller_id != seller.pk or not p.is_active]
    if wrong:
        raise ValidationError(
            {
                "products": [
                    _("“%(name)s” is not one of your products on sale.") % {"name": p.name}
                    for p in wrong
                ]
            }
        )
    return products


def room_can_moderate(room: ShoppingRoom, user) -> bool:
    return bool(
        user.is_authenticated
        and (
            user.pk == room.seller_id
            or user.is_staff
            or room.moderators.filter(pk=user.pk).exists()
        )
    )


def room_create(
    *,
    seller: User,
    title: str,
    scheduled_start: datetime,
    description: str = "",
    products=(),
    moderators=(),
    cover_image: UploadedFile | None = None,
) -> ShoppingRoom:
    if not seller.is_seller:
        raise PermissionDeniedError(
            _("Only sellers can open shopping rooms. Become a seller first.")
        )
    products = _check_products(seller, products)
    room = ShoppingRoom(
        seller=seller,
        title=title.strip(),
        description=description.strip(),
        scheduled_start=scheduled_start,
    )
    if cover_image:
        room.cover_image = normalize_image(cover_image, field="cover_image")
    room.full_clean(exclude=["cover_image"])
    with transaction.atomic():
        room.save()
        room.products.set(products)
        room.moderators.set([m for m in moderators if m.pk != seller.pk])
    return room


def room_update(*, room: ShoppingRoom, actor: User, **changes) -> ShoppingRoom:
    _own_room(room, actor)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    if room.is_ended:
        raise RoomEnded(_("This room has ended; it can no longer be changed."))
    products = changes.pop("products", None)
    moderators = changes.pop("moderators", None)
    cover_image = changes.pop("cover_image", None)
    for field, value in changes.items():
        setattr(room, field, value.strip() if isinstance(value, str) else value)
    if cover_image:
        room.cover_image = normalize_image(cover_image, field="cover_image")
    elif cover_image is False:
        room.cover_image = ""
    if products is not None:
        products = _check_products(actor, products)
    room.full_clean(exclude=["cover_image"])
    with transaction.atomic():
        room.save()
        if products is not None:
            room.products.set(products)
            if room.spotlight_product_id and room.spotlight_product not in products:
                room_spotlight(room=room, actor=actor, product_id=None)
        if moderators is not None:
            room.moderators.set([m for m in moderators if m.pk != actor.pk])
    return room


def _transition(room: ShoppingRoom, actor: User, to: str, **stamps) -> ShoppingRoom:
    _own_room(room, actor)
    if to not in TRANSITIONS[room.status]:
        if room.is_ended:
            raise RoomEnded(_("This room has ended."))
        raise IllegalTransition(
            _("A %(status)s room cannot become %(to)s.") % {"status": room.status, "to": to}
        )
    with transaction.atomic():
        # Conditional update: of two racing requests exactly one moves the room.
        moved = ShoppingRoom.objects.filter(pk=room.pk, status=room.status).update(
            status=to, **stamps
        )
        if not moved:
            room.refresh_from_db()
            if room.is_ended:
                raise RoomEnded(_("This room has ended."))
            raise IllegalTransition(_("The room is already %(status)s.") % {"status": room.status})
        room.refresh_from_db()
        room_event_on_commit(room_group(room.pk), {"type": "room-status", "status": to})
    return room


def room_go_live(*, room: ShoppingRoom, actor: User) -> ShoppingRoom:
    room = _transition(room, actor, Status.LIVE, started_at=timezone.now())
    # Reminders and followers hear of it after commit; a failure there never undoes the show.
    notifications_room_live_on_commit(room=room)
    return room


def room_end(*, room: ShoppingRoom, actor: User) -> ShoppingRoom:
    with transaction.atomic():
        room = _transition(room, actor, Status.ENDED, ended_at=timezone.now())
        # Said here rather than by the forwarding unit: a room can end with no unit running.
        room_event_on_commit(room_group(room.pk), {"type": "stream-status", "status": "ended"})
    return room


def room_spotlight(*, room: ShoppingRoom, actor: User, product_id) -> ShoppingRoom:
    """Put one of the room's products in the spotlight (None clears it). Seller, staff and
    the seller's moderators may; the product must be in the room."""
    if not room_can_moderate(room, actor):
        raise PermissionDeniedError(_("Only the seller and moderators can spotlight products."))
    if room.is_ended:
        raise RoomEnded(_("This room has ended."))
    product = None
    if product_id is not None:
        product = room.products.filter(pk=product_id, is_active=True).first()
        if product is None:
            raise ValidationError({"product_id": [_("That product is not in this room.")]})
    payload = product_summary(product) if product else None
    with transaction.atomic():
        ShoppingRoom.objects.filter(pk=room.pk).update(spotlight_product=product)
        room.spotlight_product = product

        async def remember() -> None:
            await get_store().spotlight_set(str(room.pk), payload)

        room_event_on_commit(
            room_group(room.pk), {"type": "spotlight-product", "product": payload}, before=remember
        )
    return room


def rooms_product_withdrawn(*, product: Product, actor: User) -> None:
    """A product taken off sale leaves every spotlight it stands in (viewers are told), so
    nobody is offered an "Add to cart" that can only fail."""
    for room in ShoppingRoom.objects.filter(spotlight_product=product).exclude(status=Status.ENDED):
        room_spotlight(room=room, actor=actor, product_id=None)


def rooms_product_stock_changed(*, product_ids: Iterable) -> None:
    """Tell every room that is not over and lists one of these products its new stock
    (`product-stock`), after commit: "3 left" follows the buyers live, a rolled-back
    checkout says nothing. Call it in the transaction that changed the stock.

    Coalesced per product: at most one message per product and room every STOCK_INTERVAL
    (a flash sale's hundreds of checkouts would otherwise send one frame per checkout to
    every socket of the room). The count is read when the message goes out, so the last
    message always carries the latest count. The remembered spotlight is left alone (it
    may show another product by then): room-state carries `product_stock`, read at connect.
    `robust`: the stock change stands even if the announcement fails (Redis away)."""
    product_ids = set(product_ids)
    if product_ids:
        transaction.on_commit(lambda: _announce_stock_soon(product_ids), robust=True)


def _announce_stock_soon(product_ids: set) -> None:
    """Start the products' announcers without holding up the checkout that called us."""

    async def start() -> None:
        announcers = [_announce_product_stock(product_id) for product_id in product_ids]
        # A loop on the main thread is the server's (daphne) or a test's: it outlives this
        # call, so the announcers run there as tasks and the request goes on at once. Any
        # other loop is async_to_sync's own, made for this call and closed (its tasks
        # cancelled) when it returns (management commands, shells): wait for them there.
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for announcer in announcers:
                # In a fresh context: the task must not inherit the request's, whose sync
                # thread (asgiref's executor for its database calls) ends with the request.
                loop.call_soon(run_in_background, announcer, context=contextvars.Context())
        else:
            await asyncio.gather(*announcers)

    async_to_sync(start)()


async def _announce_product_stock(product_id) -> None:
    """The viewer-count pattern (rooms/consumers.py `announce_viewer_count`), per product:
    every change raises the product's flag; whoever holds its lock (on any server process)
    takes the flag, reads the count, tells the rooms, then waits the interval and looks
    again, so the changes made meanwhile go out together in one message."""
    store = get_store()
    lock = f"product-stock:{product_id}"
    changed = f"product-stock-changed:{product_id}"
    await store.value_set(changed, "1", ttl=3600)
    while await store.acquire(lock, ttl=STOCK_INTERVAL * 4):
        try:
            while await store.value_get(changed):
                # Taken before the read: a change committed after the read raises it again
                # and gets a message of its own after the interval.
                await store.value_delete(changed)
                listings = await database_sync_to_async(_stock_listings)(product_id)
                if not listings:
                    continue  # no room to tell (most sales): nothing sent, nothing to space out
                for room_id, stock in listings:
                    await room_event_send(
                        room_group(room_id),
                        {
                            "type": "product-stock",
                            "product_id": public_id(product_id),
                            "stock": stock,
                        },
                    )
                await asyncio.sleep(STOCK_INTERVAL)
                await store.extend(lock, ttl=STOCK_INTERVAL * 4)  # keep holding it
        finally:
            await store.release(lock)
        # A change between our last look and the release found the lock taken and left the
        # message to us: look once more now that the lock is free.
        if not await store.value_get(changed):
            return


def _stock_listings(product_id) -> list[tuple[str, int]]:
    """(room id, stock) for every room that is not over and lists the product. One query:
    a room spotlights only its own products (room_spotlight, room_update), so the rooms'
    product lists find every room concerned, spotlight included."""
    rows = (
        ShoppingRoom.products.through.objects.filter(product_id=product_id)
        .exclude(shoppingroom__status=Status.ENDED)
        .values_list("shoppingroom_id", "product__stock")
    )
    return [(str(room_id), stock) for room_id, stock in rows]


def chat_message_record(
    *, room_id, message_id: str, user_id, text: str, sent_at: datetime
) -> ChatMessage:
    """Persist a chat line that was already broadcast (off the hot path)."""
    line = {"room_id": room_id, "message_id": message_id, "user_id": user_id}
    (message,) = chat_messages_record(lines=[{**line, "text": text, "sent_at": sent_at}])
    return message


def chat_messages_record(*, lines: list[dict]) -> list[ChatMessage]:
    """Persist chat lines that were already broadcast, many in one transaction: the room
    socket saves a busy room's lines a tick at a time (rooms/consumers.py ChatRecorder).
    Each line is {room_id, message_id, user_id, text, sent_at}."""
    per_room = Counter(str(line["room_id"]) for line in lines)
    with transaction.atomic():
        messages = ChatMessage.objects.bulk_create([ChatMessage(**line) for line in lines])
        for room_id, count in per_room.items():
            ShoppingRoom.objects.filter(pk=room_id).update(
                total_chat_messages=F("total_chat_messages") + count
            )
    return messages


def chat_message_delete(*, room: ShoppingRoom, actor: User, message_id: str) -> None:
    if not room_can_moderate(room, actor):
        raise PermissionDeniedError(_("Only the seller and moderators can delete messages."))
    ChatMessage.objects.filter(room=room, message_id=message_id, deleted_at=None).update(
        deleted_at=timezone.now(), deleted_by=actor
    )


def chat_messages_purge(*, room: ShoppingRoom, actor: User, user_id) -> list[str]:
    """Delete every line `user_id` wrote in the room (a ban takes a spammer's lines with
    them); answers the ids of the lines that were still showing, for the viewers."""
    if not room_can_moderate(room, actor):
        raise PermissionDeniedError(_("Only the seller and moderators can delete messages."))
    showing = ChatMessage.objects.filter(room=room, user_id=user_id, deleted_at=None)
    message_ids = list(showing.values_list("message_id", flat=True))
    ChatMessage.objects.filter(room=room, message_id__in=message_ids).update(
        deleted_at=timezone.now(), deleted_by=actor
    )
    return message_ids


def room_ban(*, room: ShoppingRoom, actor: User, user_id) -> RoomBan:
    """Ban a user from the room: no chat, no queue, no socket (the room socket throws them
    out: rooms/consumers.py). The ban's record is its database row, written first; the room
    store, which chat and connects check, learns it after the commit (its ban sets are a
    cache of the rows, reloaded when Redis lost them). Banning twice keeps the first ban."""
    if not room_can_moderate(room, actor):
        raise PermissionDeniedError(_("Only the seller and moderators can do that."))
    if str(user_id) == str(room.seller_id):
        raise PermissionDeniedError(_("The seller cannot be muted or banned."))
    if str(user_id) == str(actor.pk):
        raise ValidationError({"user_id": [_("You cannot mute or ban yourself.")]})
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationError({"user_id": [_("There is no such user.")]})
    with transaction.atomic():
        ban, _created = RoomBan.objects.get_or_create(
            room=room, user=user, defaults={"banned_by": actor}
        )
        # After commit: a store that must load the room's bans first then finds this one,
        # and a rolled-back ban never reaches the store.
        transaction.on_commit(lambda: async_to_sync(get_store().ban)(str(room.pk), str(user.pk)))
    return ban


def room_unban(*, room: ShoppingRoom, actor: User, user_id) -> bool:
    """Lift a user's ban from the room (staff do, in Django admin): they may come back and
    chat. The row goes first, then the store's copy after the commit (the admin deletes in a
    transaction of its own: a rolled-back delete lifts nothing). Answers whether there was
    a ban."""
    if not room_can_moderate(room, actor):
        raise PermissionDeniedError(_("Only the seller and moderators can do that."))
    with transaction.atomic():
        deleted, _per_model = RoomBan.objects.filter(room=room, user_id=user_id).delete()
        transaction.on_commit(lambda: async_to_sync(get_store().unban)(str(room.pk), str(user_id)))
    return bool(deleted)


def room_record_viewers(*, room_id, count: int, unique: int | None = None) -> None:
    """Keep the room's peak audience and its distinct viewers so far (both only ever grow;
    conditional, so races are safe)."""
    ShoppingRoom.objects.filter(pk=room_id, peak_viewers__lt=count).update(peak_viewers=count)
    if unique is not None:
        ShoppingRoom.objects.filter(pk=room_id, unique_viewers__lt=unique).update(
            unique_viewers=unique
        )


def room_record_add_to_cart(*, room_id) -> None:
    """One more "Add to cart" made from the room (any shopper, signed in or not)."""
    ShoppingRoom.objects.filter(pk=room_id).update(total_add_to_carts=F("total_add_to_carts") + 1)
