"""`manage.py broadcast_demo <room_id> | --demo [--url http://127.0.0.1:8000]`

Publishes a moving test pattern and a tone to a shopping room as its seller, over the room
socket and WebRTC, exactly as the seller's browser would: a scheduled room goes live. Keeps
broadcasting while the server restarts (reconnects and publishes again, for up to `--wait`
seconds per outage), stops when the room ends, on Ctrl-C and on SIGTERM.

`--demo` picks seed_demo's live room, so `make run` needs no id.
"""

import asyncio
import contextlib
import logging
import signal
import time

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from rest_framework_simplejwt.tokens import AccessToken

from catalog.management.commands.seed_demo import DEMO_ACCOUNTS, ROOMS
from rooms import selectors
from rooms.models import ShoppingRoom
from streaming.client import RoomMediaClient, SignalingError, SocketClosed, SocketRefused
from streaming.testsource import PatternVideoTrack, ToneAudioTrack

# Publish errors worth trying again after a pause; any other code ends the command.
RETRY_CODES = {"media_unavailable", "rate_limited", "server_error"}
POLL_SECONDS = 0.25


class RoomGone(Exception):
    """The room ended (or was deleted) while we were broadcasting."""


def demo_room() -> ShoppingRoom:
    """seed_demo's live room (the first of its rooms that goes live), if it is still open."""
    seller = next(username for username, _email, role in DEMO_ACCOUNTS if role == "seller")
    title = next(room[0] for room in ROOMS if room[3])
    room = (
        ShoppingRoom.objects.filter(seller__username=seller, title=title)
        .exclude(status=ShoppingRoom.Status.ENDED)
        .order_by("-created_at")
        .first()
    )
    if room is None:
        raise CommandError(
            f"No open demo room {title!r} by {seller}: run `manage.py seed_demo` first "
            "(it plants a new one if the last was ended)."
        )
    return room


def find_room(room_id: str) -> ShoppingRoom:
    try:
        room = selectors.room_with_details(room_id)
    except (ValueError, TypeError, ValidationError):
        room = None
    if room is None:
        raise CommandError(f"No shopping room with id {room_id!r}.")
    return room


