"""A publisher whose video stops without its connection closing (a seller's network that
black-holes packets, a stalled camera): viewers are told `interrupted` within about 3 s, and
`live` again when frames come back, on the same peer connections. The forwarding unit runs
directly here (no Django), with real aiortc peers on loopback."""

import asyncio
import time

from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from streaming import unit as unit_module
from streaming.tests.conftest import ClientPeer, media_leftovers
from streaming.unit import ForwardingUnit

PROMPT = 3.0  # what docs/realtime.md promises: `interrupted` within about 3 s


class GatedVideoTrack(VideoStreamTrack):
    """aiortc's test video, except that while `paused` no frame comes out (recv blocks), and
    on resuming the pacing carries on from now rather than bursting to catch up."""

    def __init__(self):
        super().__init__()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._paused_at: float | None = None

    def pause(self) -> None:
        self._paused_at = time.time()
        self.flowing.clear()

    def resume(self) -> None:
        if self._paused_at is not None and hasattr(self, "_start"):
            self._start += time.time() - self._paused_at
        self._paused_at = None
        self.flowing.set()

    async def recv(self):
        await self.flowing.wait()
        return await super().recv()


class Statuses:
    """The unit's `on_status` calls, with when they came."""

    def __init__(self):
        self.seen: list[tuple[str, float]] = []

    async def __call__(self, status: str) -> None:
        self.seen.append((status, time.monotonic()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.seen]

    async def wait(self, status: str, *, after: int, timeout: float) -> float:
        """Seconds until `status` is announced past index `after`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            for name, at in self.seen[after:]:
                if name == status:
                    return at - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {status!r} within {timeout} s; statuses {self.names}")


async def start(publisher_track):
    statuses = Statuses()
    forwarding = ForwardingUnit(on_status=statuses)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(publisher_track, direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await forwarding.publish("seller", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    viewers = [ClientPeer("view"), ClientPeer("view")]
    for n, viewer in enumerate(viewers):
        await viewer.answer(await forwarding.view(f"viewer-{n}", await viewer.offer()))
    await statuses.wait("live", after=0, timeout=10)
    for viewer in viewers:
        await viewer.frames_after(15, timeout=10)
    return forwarding, statuses, pc, viewers


async def finish(forwarding, pc, viewers) -> None:
    for viewer in viewers:
        await viewer.close()
    await pc.close()
    await asyncio.sleep(0.3)  # the unit sees them go before it closes too
    await forwarding.close(None)
    await asyncio.sleep(0.2)
    assert media_leftovers() == []


def black_hole(pc: RTCPeerConnection) -> callable:
    """Drop every datagram the publisher's ICE sends or receives, as a network that loses
    its route does (no FIN, no ICE close); returns a function that restores it."""
    connection = pc.getTransceivers()[0].sender.transport.transport._connection
    restore = []
    for protocol in connection._protocols:
        sendto, received = protocol.transport.sendto, protocol.datagram_received
        protocol.transport.sendto = lambda *args, **kwargs: None
        protocol.datagram_received = lambda *args, **kwargs: None
        restore.append((protocol, sendto, received))

    def heal() -> None:
        for protocol, sendto, received in restore:
            protocol.transport.sendto = sendto
            protocol.datagram_received = received

    return heal


async def test_silent_publisher_video_interrupts_within_3_s_and_frames_make_it_live_again():
    track = GatedVideoTrack()
    forwarding, statuses, pc, viewers = await start(track)
    viewer_pcs = [viewer.pc for viewer in viewers]
    try:
        mark = len(statuses.seen)
        track.pause()
        took = await statuses.wait("interrupted", after=mark, timeout=10)
        assert took < PROMPT, f"`interrupted` came {took:.2f} s after the video stopped"
        assert pc.connectionState == "connected"  # nothing closed: only the frames stopped
        frames = [len(viewer.frames) for viewer in viewers]

        track.resume()
        back = await statuses.wait("live", after=mark, timeout=5)
        assert back < 1.0, f"`live` came {back:.2f} s after the frames resumed"
        assert statuses.names[mark:] == ["interrupted", "live"]
        for viewer, seen, pc_before in zip(viewers, frames, viewer_pcs, strict=True):
            await viewer.frames_after(15, timeout=5)
            assert len(viewer.frames) > seen
            assert viewer.pc is pc_before and viewer.pc.connectionState == "connected"
    finally:
        await finish(forwarding, pc, viewers)


async def test_a_black_holed_publisher_network_interrupts_within_3_s_and_recovers():
    forwarding, statuses, pc, viewers = await start(VideoStreamTrack())
    try:
        mark = len(statuses.seen)
        heal = black_hole(pc)
        took = await statuses.wait("interrupted", after=mark, timeout=10)
        assert took < PROMPT, f"`interrupted` came {took:.2f} s after the network dropped"
        frames = [len(viewer.frames) for viewer in viewers]

        heal()  # back well before ICE consent (24-36 s) would give the connection up
        await statuses.wait("live", after=mark, timeout=5)
        assert statuses.names[mark:] == ["interrupted", "live"]
        for viewer, seen in zip(viewers, frames, strict=True):
            await viewer.frames_after(15, timeout=5)
            assert len(viewer.frames) > seen
    finally:
        await finish(forwarding, pc, viewers)


async def test_a_steady_publisher_is_never_interrupted(monkeypatch):
    monkeypatch.setattr(unit_module, "FRAME_SILENCE_SECONDS", 0.5, raising=False)
    forwarding, statuses, pc, viewers = await start(VideoStreamTrack())
    try:
        await asyncio.sleep(2)
        assert statuses.names == ["live"]
    finally:
        await finish(forwarding, pc, viewers)
