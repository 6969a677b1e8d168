"""The forwarding unit of one live room: one publisher peer, N viewer peers (aiortc).

Pure media, no Django: `streaming/host.py` runs units behind the channel layer, and the
benchmark drives one directly. Peers are keyed by the socket that made them (its channel
name), so a socket's new offer replaces its old peer and a closing socket takes its peer along.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription, candidate_from_sdp

# Marks the refusals for translation without needing Django's settings: the unit stays
# pure media, and streaming/host.py translates them where they leave for a socket.
from django.utils.translation import gettext_noop

from streaming.relay import Fanout, ForwardedTrack, bound_video_gaps, tap_receiver

logger = logging.getLogger(__name__)

MAX_VIEWERS = 500  # per room and process; past this a larger audience needs a real SFU
CODECS = {"video": {"video/vp8", "video/rtx"}, "audio": {"audio/opus"}}
# A publisher whose video sends no frame for this long is announced `interrupted` (and `live`
# at its next frame). A seller's network that silently drops packets leaves the connection up
# until ICE consent expires, 24-36 s later, with viewers watching a frozen picture meanwhile;
# a camera sends 15-30 frames a second, so 2.5 s of none is an outage, and viewers hear of
# it within about 3 s (docs/realtime.md).
FRAME_SILENCE_SECONDS = 2.5


class MediaError(Exception):
    """An offer or candidate the unit turns down; `code` is the socket error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _codec_preferences(kind: str):
    return [
        c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in CODECS[kind]
    ]


