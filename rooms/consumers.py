"""The room socket, `/ws/rooms/<room_id>/` (protocol: docs/realtime.md).

Thin by design: authorize on connect, dispatch each frame on its "type" to one method, keep
shared state in the room store, call services for database writes, and answer every refusal
with {"type": "error", "code", "message"}. Nothing a client sends may crash the consumer.
"""

import asyncio
import json
import logging
import re
import uuid
import weakref
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from analytics.visitors import viewer_identity
from liveshop.converters import PrimaryKeyConverter
from liveshop.errors import ApplicationError
from liveshop.sockets import ChannelLayerLossCloses
from liveshop.websocket import SignOutWatch, user_sockets_group
from rooms import selectors, services
from rooms.events import (
    room_event_send,
    room_group,
    room_staff_group,
    room_user_group,
    run_in_background,
)
from rooms.hub import CLOSE_SUBSCRIPTION_LOST, CLOSE_TOO_SLOW, get_hub
from rooms.models import ShoppingRoom
from rooms.store import CHAT_KEPT, get_store
from streaming import host as media
from streaming.unit import MediaError

logger = logging.getLogger(__name__)

MAX_FRAME_CHARS = 16 * 1024
ROOM_STATE_CHAT = 50  # recent chat lines a socket's room-state carries
MAX_BAD_FRAMES = 10  # malformed frames tolerated before the socket is closed
CLOSE_TRY_AGAIN_LATER = 1013  # the room store (Redis) is unavailable: reconnect with backoff
CHAT_MAX_CHARS = 500
CHAT_RATE = (5, 10.0)  # messages per seconds, per user and room
VIEWER_COUNT_INTERVAL = 0.5  # at most two viewer-count messages per second per room
MAX_MUTE_MINUTES = 24 * 60
MAX_SLOW_MODE_SECONDS = 3600
OFFER_RATE = (3, 5.0)  # WebRTC offers per seconds, per socket (each one builds a peer)
CANDIDATE_RATE = (100, 10.0)  # trickled ICE candidates per seconds, per socket
# `join-room` per seconds, per socket: each answers a whole room-state (a database query and
# up to 50 chat lines), so unlimited it amplified a small frame into tens of KB of work.
RESYNC_RATE = (3, 10.0)
# join-queue / leave-queue per seconds, per user and room: each tells every queued person
# their place (one event per person in the line).
QUEUE_RATE = (10, 60.0)
CLOSE_BANNED = 4403
CLOSE_MALFORMED = 4400
# C0/C1 control characters and Unicode format controls that can reorder or hide text.
# Also lone surrogates (\ud800-\udfff, sent as JSON escapes): they were broadcast but made the
# database save fail (UTF-8 cannot encode them), so the line was silently never persisted.
CONTROL_CHARACTERS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# The ids the configured database can hold (digits on SQL, 24-hex ObjectIds on MongoDB).
ID_PATTERN = re.compile(PrimaryKeyConverter.regex)


class ChatRecorder:
    """Saves the broadcast chat lines a tick at a time, in one transaction per tick: one
    thread hop and one commit for a busy room's lines instead of one per line. One per
    event loop (its lock belongs to the loop): `chat_recorder()`."""

    TICK = 0.1  # seconds the first line of a batch waits for company

    def __init__(self) -> None:
        self.pending: list[dict] = []
        self.saving = False
        self.lock = asyncio.Lock()  # held while lines are written

    def add(self, line: dict) -> None:
        self.pending.append(line)
        if not self.saving:
            self.saving = True
            run_in_background(self._save())

    async def _save(self) -> None:
        try:
            while self.pending:
                await asyncio.sleep(self.TICK)
                await self.flush()
        finally:
            self.saving = False

    async def flush(self) -> None:
        """Save what is pending now, after any save under way: moderation that deletes
        lines in the database must find the lines broadcast before it there."""
        async with self.lock:
            lines, self.pending = self.pending, []
            if lines:
                await database_sync_to_async(services.chat_messages_record)(lines=lines)


_recorders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def chat_recorder() -> ChatRecorder:
    loop = asyncio.get_running_loop()
    recorder = _recorders.get(loop)
    if recorder is None:
        recorder = _recorders[loop] = ChatRecorder()
    return recorder


