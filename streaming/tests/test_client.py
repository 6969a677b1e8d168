"""RoomMediaClient against a small stand-in for the room socket (websockets + aiortc in this
process) that speaks the signaling contract: room-state first, answers to offers, errors,
stream-status. The real server is covered end to end by tests/test_media_e2e.py."""

import asyncio
import contextlib
import json

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcconfiguration import RTCConfiguration
from websockets.asyncio.server import serve

from streaming.client import (
    RoomMediaClient,
    SignalingError,
    SocketClosed,
    SocketRefused,
    site_origin,
    socket_url,
)
from streaming.testsource import PatternVideoTrack, StampCollector, ToneAudioTrack


class StandInRoom:
    """Seller token "seller"; any other token is a buyer; "bad" is refused at the handshake.
    View offers get a fresh test pattern (the real server forwards the seller's instead)."""

    def __init__(self):
        self.offers: list[dict] = []
        self.headers: list[dict] = []
        self.published: list[StampCollector] = []
        self.peers: list[RTCPeerConnection] = []
        self.sockets = set()
        self.status = "waiting"

    async def broadcast(self, message: dict) -> None:
        for socket in list(self.sockets):
            with contextlib.suppress(Exception):
                await socket.send(json.dumps(message))

    async def set_status(self, status: str) -> None:
        self.status = status
        await self.broadcast({"type": "stream-status", "status": status})

    def process_request(self, connection, request):
        self.headers.append(request.headers)
        if request.headers.get("Authorization") == "Bearer bad":
            return connection.respond(403, "Forbidden\n")
        if not request.path.startswith("/ws/rooms/7/"):
            return connection.respond(403, "Forbidden\n")
        return None

    async def handler(self, socket) -> None:
        authorization = socket.request.headers.get("Authorization", "")
        role = "seller" if authorization == "Bearer seller" else "buyer"
        self.sockets.add(socket)
        await socket.send(
            json.dumps(
                {
                    "type": "room-state",
                    "room": {"id": 7, "status": "live"},
                    "stream_status": self.status,
                    "ice_servers": [],
                    "you": {"role": role},
                }
            )
        )
        try:
            async for raw in socket:
                frame = json.loads(raw)
                self.offers.append(frame)
                await self.answer(socket, frame, role)
        finally:
            self.sockets.discard(socket)
            if role == "seller" and self.status == "live":
                await self.set_status("interrupted")

    async def answer(self, socket, frame: dict, role: str) -> None:
        if frame.get("role") == "publish" and role != "seller":
            await socket.send(
                json.dumps(
                    {
                        "type": "error",
                        "code": "permission_denied",
                        "message": "Only the seller can publish.",
                    }
                )
            )
            return
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.peers.append(pc)
        if frame["role"] == "publish":
            pc.on(
                "track",
                lambda track: (
                    track.kind == "video" and self.published.append(StampCollector(track))
                ),
            )
        await pc.setRemoteDescription(RTCSessionDescription(sdp=frame["sdp"], type="offer"))
        if frame["role"] == "view":
            for transceiver in pc.getTransceivers():
                source = PatternVideoTrack() if transceiver.kind == "video" else ToneAudioTrack()
                transceiver.sender.replaceTrack(source)
                transceiver.direction = "sendonly"
        await pc.setLocalDescription(await pc.createAnswer())
        await socket.send(
            json.dumps(
                {"type": "webrtc-answer", "role": frame["role"], "sdp": pc.localDescription.sdp}
            )
        )
        if frame["role"] == "publish":
            await self.set_status("live")

    async def close(self) -> None:
        for collector in self.published:
            await collector.stop()
        for pc in self.peers:
            await pc.close()


@pytest.fixture
async def room():
    stand_in = StandInRoom()
    async with serve(
        stand_in.handler, "127.0.0.1", 0, process_request=stand_in.process_request
    ) as server:
        port = server.sockets[0].getsockname()[1]
        stand_in.base_url = f"http://127.0.0.1:{port}"
        yield stand_in
    await stand_in.close()


def test_socket_urls():
    assert socket_url("http://127.0.0.1:8000", 7) == "ws://127.0.0.1:8000/ws/rooms/7/"
    assert socket_url("https://shop.example.com/", "a1") == "wss://shop.example.com/ws/rooms/a1/"
    assert socket_url("https://h/prefix", 3) == "wss://h/prefix/ws/rooms/3/"
    assert site_origin("https://shop.example.com/x") == "https://shop.example.com"
    with pytest.raises(ValueError):
        socket_url("ftp://h", 1)


