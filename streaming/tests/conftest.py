"""Live video test fixtures: aiortc peers as the tests' clients, closed after every test."""

import asyncio
import threading

import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from rooms.tests.conftest import _empty_room_store, make_room, room_socket  # noqa: F401
from streaming import host


class ClientPeer:
    """A test client's RTCPeerConnection: a publisher (sends aiortc's generated video and
    audio) or a viewer (counts the video frames it decodes)."""

    def __init__(self, role: str):
        self.role = role
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # not Google's STUN
        self.frames: list = []  # decoded video frames, viewers only
        self._readers: list[asyncio.Task] = []
        if role == "publish":
            self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        else:
            self.pc.addTransceiver("video", direction="recvonly")
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.on("track", self._on_track)

    def _on_track(self, track) -> None:
        if track.kind == "video":
            self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track) -> None:
        try:
            while True:
                self.frames.append(await track.recv())
        except Exception:  # MediaStreamError: the connection closed
            pass

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def frames_after(self, count: int, *, timeout: float = 5.0) -> None:
        target = len(self.frames) + count
        for _ in range(int(timeout / 0.05)):
            if len(self.frames) >= target:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.role} peer decoded {len(self.frames)} frames, wanted {target}")

    async def close(self) -> None:
        await self.pc.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


@pytest.fixture
async def client_peer():
    made: list[ClientPeer] = []

    def make(role: str = "view") -> ClientPeer:
        made.append(ClientPeer(role))
        return made[-1]

    yield make
    for peer in made:
        await peer.close()
    # Units left running by a test are stopped here, so none outlives its event loop.
    for unit_host in list(host.hosted.values()):
        await unit_host.stop()


def media_leftovers() -> list[str]:
    """aiortc/aioice/streaming tasks and decoder threads still running: a leak if nonzero
    once every peer is closed."""

    def ours(task: asyncio.Task) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename if code else ""
        return ("/aiortc/" in path or "/aioice/" in path or "/streaming/" in path) and (
            "/tests/" not in path
        )

    tasks = [task for task in asyncio.all_tasks() if not task.done() and ours(task)]
    threads = [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
    return [repr(task.get_coro()) for task in tasks] + threads