async def announce_viewer_count(room_id: str, *, healed: bool = False) -> None:
    """Tell the room its distinct-viewer count when it changed, at most twice a second, and
    save the room's peak and unique viewers when either changed.

    Whoever takes the room's short lock announces, then checks again after the interval,
    so changes made meanwhile (on any server process) are coalesced into one message.

    `healed`: the count was rebuilt after a server process died (rooms/hub.py). What was
    last announced then says nothing of what the sockets were told: a process killed before
    it announced its last joins leaves a stale record, while sockets that joined since were
    told the count with the dead process's viewers in it in their room-state. So the record
    is dropped and the healed count sent (found by tests/test_two_processes.py)."""
    store = get_store()
    lock = f"viewer-count:{room_id}"
    sent_key = f"viewer-count-sent:{room_id}"  # "<count> <unique>" last handled
    if healed:
        await store.value_set(sent_key, "healed", ttl=3600)
    while await store.acquire(lock, ttl=VIEWER_COUNT_INTERVAL * 4):
        try:
            while True:
                # The pair, not the count alone: one viewer leaving and another arriving
                # within an interval leaves the count as it was but adds a unique viewer,
                # which must still be saved.
                count, unique, state = await _viewer_numbers(store, room_id)
                sent = await store.value_get(sent_key)
                if state == sent:
                    break
                await store.value_set(sent_key, state, ttl=3600)
                if sent is None or sent.split()[0] != str(count):  # viewers see the count only
                    await room_event_send(
                        room_group(room_id), {"type": "viewer-count", "count": count}
                    )
                # The distinct-viewer count rides on the same coalesced write as the peak.
                await database_sync_to_async(services.room_record_viewers)(
                    room_id=room_id, count=count, unique=unique
                )
                await asyncio.sleep(VIEWER_COUNT_INTERVAL)
                await store.extend(lock, ttl=VIEWER_COUNT_INTERVAL * 4)  # keep holding it
        finally:
            await store.release(lock)
        # A join or leave between our last check and the release found the lock taken and
        # left the announcing to us (with the Redis store every call above yields, and other
        # processes run meanwhile): look once more now that the lock is free, else that
        # change would go unannounced until the next one.
        if (await _viewer_numbers(store, room_id))[2] == await store.value_get(sent_key):
            return


async def _viewer_numbers(store, room_id: str) -> tuple[int, int, str]:
    """The room's live and unique viewer counts, and the pair as the announcer records it."""
    count = await store.viewer_count(room_id)
    (unique,) = await store.viewers_seen([room_id])
    return count, unique, f"{count} {unique}"


