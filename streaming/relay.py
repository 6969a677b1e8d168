"""Forwarding the publisher's encoded frames to every viewer, without decoding them.

aiortc's stock `MediaRelay` hands decoded frames to each viewer's sender, which encodes them
again: one VP8 encoder per viewer (about 0.15 CPU core each at 640x480, 30 fps). Here the
publisher's receiver is tapped where aiortc would queue a reassembled frame for its decoder,
and the encoded frame is given as is to every viewer's track. aiortc's sender "packs" any
object that is not a decoded `av.Frame` (`encoder.pack(packet)`: packetize, no encoding), so
an extra viewer costs only packetizing and SRTP encryption.

VP8 and Opus only: a forwarded frame must be decodable by the viewer as the publisher encoded
it, and both are mandatory for every WebRTC browser (RFC 7742, RFC 7874).
"""

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.utils import uint16_add

logger = logging.getLogger(__name__)

CLOCK_RATES = {"video": 90_000, "audio": 48_000}
TIME_BASES = {kind: fractions.Fraction(1, rate) for kind, rate in CLOCK_RATES.items()}
# Per-viewer queue bounds: about a second of media. A viewer that falls this far behind is
# not helped by more buffering; video drops to the next keyframe, audio drops the oldest.
VIDEO_QUEUE_FRAMES = 30
AUDIO_QUEUE_FRAMES = 50
# Picture-loss requests to the publisher are coalesced: browsers answer each with a keyframe
# (several times the size of a delta frame), and a burst of joiners must not cause a burst.
KEYFRAME_REQUEST_INTERVAL = 0.3
# How long a lost packet may hold up the publisher's video before its frame is given up
# (NACK retransmissions usually arrive within one round trip, well under this).
GAP_TIMEOUT = 0.25


class EncodedFrame:
    """One encoded frame as aiortc's sender packs it: `bytes()`, `pts` and `time_base`."""

    __slots__ = ("data", "pts", "time_base", "keyframe")

    def __init__(self, data: bytes, pts: int, time_base: fractions.Fraction, keyframe: bool):
        self.data = data
        self.pts = pts
        self.time_base = time_base
        self.keyframe = keyframe

    def __bytes__(self) -> bytes:
        return self.data


def is_vp8_keyframe(data: bytes) -> bool:
    """VP8 frame tag (RFC 6386 9.1): bit 0 of the first byte is 0 for a key frame."""
    return bool(data) and not data[0] & 0x01


class _DecoderQueueTap:
    """Stands in for a receiver's decoder queue: reassembled frames go to `deliver` on the
    event loop. aiortc's decoder thread finds nothing to take (`get` answers None, "stop")
    and ends at once, so no thread idles per publisher or holds up the process's exit."""

    def __init__(self, deliver: Callable[[bytes, int], None]):
        self._deliver = deliver

    def put(self, item, block=True, timeout=None) -> None:
        if item is not None:  # None: the receiver stopping
            _codec, jitter_frame = item
            self._deliver(jitter_frame.data, jitter_frame.timestamp)

    def get(self, block=True, timeout=None) -> None:
        return None


class GapGivingUpJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, except that a missing packet stalls it for at most
    GAP_TIMEOUT. aiortc's own waits until 512 later packets arrive (about 8 s at 500 kbps)
    when both a packet and its retransmission are lost, freezing every viewer meanwhile.
    Here the incomplete frame is skipped instead, `on_gap` tells the fan-out (viewers wait
    for a keyframe) and the receiver asks the publisher for one (the PLI flag)."""

    def __init__(self, on_gap: Callable[[], None]):
        super().__init__(capacity=512, is_video=True)
        self._on_gap = on_gap
        self._stalled_since: float | None = None

    def add(self, packet) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        gap = None if frame is not None else self._first_gap(packet.sequence_number)
        if gap is None:
            self._stalled_since = None
            return pli_flag, frame
        now = time.monotonic()
        if self._stalled_since is None:
            self._stalled_since = now
        if now - self._stalled_since < GAP_TIMEOUT:
            return pli_flag, frame
        self._stalled_since = None
        self._skip_broken_frame(gap, packet.sequence_number)
        self._on_gap()
        return True, self._remove_frame(packet.sequence_number)

    def _skip_broken_frame(self, gap: int, newest: int) -> None:
        """Drop what precedes the missing packet and the rest of its frame. The frame is
        told by its RTP timestamp; when the packet before the gap ended a frame (marker
        bit), what follows the gap is whole and stays."""
        before = self._packets[(self._origin + gap - 1) % self._capacity] if gap else None
        self.remove(gap + 1)
        if before is not None and before.marker:
            return
        broken = before.timestamp if before is not None else None
        for _ in range(uint16_add(newest, -self._origin) + 1):  # never past the newest
            packet = self._packets[self._origin % self._capacity]
            if packet is not None:
                if broken is None:
                    broken = packet.timestamp  # the gap began a frame: this is its rest
                elif packet.timestamp != broken:
                    return
            self.remove(1)

    def _first_gap(self, newest: int) -> int | None:
        """How far past the origin the first missing packet is, if any packet after it
        has arrived (a quiet publisher is not a gap)."""
        if self._origin is None:
            return None
        span = uint16_add(newest, -self._origin)
        for offset in range(min(span, self._capacity - 1)):
            if self._packets[(self._origin + offset) % self._capacity] is None:
                return offset
        return None


def tap_receiver(receiver: RTCRtpReceiver, deliver: Callable[[bytes, int], None]) -> None:
    """Take the encoded frames of `receiver` (before `receive()` starts it, i.e. right after
    setRemoteDescription). `deliver(data, timestamp)` gets each reassembled frame with its
    RTP timestamp mapped to start at 0. aiortc has no public hook for this; the name-mangled
    attribute is pinned by requirements.txt (aiortc==1.16.0) and covered by the tests."""
    attribute = "_RTCRtpReceiver__decoder_queue"
    if not hasattr(receiver, attribute):
        raise RuntimeError("this aiortc version has no decoder queue to tap")
    setattr(receiver, attribute, _DecoderQueueTap(deliver))


def bound_video_gaps(receiver: RTCRtpReceiver, on_gap: Callable[[], None]) -> None:
    """Give the publisher's video receiver a jitter buffer that skips a lost frame after
    GAP_TIMEOUT (see GapGivingUpJitterBuffer); same pinned private attribute rules."""
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if not hasattr(receiver, attribute):
        raise RuntimeError("this aiortc version has no jitter buffer to replace")
    setattr(receiver, attribute, GapGivingUpJitterBuffer(on_gap))


class Fanout:
    """One kind (audio or video) of a room: publisher frames in, one bounded queue per viewer
    out. Timestamps stay continuous when the publisher changes (a seller who reconnects), so
    viewers' players see one stream that paused, not one that jumped back in time."""

    def __init__(self, kind: str, request_keyframe: Callable[[], None] | None = None):
        self.kind = kind
        self.time_base = TIME_BASES[kind]
        self.tracks: set[ForwardedTrack] = set()
        self._request_keyframe = request_keyframe
        self._last_request = 0.0
        self._request_pending: asyncio.TimerHandle | None = None
        self._offset: int | None = None  # added to the current publisher's timestamps
        self._last_pts = 0
        self._last_wallclock = 0.0
        self.frames_in = 0

    # --- publisher side ------------------------------------------------------------------
    def publisher_changed(self) -> None:
        """The next frame comes from a new publisher, whose timestamps restart at 0."""
        self._offset = None
        if self.kind == "video":
            for track in self.tracks:  # what is queued still plays; then the new keyframe
                track.waiting_for_keyframe = True

    def push(self, data: bytes, timestamp: int) -> None:
        now = time.monotonic()
        if self._offset is None:
            if self.frames_in:
                # Continue where the previous publisher stopped, as much later as time passed.
                elapsed = int((now - self._last_wallclock) * CLOCK_RATES[self.kind])
                self._offset = self._last_pts + max(elapsed, 1) - timestamp
            else:
                self._offset = -timestamp
        pts = timestamp + self._offset
        self._last_pts, self._last_wallclock = pts, now
        self.frames_in += 1
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        frame = EncodedFrame(data, pts, self.time_base, keyframe)
        for track in self.tracks:
            track.offer(frame)

    def frames_lost(self) -> None:
        """The publisher's stream lost a frame for good: what follows cannot be decoded
        until a keyframe, so every viewer skips to one (and the publisher is asked)."""
        if self.kind == "video":
            for track in self.tracks:
                track.waiting_for_keyframe = True
            self.request_keyframe()

    # --- viewer side ---------------------------------------------------------------------
    def attach(self, track: "ForwardedTrack") -> None:
        self.tracks.add(track)
        if track.waiting_for_keyframe:
            self.request_keyframe()

    def detach(self, track: "ForwardedTrack") -> None:
        self.tracks.discard(track)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe soon: now, or when the coalescing interval ends."""
        if self._request_keyframe is None or self._request_pending is not None:
            return
        wait = self._last_request + KEYFRAME_REQUEST_INTERVAL - time.monotonic()
        if wait <= 0:
            self._send_keyframe_request()
        else:
            self._request_pending = asyncio.get_running_loop().call_later(
                wait, self._send_keyframe_request
            )

    def _send_keyframe_request(self) -> None:
        self._request_pending = None
        self._last_request = time.monotonic()
        self._request_keyframe()

    def close(self) -> None:
        if self._request_pending is not None:
            self._request_pending.cancel()
            self._request_pending = None
        for track in list(self.tracks):
            track.stop()


class ForwardedTrack(MediaStreamTrack):
    """A viewer's track: what its RTCRtpSender reads. Joins the fanout when the sender first
    asks for a frame (the viewer's connection is up), so the keyframe request is timely."""

    def __init__(self, fanout: Fanout):
        super().__init__()
        self.kind = fanout.kind
        self._fanout = fanout
        self._frames: deque[EncodedFrame] = deque()
        self._limit = VIDEO_QUEUE_FRAMES if fanout.kind == "video" else AUDIO_QUEUE_FRAMES
        self._waiter: asyncio.Future | None = None
        self.waiting_for_keyframe = fanout.kind == "video"
        self.frames_dropped = 0
        self.frames_sent = 0

    def wait_for_keyframe(self) -> None:
        if self.kind == "video":
            self.frames_dropped += len(self._frames)
            self._frames.clear()
            self.waiting_for_keyframe = True

    def offer(self, frame: EncodedFrame) -> None:
        if self.waiting_for_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self.waiting_for_keyframe = False
        if len(self._frames) >= self._limit:
            if self.kind == "video":
                # A slow viewer skips ahead to the next keyframe instead of growing a
                # backlog (or slowing the fan-out for everyone else).
                self.wait_for_keyframe()
                self._fanout.request_keyframe()
                if not frame.keyframe:
                    self.frames_dropped += 1
                    return
                self.waiting_for_keyframe = False
            else:
                self._frames.popleft()
                self.frames_dropped += 1
        self._frames.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def recv(self) -> EncodedFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self not in self._fanout.tracks:
            self._fanout.attach(self)
        while not self._frames:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
            if self.readyState != "live":
                raise MediaStreamError
        self.frames_sent += 1
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._fanout.detach(self)
        self._frames.clear()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
