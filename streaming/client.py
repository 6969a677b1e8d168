"""`RoomMediaClient`: an aiortc peer that publishes to or watches a LiveShop room through the
room socket, the way a browser or mobile app does (signaling contract: docs/realtime.md).

Used by `manage.py broadcast_demo`, the end-to-end media tests and the media benchmark.

    client = RoomMediaClient("http://127.0.0.1:8000", room_id, token=access_jwt)
    await client.connect()                      # room-state is in client.room_state
    await client.publish(PatternVideoTrack(), ToneAudioTrack())   # as the room's seller
    await client.wait_status("live", timeout=10)
    ...
    await client.close()

    viewer = RoomMediaClient("http://127.0.0.1:8000", room_id)   # anonymous is fine
    await viewer.connect()
    await viewer.view()                         # viewer.video_track / viewer.audio_track
    frames = StampCollector(await viewer.wait_track("video"))

Signaling is non-trickle: aiortc gathers every candidate before it creates the local
description, so the offer carries them all, and the server's answer carries its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

logger = logging.getLogger(__name__)

PREFERRED_CODECS = {"video": "video/VP8", "audio": "audio/opus"}


class RoomClientError(Exception):
    """Base of the errors this client raises."""


class SocketRefused(RoomClientError):
    """The handshake was refused (HTTP 403: unknown room, bad or expired token, banned)."""

    def __init__(self, url: str, status: int):
        super().__init__(
            f"{url} refused the room socket (HTTP {status}): unknown room, invalid or "
            "expired token, or banned from the room"
        )
        self.status = status


class SocketClosed(RoomClientError, ConnectionError):
    """The room socket closed while we were waiting on it."""


class SignalingError(RoomClientError):
    """The server answered an offer with `{"type": "error"}`."""

    def __init__(self, code: str, message: str, *, role: str | None = None):
        what = f"{role} offer refused" if role else "refused"
        super().__init__(f"{what}: {code}: {message}")
        self.code = code
        self.message = message
        self.role = role


def socket_url(base_url: str, room_id) -> str:
    """http(s)://host:port[/prefix] -> ws(s)://host:port[/prefix]/ws/rooms/<id>/"""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
    path = parts.path.rstrip("/") + f"/ws/rooms/{room_id}/"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def site_origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def ice_configuration(servers: list[dict] | None) -> RTCConfiguration:
    """RTCIceServer dicts (as room-state's `ice_servers`) to aiortc's configuration. An
    empty list means host candidates only (aiortc would otherwise add Google's STUN)."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in servers or []
        ]
    )


def prefer_codec(transceiver, kind: str) -> None:
    """VP8 / Opus first (the server forwards them without re-encoding), with RTX kept."""
    capabilities = (
        RTCRtpSender.getCapabilities(kind)
        if transceiver.direction == "sendonly"
        else RTCRtpReceiver.getCapabilities(kind)
    )
    wanted = [
        c for c in capabilities.codecs if c.mimeType.lower() == PREFERRED_CODECS[kind].lower()
    ]
    rtx = [c for c in capabilities.codecs if c.mimeType.lower() == f"{kind}/rtx"]
    transceiver.setCodecPreferences(wanted + rtx)


class _Relayed(MediaStreamTrack):
    """Hands a caller's track to one RTCRtpSender. aiortc stops a sender's track when the
    peer connection closes; this wrapper is what gets stopped, so the caller's source keeps
    going (and numbering its frames) across a republish."""

    def __init__(self, source: MediaStreamTrack):
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        return await self.source.recv()


class RoomMediaClient:
    """One room socket and (at most) one peer connection, publishing or viewing.

    Attributes worth reading:
      room_state      the room-state message (refreshed on every connect)
      stream_status   the latest stream status (from room-state, then stream-status messages)
      statuses        every `stream-status` status received, in order (across reconnects)
      errors          every `error` message received
      messages        the last 500 messages of any type
      pc              the current RTCPeerConnection (None before publish/view)
      video_track / audio_track   the received tracks (view)
      answered_at     time.monotonic() when the last answer arrived
    """

    def __init__(
        self,
        base_url: str,
        room_id,
        *,
        token: str | None = None,
        ice_servers: list[dict] | None = None,
        on_track: Callable[[MediaStreamTrack], object] | None = None,
    ):
        self.base_url = base_url
        self.room_id = room_id
        self.url = socket_url(base_url, room_id)
        self.token = token
        self.ice_servers = ice_servers
        self.on_track = on_track
        self.room_state: dict | None = None
        self.stream_status: str | None = None
        self.room_status: str | None = None
        self.statuses: list[str] = []
        self.errors: list[dict] = []
        self.messages: deque[dict] = deque(maxlen=500)
        self.pc: RTCPeerConnection | None = None
        self.role: str | None = None
        self.video_track: MediaStreamTrack | None = None
        self.audio_track: MediaStreamTrack | None = None
        self.answered_at: float | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._pending: tuple[str, asyncio.Future] | None = None
        self._changed = asyncio.Event()
        self._sources: tuple[MediaStreamTrack, MediaStreamTrack | None] | None = None
        self._relayed: list[_Relayed] = []

    # --- the socket ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def connect(self, *, timeout: float = 10.0) -> dict:
        """Open the room socket and read its room-state (returned, and kept)."""
        if self.connected:
            raise RoomClientError("already connected; use reconnect_socket()")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            ws = await websockets.connect(
                self.url,
                additional_headers=headers,
                # Anonymous sockets need an allowed Origin (as a browser sends); a token
                # needs none.
                origin=None if self.token else site_origin(self.base_url),
                open_timeout=timeout,
                proxy=None,
                max_size=4 * 2**20,
            )
        except InvalidStatus as exc:
            raise SocketRefused(self.url, exc.response.status_code) from None
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        except (ConnectionClosed, TimeoutError) as exc:
            await ws.close()
            raise SocketClosed(f"{self.url} closed before sending room-state") from exc
        if first.get("type") != "room-state":
            await ws.close()
            raise RoomClientError(f"expected room-state first, got {first.get('type')!r}")
        self._ws = ws
        self._take_room_state(first)
        self._reader = asyncio.create_task(self._read(ws))
        self._notify()
        return first

    async def reconnect_socket(self, *, timeout: float = 10.0) -> dict:
        """Close the socket (if open) and open a new one. The peer connection is left as it
        is: viewers keep playing; a publisher must `republish()` (the server dropped its
        stream with the old socket)."""
        await self._close_socket()
        return await self.connect(timeout=timeout)

    async def wait_closed(self) -> None:
        """Return when the socket closes (for whatever reason)."""
        if self._reader is not None:
            await asyncio.shield(self._reader)

    def _take_room_state(self, state: dict) -> None:
        self.room_state = state
        self.stream_status = state.get("stream_status")
        self.room_status = (state.get("room") or {}).get("status")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    logger.warning("room socket sent non-JSON: %.80r", raw)
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            pending, self._pending = self._pending, None
            if pending is not None and not pending[1].done():
                pending[1].set_exception(SocketClosed("the room socket closed before answering"))
            self._notify()

    def _dispatch(self, message: dict) -> None:
        self.messages.append(message)
        kind = message.get("type")
        if kind == "webrtc-answer":
            if self._pending is not None and not self._pending[1].done():
                self._pending[1].set_result(message)
            else:
                logger.warning("unexpected webrtc-answer")
        elif kind == "error":
            self.errors.append(message)
            if self._pending is not None and not self._pending[1].done():
                role = self._pending[0]
                self._pending[1].set_exception(
                    SignalingError(message.get("code", "?"), message.get("message", ""), role=role)
                )
            else:
                logger.warning("room socket error: %s", message)
        elif kind == "stream-status":
            self.stream_status = message.get("status")
            self.statuses.append(message.get("status"))
        elif kind == "room-status":
            self.room_status = message.get("status")
        elif kind == "room-state":
            self._take_room_state(message)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until `predicate()` holds, re-checking after each message (TimeoutError)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    async def wait_status(
        self, status: str, timeout: float = 10.0, *, after: int | None = None
    ) -> None:
        """Wait for the stream status `status`.

        Without `after`: returns at once if it is the current status. With `after` (a
        `len(client.statuses)` taken earlier): waits for a `stream-status` message with
        that status received after that point. Raises SocketClosed if the socket closes
        first, TimeoutError after `timeout`."""

        def reached() -> bool:
            if after is None:
                return self.stream_status == status
            return status in self.statuses[after:]

        def settled() -> bool:
            return reached() or not self.connected

        await self.wait_for(settled, timeout)
        if not reached():
            raise SocketClosed(f"the room socket closed before stream status {status!r}")

    async def send(self, message: dict) -> None:
        if not self.connected:
            raise SocketClosed("the room socket is not open")
        await self._ws.send(json.dumps(message, separators=(",", ":")))

    # --- media ---------------------------------------------------------------------------
    def _ice_servers(self) -> list[dict]:
        if self.ice_servers is not None:
            return self.ice_servers
        return (self.room_state or {}).get("ice_servers") or []

    async def _negotiate(self, pc: RTCPeerConnection, role: str, timeout: float) -> None:
        """Offer (with every candidate gathered), wait for the answer, apply it."""
        if self._pending is not None:
            raise RoomClientError("another offer is waiting for its answer")
        await pc.setLocalDescription(await pc.createOffer())
        future = asyncio.get_running_loop().create_future()
        self._pending = (role, future)
        try:
            await self.send({"type": "webrtc-offer", "role": role, "sdp": pc.localDescription.sdp})
            try:
                answer = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise TimeoutError(f"no webrtc-answer to the {role} offer in {timeout} s") from None
        finally:
            if self._pending is not None and self._pending[1] is future:
                self._pending = None
        self.answered_at = time.monotonic()
        if answer.get("role") not in (None, role):
            raise RoomClientError(f"answer for role {answer.get('role')!r}, offered {role!r}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def publish(
        self,
        video_track: MediaStreamTrack,
        audio_track: MediaStreamTrack | None = None,
        *,
        timeout: float = 20.0,
    ) -> None:
        """Publish as the room's seller (a scheduled room goes live). Replaces this client's
        previous peer connection. The tracks stay the caller's: closing or republishing
        never stops them. Raises SignalingError on an `error` reply."""
        await self.close_peer()
        self._sources = (video_track, audio_track)
        pc = self.pc = RTCPeerConnection(ice_configuration(self._ice_servers()))
        self.role = "publish"
        for track in (video_track, audio_track):
            if track is None:
                continue
            relayed = _Relayed(track)
            self._relayed.append(relayed)
            transceiver = pc.addTransceiver(relayed, direction="sendonly")
            prefer_codec(transceiver, track.kind)
        await self._negotiate(pc, "publish", timeout)

    async def republish(self, *, timeout: float = 20.0) -> None:
        """Publish the same sources again (after `reconnect_socket()`, say)."""
        if self._sources is None:
            raise RoomClientError("nothing was published yet")
        await self.publish(*self._sources, timeout=timeout)

    async def view(self, *, timeout: float = 20.0) -> None:
        """Watch: recvonly video and audio. The received tracks appear as `video_track` and
        `audio_track` (and are passed to `on_track`) once the answer is applied; read them
        (e.g. with streaming.testsource.StampCollector), or aiortc queues frames forever."""
        await self.close_peer()
        pc = self.pc = RTCPeerConnection(ice_configuration(self._ice_servers()))
        self.role = "view"
        self.video_track = self.audio_track = None

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.video_track = track
            elif track.kind == "audio":
                self.audio_track = track
            if self.on_track is not None:
                self.on_track(track)
            self._notify()

        for kind in ("video", "audio"):
            prefer_codec(pc.addTransceiver(kind, direction="recvonly"), kind)
        await self._negotiate(pc, "view", timeout)

    async def wait_track(self, kind: str = "video", timeout: float = 10.0) -> MediaStreamTrack:
        attribute = f"{kind}_track"
        await self.wait_for(lambda: getattr(self, attribute) is not None, timeout)
        return getattr(self, attribute)

    async def wait_connected(self, timeout: float = 15.0) -> None:
        """Wait for the peer connection to reach `connected` (RoomClientError if it fails)."""
        pc = self.pc
        if pc is None:
            raise RoomClientError("no peer connection")
        changed = asyncio.Event()
        pc.on("connectionstatechange", changed.set)
        try:
            async with asyncio.timeout(timeout):
                while pc.connectionState != "connected":
                    if pc.connectionState in {"failed", "closed"}:
                        raise RoomClientError(f"peer connection {pc.connectionState}")
                    changed.clear()
                    await changed.wait()
        finally:
            pc.remove_listener("connectionstatechange", changed.set)

    async def close_peer(self) -> None:
        pc, self.pc = self.pc, None
        relayed, self._relayed = self._relayed, []
        for track in relayed:
            track.stop()
        if pc is not None:
            await pc.close()

    # --- the end -------------------------------------------------------------------------
    async def _close_socket(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws = None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(reader, 5)
        self._reader = None

    async def close(self) -> None:
        """Close the peer connection and the socket (the caller's tracks are not stopped)."""
        await self.close_peer()
        await self._close_socket()

    async def __aenter__(self) -> RoomMediaClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()