class Command(BaseCommand):
    help = "Broadcast a test pattern and a tone to a room as its seller (WebRTC, like a browser)."

    def add_arguments(self, parser):
        parser.add_argument("room_id", nargs="?", help="the shopping room's id")
        parser.add_argument(
            "--demo", action="store_true", help="use seed_demo's live room instead of an id"
        )
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="the site (default %(default)s)"
        )
        parser.add_argument("--width", type=int, default=640)
        parser.add_argument("--height", type=int, default=480)
        parser.add_argument("--fps", type=int, default=30)
        parser.add_argument(
            "--wait",
            type=float,
            default=60.0,
            help="seconds to keep retrying while the server is unreachable (default 60)",
        )
        parser.add_argument(
            "--seconds", type=float, default=None, help="stop after this long (default: never)"
        )

    def handle(self, *args, **options):
        if options["demo"] == bool(options["room_id"]):
            raise CommandError("Give a room id or --demo (not both).")
        room = demo_room() if options["demo"] else find_room(options["room_id"])
        if room.status == ShoppingRoom.Status.ENDED:
            raise CommandError(f"Room {room.pk} ({room.title!r}) has ended: nothing to broadcast.")
        self.room = room
        self.seller = room.seller
        self.options = options
        # aioice narrates every connectivity check at INFO.
        for name in ("aioice", "aiortc"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.stdout.write(
            f"Broadcasting a test pattern to room {room.pk} ({room.title!r}, {room.status}) "
            f"as {self.seller.username} at {options['url']} (Ctrl-C stops)."
        )
        reason = asyncio.run(self.broadcast())
        self.stdout.write(reason)

    # --- the broadcast loop ----------------------------------------------------------------
    def mint_token(self) -> str:
        # Fresh on every connect: access tokens live 15 minutes, broadcasts longer.
        return str(AccessToken.for_user(self.seller))

    def room_status(self) -> str | None:
        status = ShoppingRoom.objects.filter(pk=self.room.pk).values_list("status", flat=True)
        return status.first()

    async def broadcast(self) -> str:
        options = self.options
        self.stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop.set)
        if options["seconds"] is not None:
            loop.call_later(options["seconds"], self.stop.set)
        video = PatternVideoTrack(options["width"], options["height"], options["fps"])
        audio = ToneAudioTrack()
        client = RoomMediaClient(options["url"], self.room.pk)
        try:
            while not self.stop.is_set():
                if not await self.connect_and_publish(client, video, audio):
                    break
                self.stdout.write(
                    f"Live: publishing to room {self.room.pk} "
                    f"({client.room_state['room']['title']!r})."
                )
                await self.watch(client)
                if self.stop.is_set():
                    break
                self.stdout.write("The room socket closed; reconnecting...")
            return "Stopped."
        except RoomGone as gone:
            return str(gone)
        finally:
            await client.close()
            video.stop()
            audio.stop()

    async def connect_and_publish(self, client, video, audio) -> bool:
        """Connect and publish, retrying with backoff while the server is unreachable (up
        to --wait seconds). False when asked to stop meanwhile."""
        deadline = time.monotonic() + self.options["wait"]
        delay = 0.5
        while not self.stop.is_set():
            problem = await self.try_publish(client, video, audio)
            if problem is None:
                return True
            if time.monotonic() + delay > deadline:
                raise CommandError(
                    f"Gave up after {self.options['wait']:.0f} s: {problem} "
                    f"(is the site running at {self.options['url']}?)"
                )
            self.stdout.write(f"{problem}; retrying in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)
            delay = min(delay * 2, 5.0)
        return False

    async def try_publish(self, client, video, audio) -> str | None:
        """One attempt; returns what went wrong (to retry), None when live."""
        await client.close()
        client.token = await sync_to_async(self.mint_token)()
        try:
            state = await client.connect(timeout=5)
        except SocketRefused as refused:
            status = await sync_to_async(self.room_status)()
            if status is None:
                raise RoomGone(f"Room {self.room.pk} no longer exists.") from None
            raise CommandError(str(refused)) from None
        except (OSError, TimeoutError, SocketClosed) as exc:
            return f"cannot reach {client.url} ({exc.__class__.__name__}: {exc})"
        if state["room"]["status"] == "ended" or state.get("stream_status") == "ended":
            raise RoomGone(f"Room {self.room.pk} has ended: stopped broadcasting.")
        if state["you"]["role"] != "seller":
            raise CommandError(f"The server did not take us for the seller: {state['you']}")
        try:
            await client.publish(video, audio)
        except SignalingError as refused:
            if refused.code == "room_ended":
                raise RoomGone(f"Room {self.room.pk} has ended: stopped broadcasting.") from None
            if refused.code == "unsupported":
                raise CommandError(f"This server has no live video yet ({refused}).") from None
            if refused.code in RETRY_CODES:
                return str(refused)
            raise CommandError(str(refused)) from None
        except (SocketClosed, TimeoutError) as exc:
            return f"publishing failed ({exc.__class__.__name__}: {exc})"
        return None

    async def watch(self, client) -> None:
        """Until asked to stop or the socket drops; raises RoomGone when the room ends.
        A failed peer connection on a live socket is replaced by a new offer."""
        while not self.stop.is_set():
            if client.stream_status == "ended" or client.room_status == "ended":
                raise RoomGone(f"Room {self.room.pk} has ended: stopped broadcasting.")
            if not client.connected:
                return
            if client.pc is not None and client.pc.connectionState in {"failed", "closed"}:
                self.stdout.write("The media connection failed; publishing again...")
                try:
                    await client.republish()
                except SignalingError as refused:
                    if refused.code == "room_ended":
                        raise RoomGone(f"Room {self.room.pk} has ended.") from None
                    return  # start over: a new socket and offer, with backoff
                except (SocketClosed, TimeoutError):
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), POLL_SECONDS)
