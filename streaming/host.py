"""Running forwarding units inside server processes, reached through the channel layer.

A room's unit lives in the process that first needed it (the first offer, usually the
seller's). It listens on a channel of its own, registered in the room store under
`media-unit:<room>`; a socket on any process sends its offers, candidates and leaving there,
and the unit answers the socket's own channel. Media itself goes straight between the peers
and the unit's process over UDP; only signaling crosses the channel layer.

The registration expires unless the unit's heartbeat renews it, so a crashed process frees
the room for a new unit within UNIT_TTL seconds (viewers' pages re-offer by themselves).
"""

import asyncio
import json
import logging

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils.translation import gettext as _

from rooms.events import room_event_send, room_group
from rooms.hub import get_hub
from rooms.store import get_store
from streaming.unit import ForwardingUnit, MediaError

logger = logging.getLogger(__name__)

UNIT_TTL = 15.0  # seconds a unit's registration lasts without a heartbeat
HEARTBEAT = 5.0
IDLE_TIMEOUT = 60.0  # a unit with no peers at all closes after this long
STREAM_STATUSES = ("waiting", "live", "interrupted", "ended")

# Units hosted by this process, by room id (tests and the benchmark look at them too).
hosted: dict[str, "UnitHost"] = {}


def unit_key(room_id: str) -> str:
    return f"media-unit:{room_id}"


def status_key(room_id: str) -> str:
    return f"stream-status:{room_id}"


async def stream_status(room_id: str, room_status: str) -> str:
    """What `room-state` reports: ended rooms are ended; otherwise what the room's unit last
    said, or waiting when no unit has seen a publisher."""
    if room_status == "ended":
        return "ended"
    return stream_status_from(room_status, await get_store().value_get(status_key(room_id)))


def stream_status_from(room_status: str, unit_said: str | None) -> str:
    """`stream_status` for a caller that read the unit's word (status_key) itself."""
    return "ended" if room_status == "ended" else unit_said or "waiting"


async def unit_send(room_id: str, message: dict, *, start: bool = True) -> bool:
    """Deliver a signaling message to the room's unit; answer whether there was one. Offers
    (`start`) start a unit in this process when the room has none; a leaving socket or a
    candidate never needs one. Raises MediaError when the unit's channel cannot take it."""
    store = get_store()
    layer = get_channel_layer()
    channel = await store.value_get(unit_key(room_id))
    if channel is None and not start:
        return False
    if channel is None:
        # The layer's own kind of name: channels_redis reads a process's channels through
        # one shared loop that only knows its default prefix.
        candidate = await layer.new_channel()
        channel = await store.value_claim(unit_key(room_id), candidate, ttl=UNIT_TTL)
        if channel == candidate:
            await UnitHost(room_id, channel).start()
    try:
        await layer.send(channel, message)
    except Exception:  # ChannelFull, or the layer's server gone
        logger.warning("could not reach the media unit of room %s", room_id, exc_info=True)
        raise MediaError("media_unavailable", _("Live video is busy; try again in a moment."))
    return True