def _offered_kinds(sdp: str) -> list[tuple[str, bool]]:
    """The offer's audio/video lines in order, each with whether it is the first of its kind.
    The answering transceivers are made up front, one per line: that is where codec
    preferences take effect (aiortc negotiates in setRemoteDescription), and a transceiver
    left without a line would break aiortc's answer."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise MediaError(
            "invalid_sdp", gettext_noop("The offer must be an SDP text starting with v=0.")
        )
    try:
        media = SessionDescription.parse(sdp).media
    except Exception:
        raise MediaError("invalid_sdp", gettext_noop("The offer is not valid SDP.")) from None
    seen: set[str] = set()
    kinds = []
    for line in media:
        if line.kind in CODECS:
            kinds.append((line.kind, line.kind not in seen))
            seen.add(line.kind)
    if not kinds:
        raise MediaError("invalid_sdp", gettext_noop("The offer has no audio or video."))
    return kinds


class Peer:
    def __init__(self, peer_id: str, role: str, pc: RTCPeerConnection):
        self.peer_id = peer_id
        self.role = role
        self.pc = pc
        self.tracks: list[ForwardedTrack] = []
        self.video_receiver = None
        self.silence_watch: asyncio.Task | None = None  # publishers only, once connected


class ForwardingUnit:
    def __init__(
        self,
        *,
        ice_servers: list[dict] | None = None,
        on_status: Callable[[str], Awaitable[None]] | None = None,
    ):
        self.configuration = RTCConfiguration(
            iceServers=[RTCIceServer(**server) for server in ice_servers or []]
        )
        self.fanouts = {
            "video": Fanout("video", request_keyframe=self._request_keyframe),
            "audio": Fanout("audio"),
        }
        self.publisher: Peer | None = None
        self.viewers: dict[str, Peer] = {}
        self.status = "waiting"
        self.closed = False
        self._on_status = on_status
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closing: asyncio.Future | None = None
        self._last_video_frame = 0.0  # time.monotonic() of the publisher's latest video frame
        self._video_silent = False  # `interrupted` was announced for silence, not a departure
        self._announcing = asyncio.Lock()  # FIFO: statuses are announced in the order set

    # --- what the host calls --------------------------------------------------------------
    async def publish(self, peer_id: str, sdp: str) -> str:
        """Take the seller's offer; answer SDP. Replaces any earlier publisher."""
        async with self._lock(peer_id):
            self._check_open()
            kinds = _offered_kinds(sdp)
            pc = RTCPeerConnection(self.configuration)
            peer = Peer(peer_id, "publish", pc)
            for kind, first in kinds:
                transceiver = pc.addTransceiver(kind, direction="recvonly" if first else "inactive")
                transceiver.setCodecPreferences(_codec_preferences(kind))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                self._tap_publisher(peer)
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except MediaError:
                await pc.close()
                raise
            except Exception as exc:
                await pc.close()
                raise MediaError("invalid_sdp", _sdp_problem(exc)) from None
            await self._replace_publisher(peer)
            self._watch(peer)
            return pc.localDescription.sdp

    async def view(self, peer_id: str, sdp: str) -> str:
        """Take a viewer's offer; answer SDP with the room's audio and video tracks, which
        carry media whenever a publisher does."""
        async with self._lock(peer_id):
            self._check_open()
            old = self.viewers.pop(peer_id, None)
            if old is not None:
                await self._close_peer(old)
            if len(self.viewers) >= MAX_VIEWERS:
                raise MediaError(
                    "room_full", gettext_noop("This room has as many viewers as it can take.")
                )
            kinds = _offered_kinds(sdp)
            pc = RTCPeerConnection(self.configuration)
            peer = Peer(peer_id, "view", pc)
            for kind, first in kinds:
                if not first:  # a second line of a kind gets nothing (no doubled bandwidth)
                    pc.addTransceiver(kind, direction="inactive")
                    continue
                fanout = self.fanouts[kind]
                track = ForwardedTrack(fanout)
                transceiver = pc.addTransceiver(track, direction="sendonly")
                transceiver.setCodecPreferences(_codec_preferences(kind))
                if kind == "video":
                    # A viewer's picture-loss report (PLI/FIR) is passed to the publisher:
                    # the unit has no encoder of its own to make a keyframe with.
                    transceiver.sender._send_keyframe = fanout.request_keyframe
                peer.tracks.append(track)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except Exception as exc:
                await self._close_peer(peer)
                raise MediaError("invalid_sdp", _sdp_problem(exc)) from None
            self.viewers[peer_id] = peer
            self._watch(peer)
            return pc.localDescription.sdp

    async def add_candidate(self, peer_id: str, candidate: dict | None) -> None:
        """A trickled remote candidate for the socket's peer (None: end of candidates)."""
        async with self._lock(peer_id):
            peer = self._peer(peer_id)
            if peer is None:
                raise MediaError("no_peer", gettext_noop("Send an offer before ICE candidates."))
            text = (candidate or {}).get("candidate") or ""
            if not text:
                return  # end of candidates: aiortc needs no notice
            try:
                ice = candidate_from_sdp(
                    text.split(":", 1)[1] if text.startswith("candidate:") else text
                )
                ice.sdpMid = candidate.get("sdpMid")
                ice.sdpMLineIndex = candidate.get("sdpMLineIndex")
                if ice.sdpMid is None and ice.sdpMLineIndex is None:
                    ice.sdpMLineIndex = 0
                await peer.pc.addIceCandidate(ice)
            except Exception:
                raise MediaError("invalid", gettext_noop("That is not an ICE candidate.")) from None

    async def leave(self, peer_id: str) -> None:
        """The socket closed: its peer goes (a publisher leaving interrupts the stream)."""
        async with self._lock(peer_id):
            if self.publisher is not None and self.publisher.peer_id == peer_id:
                publisher, self.publisher = self.publisher, None
                await self._close_peer(publisher)
                await self._publisher_gone()
            viewer = self.viewers.pop(peer_id, None)
            if viewer is not None:
                await self._close_peer(viewer)
        self._locks.pop(peer_id, None)

    async def close(self, status: str | None = "ended") -> None:
        """Close every peer: the room ended, or (status None) the unit is shutting down.
        Shielded and shared: a caller being cancelled must not leave peers half closed."""
        if self._closing is None:
            self.closed = True
            self._closing = asyncio.ensure_future(self._close(status))
        await asyncio.shield(self._closing)

    async def _close(self, status: str | None) -> None:
        peers = [*self.viewers.values(), *([self.publisher] if self.publisher else [])]
        self.viewers.clear()
        self.publisher = None
        for fanout in self.fanouts.values():
            fanout.close()
        await asyncio.gather(*(self._close_peer(peer) for peer in peers))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if status is not None:
            await self._set_status(status)

    @property
    def peer_count(self) -> int:
        return len(self.viewers) + (1 if self.publisher else 0)

    @property
    def idle(self) -> bool:
        return self.publisher is None and not self.viewers

    # --- internals -------------------------------------------------------------------------
    def _lock(self, peer_id: str) -> asyncio.Lock:
        """One socket's offers and candidates are handled in order; sockets run side by side."""
        return self._locks.setdefault(peer_id, asyncio.Lock())

    def _check_open(self) -> None:
        if self.closed:
            raise MediaError("room_ended", gettext_noop("This room's stream has ended."))

    def _peer(self, peer_id: str) -> Peer | None:
        if self.publisher is not None and self.publisher.peer_id == peer_id:
            return self.publisher
        return self.viewers.get(peer_id)

    def _tap_publisher(self, peer: Peer) -> None:
        tapped: set[str] = set()
        for transceiver in peer.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is None or transceiver.kind in tapped:
                continue
            tapped.add(transceiver.kind)
            tap_receiver(receiver, self._deliverer(peer, transceiver.kind))
            if transceiver.kind == "video":
                peer.video_receiver = receiver
                bound_video_gaps(receiver, self.fanouts["video"].frames_lost)
        if "video" not in tapped:
            raise MediaError("invalid_sdp", gettext_noop("A publish offer must send video."))

    def _deliverer(self, peer: Peer, kind: str):
        fanout = self.fanouts[kind]

        def deliver(data: bytes, timestamp: int) -> None:
            if self.publisher is peer:  # a replaced publisher's last frames are dropped
                fanout.push(data, timestamp)

        if kind != "video":
            return deliver

        def deliver_video(data: bytes, timestamp: int) -> None:
            if self.publisher is peer:
                self._last_video_frame = time.monotonic()  # read by _watch_silence
                if self._video_silent:  # one task when the video comes back, not per frame
                    self._video_silent = False
                    self._spawn(self._video_resumed(peer))
            deliver(data, timestamp)

        return deliver_video

    async def _replace_publisher(self, peer: Peer) -> None:
        old, self.publisher = self.publisher, peer
        self._video_silent = False  # the new publisher goes live when it connects
        for fanout in self.fanouts.values():
            fanout.publisher_changed()
        if old is not None:
            await self._close_peer(old)
            await self._set_status("interrupted")
        for viewer in list(self.viewers.values()):
            if viewer.peer_id == peer.peer_id:  # one socket, one role
                self.viewers.pop(peer.peer_id, None)
                await self._close_peer(viewer)

    async def _publisher_gone(self) -> None:
        self._video_silent = False
        if self.status == "live":
            await self._set_status("interrupted")

    def _request_keyframe(self) -> None:
        receiver = self.publisher.video_receiver if self.publisher else None
        if receiver is None:
            return
        for source in receiver.getSynchronizationSources():
            self._spawn(receiver._send_rtcp_pli(source.source))

    def _watch(self, peer: Peer) -> None:
        @peer.pc.on("connectionstatechange")
        def changed() -> None:
            self._spawn(self._peer_state_changed(peer))

    async def _peer_state_changed(self, peer: Peer) -> None:
        state = peer.pc.connectionState
        if peer.role == "publish" and self.publisher is peer:
            if state == "connected":
                self._last_video_frame = time.monotonic()  # the first frame is on its way
                if peer.silence_watch is None:
                    peer.silence_watch = self._spawn(self._watch_silence(peer))
                await self._set_status("live")
            elif state in {"failed", "closed"}:
                async with self._lock(peer.peer_id):
                    if self.publisher is peer:
                        self.publisher = None
                        await self._close_peer(peer)
                        await self._publisher_gone()
        elif peer.role == "view" and state in {"failed", "closed"}:
            async with self._lock(peer.peer_id):
                if self.viewers.get(peer.peer_id) is peer:
                    del self.viewers[peer.peer_id]
                    await self._close_peer(peer)

    async def _watch_silence(self, peer: Peer) -> None:
        """While `peer` publishes: `interrupted` once its video has sent nothing for
        FRAME_SILENCE_SECONDS. One sleep per FRAME_SILENCE_SECONDS of frames flowing, none
        per frame; `deliver_video` announces `live` again at the next frame."""
        while self.publisher is peer and not self.closed:
            wait = self._last_video_frame + FRAME_SILENCE_SECONDS - time.monotonic()
            if wait <= 0:
                if self.status == "live" and not self._video_silent:
                    self._video_silent = True
                    # Shielded: the publisher leaving now cancels this watch, not the news.
                    await asyncio.shield(self._spawn(self._set_status("interrupted")))
                wait = FRAME_SILENCE_SECONDS  # silent: the next frame, not this loop, resumes
            await asyncio.sleep(wait)

    async def _video_resumed(self, peer: Peer) -> None:
        if self.publisher is peer and self.status == "interrupted" and not self.closed:
            await self._set_status("live")

    async def _close_peer(self, peer: Peer) -> None:
        if peer.silence_watch is not None:
            peer.silence_watch.cancel()
        for track in peer.tracks:
            track.stop()
        try:
            await peer.pc.close()
        except Exception:  # a half-built peer may fail to close; it holds nothing then
            logger.warning("closing a %s peer failed", peer.role, exc_info=True)

    async def _set_status(self, status: str) -> None:
        if status == self.status:
            return
        self.status = status
        if self._on_status is not None:
            async with self._announcing:  # a quick `live` must not overtake `interrupted`
                try:
                    await self._on_status(status)
                except Exception:
                    logger.exception("announcing stream status %s failed", status)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _sdp_problem(exc: Exception) -> str:
    """A short, safe reason (aiortc's messages can be long or quote the SDP)."""
    text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return f"The offer could not be used: {text}"