async def test_connect_reads_room_state_and_authenticates_with_the_token(room):
    client = RoomMediaClient(room.base_url, 7, token="seller")
    anonymous = RoomMediaClient(room.base_url, 7)
    try:
        state = await client.connect()
        assert state["type"] == "room-state" and client.room_state is state
        assert client.stream_status == "waiting"
        await anonymous.connect()
        assert room.headers[0]["Authorization"] == "Bearer seller"
        assert "Origin" not in room.headers[0]
        # Anonymous: no token, but the Origin a browser would send.
        assert "Authorization" not in room.headers[1]
        assert room.headers[1]["Origin"] == room.base_url
    finally:
        await client.close()
        await anonymous.close()


async def test_a_refused_handshake_says_why(room):
    for client in (
        RoomMediaClient(room.base_url, 7, token="bad"),
        RoomMediaClient(room.base_url, 99, token="seller"),
    ):
        with pytest.raises(SocketRefused, match="HTTP 403"):
            await client.connect()


async def test_publish_sends_vp8_and_opus_and_marks_the_stream_live(room):
    seller = RoomMediaClient(room.base_url, 7, token="seller")
    source = PatternVideoTrack()
    try:
        await seller.connect()
        mark = len(seller.statuses)
        await seller.publish(source, ToneAudioTrack())
        offer = room.offers[-1]
        assert offer["type"] == "webrtc-offer" and offer["role"] == "publish"
        sdp = offer["sdp"]
        assert "a=candidate:" in sdp  # non-trickle: candidates in the offer
        assert sdp.count("a=sendonly") == 2
        video, audio = sdp.split("m=")[1:]
        assert video.startswith("video") and audio.startswith("audio")
        assert "VP8/90000" in video and "H264" not in video
        assert "opus/48000" in audio and "PCMU" not in audio
        await seller.wait_status("live", timeout=5, after=mark)
        await seller.wait_connected(timeout=10)
        await asyncio.wait_for(_until(lambda: room.published), 10)
        await room.published[0].wait_for(10, timeout=10)
        assert set(room.published[0].numbers) <= {n for n, _ in source.sent}
    finally:
        await seller.close()
    assert source.readyState == "live"  # the caller's track outlives the client


async def test_an_error_reply_raises_a_clear_exception(room):
    buyer = RoomMediaClient(room.base_url, 7, token="buyer")
    try:
        await buyer.connect()
        with pytest.raises(SignalingError, match="permission_denied") as refused:
            await buyer.publish(PatternVideoTrack())
        assert refused.value.code == "permission_denied" and refused.value.role == "publish"
        assert buyer.errors[-1]["code"] == "permission_denied"
    finally:
        await buyer.close()


async def test_view_receives_and_decodes_frames(room):
    seen = []
    viewer = RoomMediaClient(room.base_url, 7, on_track=seen.append)
    try:
        await viewer.connect()
        await viewer.view()
        offer = room.offers[-1]
        assert offer["role"] == "view" and offer["sdp"].count("a=recvonly") == 2
        assert viewer.answered_at is not None
        frames = StampCollector(await viewer.wait_track("video"))
        await frames.wait_for(10, timeout=10)
        assert frames.numbers == sorted(set(frames.numbers))
        assert {track.kind for track in seen} == {"video", "audio"}
        assert viewer.audio_track is not None
        await frames.stop()
    finally:
        await viewer.close()


async def test_statuses_are_recorded_and_awaitable_across_a_publisher_reconnect(room):
    seller = RoomMediaClient(room.base_url, 7, token="seller")
    viewer = RoomMediaClient(room.base_url, 7)
    source = PatternVideoTrack()
    try:
        await viewer.connect()
        await seller.connect()
        await seller.publish(source)
        await viewer.wait_status("live", timeout=5)
        await asyncio.wait_for(_until(lambda: room.published), 10)
        await room.published[0].wait_for(3, timeout=10)
        mark = len(viewer.statuses)
        await seller.reconnect_socket()  # the stand-in reports the drop
        await viewer.wait_status("interrupted", timeout=5, after=mark)
        await seller.republish()
        await viewer.wait_status("live", timeout=5, after=mark)
        assert viewer.statuses[-2:] == ["interrupted", "live"]
        await seller.wait_connected(timeout=10)
        await asyncio.wait_for(_until(lambda: len(room.published) == 2), 10)
        await room.published[1].wait_for(5, timeout=10)
        # One source across both peer connections: its numbers carry on.
        assert room.published[1].numbers[0] > room.published[0].numbers[-1]
    finally:
        await seller.close()
        await viewer.close()


async def test_waiting_on_a_closed_socket_fails_fast(room):
    viewer = RoomMediaClient(room.base_url, 7)
    await viewer.connect()
    for socket in list(room.sockets):
        await socket.close()
    await asyncio.wait_for(viewer.wait_closed(), 5)
    with pytest.raises(SocketClosed):
        await viewer.wait_status("ended", timeout=5)
    with pytest.raises(SocketClosed):
        await viewer.view()
    await viewer.close()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)