class UnitHost:
    """One room's unit in this process: its channel loop, heartbeat and status broadcasts."""

    def __init__(self, room_id: str, channel_name: str):
        self.room_id = room_id
        self.channel_name = channel_name
        self.unit = ForwardingUnit(ice_servers=settings.ICE_SERVERS, on_status=self._announce)
        self.layer = get_channel_layer()
        self.store = get_store()
        self._tasks: set[asyncio.Task] = set()
        self._runner: asyncio.Task | None = None
        self._idle_since: float | None = None

    # --- the room hub's listener interface (rooms/hub.py) -----------------------------
    # The unit hears the room's events to learn that the room ended; it has no socket.
    hub_intercepts = frozenset({"room-status"})
    hub_batches_chat = False

    async def hub_send(self, message: dict) -> None:
        pass  # every other room event is for the viewers, not the unit

    async def hub_event(self, kind: str, text: str) -> None:
        if json.loads(text).get("status") == "ended":
            self._spawn(self._end())

    async def hub_lost(self) -> None:
        pass  # the room's end is also noticed when its publisher and viewers leave

    async def hub_too_slow(self) -> None:
        pass  # never: it writes nowhere

    async def _end(self) -> None:
        await self.unit.close("ended")
        self._runner.cancel()

    async def start(self) -> None:
        hosted[self.room_id] = self
        self.loop = asyncio.get_running_loop()
        await get_hub().join(self, [room_group(self.room_id)])
        self._runner = asyncio.create_task(self._run(), name=f"media-unit-{self.room_id}")

    async def _run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:  # until cancelled: the room ended, or idle, or registration lost
                message = await self.layer.receive(self.channel_name)
                self._spawn(self._handle(message))
        except asyncio.CancelledError:
            pass
        finally:
            heartbeat.cancel()
            await self._shutdown()

    async def _handle(self, message: dict) -> None:
        kind = message.get("type")
        peer = message.get("peer")
        try:
            if kind == "media.offer":
                if message["role"] == "publish":
                    before = self.unit.publisher.peer_id if self.unit.publisher else None
                    sdp = await self.unit.publish(peer, message["sdp"])
                    if before not in {None, peer}:
                        # Another tab or device took over: that page must not fight back.
                        await self._reply(
                            before,
                            {
                                "type": "media.error",
                                "code": "publisher_replaced",
                                "message": _(
                                    "Your broadcast now comes from another tab or device."
                                ),
                            },
                        )
                else:
                    sdp = await self.unit.view(peer, message["sdp"])
                await self._reply(
                    peer, {"type": "media.answer", "role": message["role"], "sdp": sdp}
                )
            elif kind == "media.candidate":
                await self.unit.add_candidate(peer, message["candidate"])
            elif kind == "media.leave":
                await self.unit.leave(peer)
        except MediaError as exc:
            await self._reply(
                # The unit marks its refusals with gettext_noop; they are translated here.
                peer,
                {"type": "media.error", "code": exc.code, "message": _(exc.message)},
            )
        except Exception:
            logger.exception("media unit of room %s failed on %s", self.room_id, kind)
            await self._reply(
                peer,
                {"type": "media.error", "code": "server_error", "message": _("Live video failed.")},
            )

    async def _reply(self, peer: str | None, message: dict) -> None:
        if peer:
            try:
                await self.layer.send(peer, message)
            except Exception:  # the socket is gone or stuck: its peer will be dropped
                logger.info("media reply to a gone socket dropped")

    async def _announce(self, status: str) -> None:
        await self.store.value_set(status_key(self.room_id), status, ttl=UNIT_TTL)
        if status != "ended":  # the room's end is announced by the room service itself
            await room_event_send(
                room_group(self.room_id), {"type": "stream-status", "status": status}
            )

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HEARTBEAT)
            if not await self.store.value_refresh(
                unit_key(self.room_id), self.channel_name, ttl=UNIT_TTL
            ):
                logger.warning("media unit of room %s lost its registration", self.room_id)
                break
            await self.store.value_refresh(status_key(self.room_id), self.unit.status, ttl=UNIT_TTL)
            if not self.unit.idle:
                self._idle_since = None
            elif self._idle_since is None:
                self._idle_since = loop.time()
            elif loop.time() - self._idle_since >= IDLE_TIMEOUT:
                break
        self._runner.cancel()

    async def _shutdown(self) -> None:
        if hosted.get(self.room_id) is self:
            del hosted[self.room_id]
        await self.unit.close(None if self.unit.status != "ended" else "ended")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await get_hub().leave(self, [room_group(self.room_id)])
            await self.store.value_delete(unit_key(self.room_id), only_if=self.channel_name)
        except Exception:
            logger.warning("media unit of room %s left its registration behind", self.room_id)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Close the unit and wait until everything it ran has finished (tests)."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