class Refusal(Exception):
    """A frame the consumer turns down; becomes {"type": "error", ...} for the sender."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _id_field(frame: dict, name: str, *, nullable: bool = False) -> str | None:
    value = frame.get(name)
    if value is None and nullable and name in frame:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Refusal("invalid", _("`%(name)s` must be an id.") % {"name": name})
    value = str(value)
    if not ID_PATTERN.fullmatch(value):
        raise Refusal("invalid", _("`%(name)s` must be an id.") % {"name": name})
    # One spelling per id ("007" is 7), so bans, mutes and groups use one key.
    return str(int(value)) if value.isdigit() else value


def _int_field(frame: dict, name: str, *, low: int, high: int) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Refusal(
            "invalid",
            _("`%(name)s` must be a whole number from %(low)s to %(high)s.")
            % {"name": name, "low": low, "high": high},
        )
    return value


class RoomConsumer(ChannelLayerLossCloses, SignOutWatch, AsyncWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, minus its `close_old_connections` in a thread before every
        message: a thread hop per chat frame and per connect, waiting behind the pool's
        database work. Every database call here goes through `database_sync_to_async`,
        which closes stale connections in its own thread, so nothing is lost."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connection ----------------------------------------------------------------------
    async def connect(self) -> None:
        self.room_id = self.scope["url_route"]["kwargs"]["room_id"]
        self.user = self.scope["user"]
        self.joined = False
        self.accepted = False
        self.bad_frames = 0
        self.media_peer = False  # made an offer: the room's unit holds a peer for us
        self.store = get_store()
        try:
            await self._enter()
        except (RedisError, OSError):
            # The room store (Redis) is away: close with a code that says "come back later"
            # rather than drop the connection unexplained; the client's backoff retries.
            logger.warning("room socket closed: the room store is unavailable", exc_info=True)
            if not self.accepted:
                await self.accept()
            await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def _enter(self) -> None:
        room = await database_sync_to_async(self._load_room)()
        if room is None:
            await self.close()
            return
        if self.user.is_authenticated and await self.store.is_banned(self.room_id, self.user.pk):
            await self.close()
            return
        await self.accept()
        self.accepted = True

        self.groups_joined = [room_group(self.room_id)]
        if self.user.is_authenticated:
            self.groups_joined.append(room_user_group(self.room_id, self.user.pk))
            self.groups_joined.append(user_sockets_group(self.user.pk))  # sign-outs (4401)
        if self.role in {"seller", "moderator"}:
            self.groups_joined.append(room_staff_group(self.room_id))
        self.loop = asyncio.get_running_loop()
        self.hub_send = self.scope.get("liveshop.server_send", self.base_send)
        self.hub_batches_chat = "chat" in parse_qs(
            self.scope.get("query_string", b"").decode("latin-1")
        ).get("batch", [])
        await get_hub().join(self, self.groups_joined, hold=True)
        self.in_hub = True

        self.viewer_key = (
            f"user:{self.user.pk}" if self.user.is_authenticated else f"anon:{self.channel_name}"
        )
        # Counted, recorded among the show's unique viewers (while live, as _record_viewer
        # does) and the room-state's stored part read, in one store round trip: a join storm
        # is thousands of connects, and each round trip costs the server more CPU than the
        # store's work (three to five of them here before).
        stored = await self.store.room_enter(
            self.room_id,
            self.viewer_key,
            self.user.pk if self.user.is_authenticated else None,
            seen=self._seen_as() if self.room_status == ShoppingRoom.Status.LIVE else None,
            chat_limit=ROOM_STATE_CHAT,
            values=(media.status_key(self.room_id),),
        )
        self.joined = True
        await self._send_room_state(room, stored["viewer_count"], stored)
        # A Bearer token's socket closes at its expiry (4401), after a `token-expiring`
        # notice; armed only now so that `room-state` stays the first message.
        self.sign_out_watch()
        await get_hub().release(self)  # the events sent since we subscribed, after the state
        if self.user.is_authenticated and self.role != "seller":
            await room_event_send(
                room_staff_group(self.room_id),
                {"type": "join-room", "user": selectors.user_summary(self.user)},
            )
        run_in_background(announce_viewer_count(self.room_id))

    async def _record_viewer(self) -> None:
        """Count this socket's person among the show's unique viewers. Only while the room is
        live (called on connect, and for open sockets when the room goes live): people who
        open the page before the show count once it starts, those who open it after it ended
        never do, else conversion (orders / unique viewers) would be too low."""
        seen = self._seen_as()
        if seen is not None:
            await self.store.viewer_seen(self.room_id, seen)

    def _seen_as(self) -> str | None:
        """Who this socket counts as among the show's unique viewers; None for the host, who
        is not one of the show's viewers."""
        return None if self.role == "seller" else viewer_identity(self.scope, self.channel_name)

    def _load_room(self) -> ShoppingRoom | None:
        room = selectors.room_with_details(self.room_id)
        if room is not None:
            # The room's own spelling of its id keys the store and groups ("01" is room 1:
            # another spelling must not open a second namespace without its bans).
            self.room_id = str(room.pk)
            self.role = selectors.room_role(room, self.user)
            self.room_status = room.status
            self.seller_id = room.seller_id
            self.spotlight_fallback = selectors.spotlight_from_db(room)
            # Counts as they are now: a page coming back after an outage missed the
            # product-stock messages sent meanwhile (products are prefetched: no query).
            self.product_stock = [
                {"product_id": selectors.public_id(product.pk), "stock": product.stock}
                for product in room.products.all()
                if product.is_active
            ]
        return room

    async def disconnect(self, code: int) -> None:
        self.sign_out_unwatch()
        if getattr(self, "in_hub", False):
            self.in_hub = False
            await get_hub().leave(self, self.groups_joined)
        if not getattr(self, "joined", False):
            return
        self.joined = False
        if self.media_peer:
            try:  # the socket's peer goes with it (a seller leaving interrupts the stream)
                await media.unit_send(
                    self.room_id, {"type": "media.leave", "peer": self.channel_name}, start=False
                )
            except MediaError:
                pass  # the unit is gone too, or drops the peer when its connection fails
        await self.store.viewer_leave(self.room_id, self.viewer_key)
        if self.user.is_authenticated and self.role != "seller":
            await room_event_send(
                room_staff_group(self.room_id),
                {"type": "leave-room", "user": selectors.user_summary(self.user)},
            )
        run_in_background(announce_viewer_count(self.room_id))

    async def _send_room_state(
        self, room: ShoppingRoom, viewer_count: int, stored: dict | None = None
    ) -> None:
        """The room-state message. `stored`: what `store.room_enter` answered on connect
        (the store's part and the stream status already read), else read here."""
        if stored is None:
            stored = await self.store.room_state(
                self.room_id, self.user.pk if self.user.is_authenticated else None, ROOM_STATE_CHAT
            )
            stream_status = await media.stream_status(self.room_id, room.status)
        else:
            (unit_said,) = stored["values"]  # room_enter read the unit's word for us
            stream_status = media.stream_status_from(room.status, unit_said)
        await self.send_event(
            {
                "type": "room-state",
                "room": {
                    "id": selectors.public_id(room.pk),
                    "title": room.title,
                    "status": room.status,
                    "seller": selectors.user_summary(room.seller),
                },
                "viewer_count": viewer_count,
                "spotlight": stored["spotlight"] or self.spotlight_fallback,
                "product_stock": self.product_stock,
                "chat": stored["chat"],
                "queue_position": stored["queue_position"],
                "slow_mode": stored["slow_mode"],
                "stream_status": stream_status,
                "ice_servers": settings.ICE_SERVERS,
                "you": {
                    "id": selectors.public_id(self.user.pk) if self.user.is_authenticated else None,
                    "username": self.user.username if self.user.is_authenticated else None,
                    "role": self.role,
                },
            }
        )

    # --- frames from the client --------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        try:
            frame = self._parse(text_data, bytes_data)
            handler = self.HANDLERS.get(frame["type"])
            if handler is None:
                raise Refusal(
                    "unknown_type",
                    _("Unknown message type %(type)s.") % {"type": repr(frame["type"])[:60]},
                )
            await handler(self, frame)
        except Refusal as refusal:
            await self.send_error(refusal.code, refusal.message)
        except (ApplicationError, MediaError) as exc:
            await self.send_error(exc.code, exc.message)
        except ValidationError as exc:
            await self.send_error("invalid", " ".join(exc.messages))
        except Exception:
            # A bug must cost this one frame, never the socket or anyone else's.
            logger.exception("room socket frame failed")
            await self.send_error("server_error", _("Something went wrong; please try again."))

    def _parse(self, text_data: str | None, bytes_data: bytes | None) -> dict:
        try:
            if text_data is None:
                raise Refusal("invalid_frame", _("Send JSON text frames, not binary ones."))
            # The limit is in bytes, as its message says: counting characters let 16 K of
            # non-ASCII text (up to 64 KB in UTF-8) through. The character check goes first
            # so that a huge frame is refused without encoding it.
            if len(text_data) > MAX_FRAME_CHARS or (
                len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_CHARS
            ):
                raise Refusal(
                    "frame_too_large",
                    _("Frames are limited to %(max)s bytes.") % {"max": MAX_FRAME_CHARS},
                )
            try:
                frame = json.loads(text_data)
            except (ValueError, RecursionError):
                raise Refusal("invalid_json", _("Frames must be JSON objects.")) from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise Refusal("invalid_frame", _('Frames must be JSON objects with a "type".'))
            return frame
        except Refusal:
            self.bad_frames += 1
            if self.bad_frames >= MAX_BAD_FRAMES:
                run_in_background(self.close(code=CLOSE_MALFORMED))
            raise

    async def _within_rate(self, key: str, rate: tuple[int, float], message: str) -> None:
        """Refuse the frame (`rate_limited`) once `key` had its `rate` (limit, seconds);
        `message` has %(limit)s and %(window)s for them."""
        limit, window = rate
        if not await self.store.hit(key, limit=limit, window=window):
            raise Refusal("rate_limited", message % {"limit": limit, "window": window})

    async def send_event(self, event: dict) -> None:
        await self.send(text_data=json.dumps(event, separators=(",", ":")))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_event({"type": "error", "code": code, "message": message})

    def _require_user(self, action: str) -> None:
        if not self.user.is_authenticated or self.signed_out:
            # Translators: %(action)s is "chat", "join the queue" or "leave the queue".
            raise Refusal("login_required", _("Log in to %(action)s.") % {"action": action})

    async def _require_moderator(self) -> None:
        """Checked against the database on every use: a moderator the seller removed (or a
        deactivated account) loses the rights at once, open socket or not."""
        if self.role not in {"seller", "moderator"} or not await database_sync_to_async(
            selectors.user_may_moderate_room
        )(room_id=self.room_id, user=self.user):
            raise Refusal("permission_denied", _("Only the seller and moderators can do that."))

    def _require_open(self) -> None:
        if self.room_status == ShoppingRoom.Status.ENDED:
            raise Refusal("room_ended", _("This room has ended."))

    # --- chat ----------------------------------------------------------------------------
    async def on_chat_message(self, frame: dict) -> None:
        self._require_user(_("chat"))
        self._require_open()
        text = frame.get("text")
        if not isinstance(text, str):
            raise Refusal("invalid", _("`text` must be a string."))
        text = CONTROL_CHARACTERS.sub("", text).strip()
        if not 1 <= len(text) <= CHAT_MAX_CHARS:
            raise Refusal(
                "invalid",
                _("Messages are 1 to %(max)s characters.") % {"max": CHAT_MAX_CHARS},
            )
        sent_at = timezone.now()
        message = {
            "type": "chat-message",
            "id": uuid.uuid4().hex,
            "user": selectors.user_summary(self.user),
            "text": text,
            "sent_at": sent_at.isoformat(),
        }
        limit, window = CHAT_RATE
        verdict, seconds = await self.store.chat_post(
            self.room_id,
            self.user.pk,
            message,
            limit=limit,
            window=window,
            staff=self.role in {"seller", "moderator"},
        )
        if verdict == "banned":
            raise Refusal("banned", _("You were banned from this room."))
        if verdict == "muted":
            raise Refusal(
                "muted",
                _("You are muted in this room for %(seconds)s more seconds.")
                % {"seconds": seconds},
            )
        if verdict == "rate_limited":
            raise Refusal(
                "rate_limited",
                _("Slow down: at most %(limit)s messages per %(window).0f s.")
                % {"limit": limit, "window": window},
            )
        if verdict == "slow_mode":
            raise Refusal(
                "slow_mode", _("Slow mode: one message every %(slow)s s.") % {"slow": seconds}
            )
        await room_event_send(room_group(self.room_id), message)
        # Persisted after the broadcast, off the hot path (moderation and replays).
        chat_recorder().add(
            {
                "room_id": self.room_id,
                "message_id": message["id"],
                "user_id": self.user.pk,
                "text": text,
                "sent_at": sent_at,
            }
        )

    # --- spotlight -----------------------------------------------------------------------
    async def on_spotlight_product(self, frame: dict) -> None:
        await self._require_moderator()
        product_id = _id_field(frame, "product_id", nullable=True)
        await database_sync_to_async(self._spotlight)(product_id)

    def _spotlight(self, product_id: str | None) -> None:
        room = selectors.room_with_details(self.room_id)
        services.room_spotlight(room=room, actor=self.user, product_id=product_id)

    # --- queue ---------------------------------------------------------------------------
    async def on_join_queue(self, frame: dict) -> None:
        self._require_user(_("join the queue"))
        self._require_open()
        await self._queue_rate()
        if await self.store.is_banned(self.room_id, self.user.pk):
            raise Refusal("banned", _("You were banned from this room."))
        place = await self.store.queue_position(self.room_id, self.user.pk)
        if place is not None:  # already queued: just say where, nobody else moved
            await room_event_send(
                room_user_group(self.room_id, self.user.pk),
                {"type": "queue-position", "position": place},
            )
            return
        await self.store.queue_join(self.room_id, selectors.user_summary(self.user))
        await self._queue_changed()

    async def on_leave_queue(self, frame: dict) -> None:
        self._require_user(_("leave the queue"))
        await self._queue_rate()
        if await self.store.queue_leave(self.room_id, self.user.pk):
            await room_event_send(
                room_user_group(self.room_id, self.user.pk),
                {"type": "queue-position", "position": None},
            )
            await self._queue_changed()

    async def on_queue_admit_next(self, frame: dict) -> None:
        await self._require_moderator()
        self._require_open()
        admitted = await self.store.queue_pop(self.room_id)
        if admitted is None:
            raise Refusal("queue_empty", _("Nobody is waiting in the queue."))
        await room_event_send(
            room_user_group(self.room_id, admitted["id"]), {"type": "queue-admitted"}
        )
        await room_event_send(
            room_user_group(self.room_id, admitted["id"]),
            {"type": "queue-position", "position": None},
        )
        await self._queue_changed()

    async def _queue_rate(self) -> None:
        await self._within_rate(
            f"queue:{self.room_id}:{self.user.pk}",
            QUEUE_RATE,
            _("At most %(limit)s queue changes per %(window).0f s."),
        )

    async def _queue_changed(self) -> None:
        """Everyone queued learns their (new) place; the seller's side sees the whole line."""
        queue = await self.store.queue_list(self.room_id)
        for place, user in enumerate(queue, start=1):
            await room_event_send(
                room_user_group(self.room_id, user["id"]),
                {"type": "queue-position", "position": place},
            )
        await room_event_send(
            room_staff_group(self.room_id),
            {
                "type": "queue-update",
                "queue": [{"user": user, "position": p} for p, user in enumerate(queue, 1)],
            },
        )

    # --- moderation ----------------------------------------------------------------------
    async def on_delete_message(self, frame: dict) -> None:
        await self._require_moderator()
        message_id = frame.get("message_id")
        if not isinstance(message_id, str) or not re.fullmatch(r"[0-9a-f]{32}", message_id):
            raise Refusal("invalid", _("`message_id` must be a message id."))
        await self.store.chat_delete(self.room_id, message_id)
        await chat_recorder().flush()  # the line may not be saved yet
        await database_sync_to_async(self._delete_message)(message_id)
        await room_event_send(
            room_group(self.room_id), {"type": "message-deleted", "message_id": message_id}
        )

    def _delete_message(self, message_id: str) -> None:
        room = selectors.room_with_details(self.room_id)
        services.chat_message_delete(room=room, actor=self.user, message_id=message_id)

    def _target(self, frame: dict) -> str:
        user_id = _id_field(frame, "user_id")
        if user_id == str(self.seller_id):
            raise Refusal("permission_denied", _("The seller cannot be muted or banned."))
        if self.user.pk is not None and user_id == str(self.user.pk):
            raise Refusal("invalid", _("You cannot mute or ban yourself."))
        return user_id

    async def on_mute_user(self, frame: dict) -> None:
        await self._require_moderator()
        user_id = self._target(frame)
        minutes = _int_field(frame, "minutes", low=1, high=MAX_MUTE_MINUTES)
        await self.store.mute(self.room_id, user_id, minutes * 60)
        await room_event_send(
            room_user_group(self.room_id, user_id), {"type": "muted", "minutes": minutes}
        )
        await room_event_send(
            room_staff_group(self.room_id),
            {"type": "user-muted", "user_id": user_id, "minutes": minutes},
        )

    async def on_ban_user(self, frame: dict) -> None:
        await self._require_moderator()
        user_id = self._target(frame)
        await database_sync_to_async(self._ban)(user_id)
        if await self.store.queue_leave(self.room_id, user_id):
            await self._queue_changed()
        await room_event_send(room_user_group(self.room_id, user_id), {"type": "_kick"})
        await room_event_send(
            room_staff_group(self.room_id), {"type": "user-banned", "user_id": user_id}
        )
        await self._purge_messages_of(user_id)

    def _ban(self, user_id: str) -> None:
        room = selectors.room_with_details(self.room_id)
        services.room_ban(room=room, actor=self.user, user_id=user_id)

    async def _purge_messages_of(self, user_id: str) -> None:
        """A banned user's lines leave the chat with them, for everyone and for late joiners
        (store and database), each announced like a deleted message."""
        await chat_recorder().flush()
        message_ids = await database_sync_to_async(self._purge_messages)(user_id)
        # Lines are saved just after they are broadcast: the newest may be in the store only.
        for message in await self.store.chat_recent(self.room_id, limit=CHAT_KEPT):
            if str(message["user"]["id"]) == user_id and message["id"] not in message_ids:
                message_ids.append(message["id"])
        for message_id in message_ids:
            await self.store.chat_delete(self.room_id, message_id)
            await room_event_send(
                room_group(self.room_id), {"type": "message-deleted", "message_id": message_id}
            )

    def _purge_messages(self, user_id: str) -> list[str]:
        room = selectors.room_with_details(self.room_id)
        return services.chat_messages_purge(room=room, actor=self.user, user_id=user_id)

    async def on_slow_mode(self, frame: dict) -> None:
        await self._require_moderator()
        seconds = _int_field(frame, "seconds", low=0, high=MAX_SLOW_MODE_SECONDS)
        await self.store.slow_mode_set(self.room_id, seconds)
        await room_event_send(room_group(self.room_id), {"type": "slow-mode", "seconds": seconds})

    # --- membership and reserved names -------------------------------------------------
    async def on_join_room(self, frame: dict) -> None:
        """Already joined by connecting; a client may ask for the state again (resync)."""
        await self._within_rate(
            f"join-room:{self.channel_name}",
            RESYNC_RATE,
            _("At most %(limit)s resyncs per %(window).0f s."),
        )
        room = await database_sync_to_async(self._load_room)()
        await self._send_room_state(room, await self.store.viewer_count(self.room_id))

    async def on_leave_room(self, frame: dict) -> None:
        await self.close(code=1000)

    # --- live video signaling (the forwarding unit: streaming/) ------------------------------
    async def on_webrtc_offer(self, frame: dict) -> None:
        role = frame.get("role")
        if not isinstance(role, str) or role not in {"publish", "view"}:  # [] is unhashable
            raise Refusal("invalid", _('`role` must be "publish" or "view".'))
        sdp = frame.get("sdp")
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            raise Refusal("invalid_sdp", _("`sdp` must be an SDP offer (it starts with v=0)."))
        self._require_open()
        if role == "publish" and self.role != "seller":
            raise Refusal("permission_denied", _("Only the room's seller can broadcast."))
        await self._within_rate(
            f"webrtc-offer:{self.channel_name}",
            OFFER_RATE,
            _("At most %(limit)s offers per %(window).0f s."),
        )
        if role == "publish" and self.room_status == ShoppingRoom.Status.SCHEDULED:
            await database_sync_to_async(self._go_live)()
        self.media_peer = True
        await media.unit_send(
            self.room_id,
            {"type": "media.offer", "peer": self.channel_name, "role": role, "sdp": sdp},
        )

    def _go_live(self) -> None:
        """A seller's first broadcast opens a scheduled show (the studio's Go live button)."""
        room = selectors.room_with_details(self.room_id)
        if room.status == ShoppingRoom.Status.SCHEDULED:
            try:
                services.room_go_live(room=room, actor=self.user)
            except ApplicationError:
                room.refresh_from_db()  # a racing go-live won; fine unless the room ended
        self.room_status = room.status
        self._require_open()

    async def on_webrtc_ice_candidate(self, frame: dict) -> None:
        candidate = frame.get("candidate")
        if candidate is not None and not (
            isinstance(candidate, dict)
            and isinstance(candidate.get("candidate", ""), str)
            and len(candidate.get("candidate", "")) <= 1024
            and isinstance(candidate.get("sdpMid"), str | None)
            and len(candidate.get("sdpMid") or "") <= 64
            and (
                candidate.get("sdpMLineIndex") is None
                or (
                    type(candidate["sdpMLineIndex"]) is int
                    and 0 <= candidate["sdpMLineIndex"] <= 64
                )
            )
        ):
            raise Refusal(
                "invalid",
                _("`candidate` must be null or {candidate, sdpMid, sdpMLineIndex}."),
            )
        if not self.media_peer:
            raise Refusal("no_peer", _("Send an offer before ICE candidates."))
        await self._within_rate(
            f"webrtc-candidate:{self.channel_name}",
            CANDIDATE_RATE,
            _("At most %(limit)s candidates per %(window).0f s."),
        )
        if candidate is not None:  # keep only the fields the unit reads
            candidate = {k: candidate.get(k) for k in ("candidate", "sdpMid", "sdpMLineIndex")}
        if not await media.unit_send(
            self.room_id,
            {"type": "media.candidate", "peer": self.channel_name, "candidate": candidate},
            start=False,
        ):
            raise Refusal("no_peer", _("Your peer is gone (the stream ended); offer again."))

    async def on_webrtc_answer(self, frame: dict) -> None:
        raise Refusal("invalid", _("The server answers offers; clients send `webrtc-offer`."))

    # --- the socket's access token (liveshop.websocket.SignOutWatch) ---------------------
    async def on_renew_token(self, frame: dict) -> None:
        # Its refusals are ApplicationErrors: `receive` sends them as error frames.
        await self.renew_token(frame)

    HANDLERS = {
        "chat-message": on_chat_message,
        "spotlight-product": on_spotlight_product,
        "join-queue": on_join_queue,
        "leave-queue": on_leave_queue,
        "queue-admit-next": on_queue_admit_next,
        "delete-message": on_delete_message,
        "mute-user": on_mute_user,
        "ban-user": on_ban_user,
        "slow-mode": on_slow_mode,
        "join-room": on_join_room,
        "leave-room": on_leave_room,
        "webrtc-offer": on_webrtc_offer,
        "webrtc-answer": on_webrtc_answer,
        "webrtc-ice-candidate": on_webrtc_ice_candidate,
        "renew-token": on_renew_token,
    }

    # --- room events (rooms/hub.py writes the others straight to the socket) ----------------
    hub_intercepts = frozenset({"room-status", "_kick", "_signout"})
    hub_batches_chat = False  # set on connect: `?batch=chat` takes chat-batch frames

    async def hub_event(self, kind: str, text: str) -> None:
        if kind == "_signout":  # logged out, deactivated (liveshop.websocket.SignOutWatch)
            self.hub_signout(text)
            return
        if kind == "_kick":
            await self.send_error("banned", _("You were banned from this room."))
            await self.close(code=CLOSE_BANNED)
            return
        status = json.loads(text)["status"]  # room-status
        went_live = status == ShoppingRoom.Status.LIVE and self.room_status != status
        self.room_status = status
        await self.send(text_data=text)
        if went_live and getattr(self, "joined", False):
            # In the background: the hub is writing this event to the room's other sockets.
            run_in_background(self._record_viewer())
            run_in_background(announce_viewer_count(self.room_id))  # save the new count

    async def hub_lost(self) -> None:
        await self.close(code=CLOSE_SUBSCRIPTION_LOST)

    async def hub_too_slow(self) -> None:
        # Waits until the client reads its backlog (then sees the code) or goes away.
        await self.close(code=CLOSE_TOO_SLOW)

    # --- messages to this socket alone, through the channel layer (the media unit) ---------

    async def media_answer(self, message: dict) -> None:
        await self.send_event(
            {"type": "webrtc-answer", "role": message["role"], "sdp": message["sdp"]}
        )

    async def media_error(self, message: dict) -> None:
        await self.send_error(message["code"], message["message"])


class UnknownSocket(AsyncWebsocketConsumer):
    """Every socket path that is not a room: refused at the handshake."""

    async def connect(self) -> None:
        await self.close()
