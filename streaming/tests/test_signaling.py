"""WebRTC signaling over the room socket, with real aiortc peers and the forwarding unit
running in the test's process (in-memory channel layer)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from rooms import services
from rooms.models import ShoppingRoom
from rooms.store import get_store
from streaming import host
from streaming.tests.conftest import media_leftovers

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


@pytest.fixture
async def scheduled_room(make_room):
    return await sync_to_async(make_room)()


async def publish(socket, peer) -> None:
    await socket.send({"type": "webrtc-offer", "role": "publish", "sdp": await peer.offer()})
    answer = await socket.expect("webrtc-answer", timeout=10)
    assert answer["role"] == "publish"
    await peer.answer(answer["sdp"])


async def view(socket, peer) -> None:
    await socket.send({"type": "webrtc-offer", "role": "view", "sdp": await peer.offer()})
    answer = await socket.expect("webrtc-answer", timeout=10)
    assert answer["role"] == "view" and "VP8" in answer["sdp"]
    await peer.answer(answer["sdp"])


async def test_viewers_see_the_sellers_video_and_the_stream_status(
    live_room, seller, buyer, open_socket, client_peer
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous_socket = await open_socket(live_room)
    assert buyer_socket.state["stream_status"] == "waiting"
    assert buyer_socket.state["ice_servers"] == []

    # Viewers may offer before the seller broadcasts: answered now, media later.
    buyer_peer, anonymous_peer = client_peer("view"), client_peer("view")
    await view(buyer_socket, buyer_peer)
    await view(anonymous_socket, anonymous_peer)
    await publish(seller_socket, client_peer("publish"))

    for socket in (seller_socket, buyer_socket, anonymous_socket):
        await socket.expect("stream-status", status="live", timeout=10)
    await buyer_peer.frames_after(10)
    await anonymous_peer.frames_after(10)
    assert buyer_peer.frames[-1].width == 640  # aiortc's generated 640x480 test video

    late = await open_socket(live_room, label="late joiner")
    assert late.state["stream_status"] == "live"


async def test_only_the_rooms_seller_may_broadcast(
    live_room, buyer, other_seller, open_socket, client_peer
):
    for user in (buyer, other_seller, None):
        socket = await open_socket(live_room, user)
        await socket.send(
            {"type": "webrtc-offer", "role": "publish", "sdp": await client_peer("publish").offer()}
        )
        await socket.expect_error("permission_denied")
        await socket.nothing("webrtc-answer")
    assert not host.hosted  # nothing was started for them


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "webrtc-offer", "role": "view"}, "invalid_sdp"),
        ({"type": "webrtc-offer", "role": "view", "sdp": 42}, "invalid_sdp"),
        ({"type": "webrtc-offer", "role": "view", "sdp": "hello"}, "invalid_sdp"),
        ({"type": "webrtc-offer", "role": "watch", "sdp": "v=0"}, "invalid"),
        ({"type": "webrtc-offer", "sdp": "v=0"}, "invalid"),
        ({"type": "webrtc-answer", "sdp": "v=0"}, "invalid"),
        ({"type": "webrtc-ice-candidate", "candidate": "candidate:1"}, "invalid"),
        ({"type": "webrtc-ice-candidate", "candidate": {"candidate": 5}}, "invalid"),
        ({"type": "webrtc-ice-candidate", "candidate": {"sdpMLineIndex": True}}, "invalid"),
        ({"type": "webrtc-ice-candidate", "candidate": None}, "no_peer"),
        (
            {"type": "webrtc-ice-candidate", "candidate": {"candidate": "", "sdpMid": "0"}},
            "no_peer",
        ),
    ],
)
async def test_malformed_signaling_is_refused_and_builds_nothing(
    live_room, buyer, open_socket, frame, code
):
    socket = await open_socket(live_room, buyer)
    await socket.send(frame)
    await socket.expect_error(code)
    await socket.nothing("webrtc-answer")
    assert not host.hosted


@pytest.mark.parametrize(
    "sdp",
    [
        "v=0\r\nthis is not sdp\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",  # no media at all
    ],
)
async def test_an_offer_the_unit_cannot_use_is_answered_with_an_error(
    live_room, buyer, open_socket, client_peer, sdp
):
    socket = await open_socket(live_room, buyer)
    await socket.send({"type": "webrtc-offer", "role": "view", "sdp": sdp})
    await socket.expect_error("invalid_sdp")
    unit = host.hosted[str(live_room.pk)].unit
    assert unit.peer_count == 0
    # The socket is still good for a proper offer.
    await asyncio.sleep(1.7)  # out of the offer rate window's burst
    await view(socket, client_peer("view"))
    assert unit.peer_count == 1


async def test_a_publish_offer_that_sends_no_video_is_refused(
    live_room, seller, open_socket, client_peer
):
    socket = await open_socket(live_room, seller)
    audio_only = client_peer("view")  # recvonly lines: sends nothing
    await socket.send({"type": "webrtc-offer", "role": "publish", "sdp": await audio_only.offer()})
    await socket.expect_error("invalid_sdp")
    assert host.hosted[str(live_room.pk)].unit.publisher is None


async def test_too_many_offers_per_second_are_refused(live_room, buyer, open_socket, client_peer):
    socket = await open_socket(live_room, buyer)
    sdp = await client_peer("view").offer()
    for _ in range(3):
        await socket.send({"type": "webrtc-offer", "role": "view", "sdp": sdp})
    await socket.send({"type": "webrtc-offer", "role": "view", "sdp": sdp})
    await socket.expect_error("rate_limited")
    answers = [m for m in await socket.collect(3) if m["type"] == "webrtc-answer"]
    assert len(answers) == 3
    # Each offer replaced the socket's previous peer: one peer for the socket, not three.
    assert host.hosted[str(live_room.pk)].unit.peer_count == 1


async def test_broadcasting_opens_a_scheduled_show(
    scheduled_room, seller, buyer, open_socket, client_peer
):
    buyer_socket = await open_socket(scheduled_room, buyer)
    seller_socket = await open_socket(scheduled_room, seller)
    await publish(seller_socket, client_peer("publish"))
    await buyer_socket.expect("room-status", status="live")
    await buyer_socket.expect("stream-status", status="live", timeout=10)
    await scheduled_room.arefresh_from_db()
    assert scheduled_room.status == ShoppingRoom.Status.LIVE


async def test_an_ended_room_takes_no_offers(live_room, seller, buyer, open_socket, client_peer):
    await sync_to_async(services.room_end)(room=live_room, actor=seller)
    for user, role in ((seller, "publish"), (buyer, "view")):
        socket = await open_socket(live_room, user)
        assert socket.state["stream_status"] == "ended"
        await socket.send(
            {"type": "webrtc-offer", "role": role, "sdp": await client_peer().offer()}
        )
        await socket.expect_error("room_ended")
    assert not host.hosted


async def test_ending_the_room_closes_every_peer_and_leaves_nothing_running(
    live_room, seller, buyer, open_socket, client_peer
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    publisher, viewer = client_peer("publish"), client_peer("view")
    await publish(seller_socket, publisher)
    await view(buyer_socket, viewer)
    await viewer.frames_after(5)
    unit_host = host.hosted[str(live_room.pk)]
    assert unit_host.unit.peer_count == 2
    server_pcs = [unit_host.unit.publisher.pc, *(p.pc for p in unit_host.unit.viewers.values())]

    await sync_to_async(services.room_end)(room=live_room, actor=seller)
    await buyer_socket.expect("stream-status", status="ended")
    for _ in range(100):
        if not host.hosted:
            break
        await asyncio.sleep(0.05)
    assert not host.hosted
    assert unit_host.unit.peer_count == 0
    assert [pc.connectionState for pc in server_pcs] == ["closed", "closed"]
    await buyer_socket.disconnect()  # its leaving must not start a unit for an ended room
    await asyncio.sleep(0.1)
    assert not host.hosted
    await unit_host.stop()
    await publisher.close()
    await viewer.close()
    await asyncio.sleep(0.2)
    leftovers = media_leftovers()
    assert leftovers == [], "\n".join(leftovers)


async def test_the_seller_dropping_and_returning_interrupts_then_resumes_the_stream(
    live_room, seller, buyer, open_socket, client_peer
):
    buyer_socket = await open_socket(live_room, buyer)
    viewer = client_peer("view")
    await view(buyer_socket, viewer)
    seller_socket = await open_socket(live_room, seller)
    await publish(seller_socket, client_peer("publish"))
    await buyer_socket.expect("stream-status", status="live", timeout=10)
    await viewer.frames_after(5)

    await seller_socket.disconnect()
    await buyer_socket.expect("stream-status", status="interrupted")
    assert (await open_socket(live_room)).state["stream_status"] == "interrupted"

    returned = await open_socket(live_room, seller, label="seller again")
    await publish(returned, client_peer("publish"))
    await buyer_socket.expect("stream-status", status="live", timeout=10)
    await viewer.frames_after(10)  # same viewer peer, no new offer


async def test_a_viewer_leaving_frees_its_peer(live_room, buyer, open_socket, client_peer):
    socket = await open_socket(live_room, buyer)
    await view(socket, client_peer("view"))
    unit = host.hosted[str(live_room.pk)].unit
    assert unit.peer_count == 1
    await socket.disconnect()
    for _ in range(40):
        if unit.peer_count == 0:
            break
        await asyncio.sleep(0.05)
    assert unit.peer_count == 0


async def test_trickled_candidates_are_taken_after_an_offer(
    live_room, buyer, open_socket, client_peer
):
    socket = await open_socket(live_room, buyer)
    peer = client_peer("view")
    await view(socket, peer)
    candidate = next(
        line[2:]
        for line in peer.pc.localDescription.sdp.splitlines()
        if line.startswith("a=candidate:")
    )
    await socket.send(
        {
            "type": "webrtc-ice-candidate",
            "candidate": {"candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0},
        }
    )
    await socket.send({"type": "webrtc-ice-candidate", "candidate": None})
    await socket.send(
        {
            "type": "webrtc-ice-candidate",
            "candidate": {"candidate": "candidate:bogus", "sdpMid": "0"},
        }
    )
    await socket.expect_error("invalid")  # only the bogus one
    await socket.nothing("error")


async def test_broadcasting_from_a_second_tab_tells_the_first_it_was_replaced(
    live_room, seller, buyer, open_socket, client_peer
):
    buyer_socket = await open_socket(live_room, buyer)
    viewer = client_peer("view")
    await view(buyer_socket, viewer)
    first_tab = await open_socket(live_room, seller, label="first tab")
    await publish(first_tab, client_peer("publish"))
    await viewer.frames_after(5)
    second_tab = await open_socket(live_room, seller, label="second tab")
    await publish(second_tab, client_peer("publish"))
    await first_tab.expect_error("publisher_replaced")
    await second_tab.nothing("error")
    await viewer.frames_after(10)  # the viewer now watches the second tab, same peer


async def test_a_unit_with_no_peers_left_shuts_down_and_frees_the_room(
    live_room, buyer, open_socket, client_peer, monkeypatch
):
    monkeypatch.setattr(host, "HEARTBEAT", 0.05)
    monkeypatch.setattr(host, "IDLE_TIMEOUT", 0.2)
    socket = await open_socket(live_room, buyer)
    await view(socket, client_peer("view"))
    await asyncio.sleep(0.4)
    assert str(live_room.pk) in host.hosted  # a watching viewer keeps it
    await socket.disconnect()
    for _ in range(40):
        if not host.hosted:
            break
        await asyncio.sleep(0.05)
    assert not host.hosted
    assert await get_store().value_get(host.unit_key(live_room.pk)) is None


async def test_a_dead_processs_registration_expires_and_a_new_unit_takes_over(
    live_room, buyer, open_socket, client_peer
):
    """A unit whose process died leaves its registration behind until it expires: offers
    sent to it are lost (the page offers again), then the next offer starts a new unit."""
    await get_store().value_set(host.unit_key(live_room.pk), "media-unit.gone!x", ttl=0.5)
    socket = await open_socket(live_room, buyer)
    peer = client_peer("view")
    await socket.send({"type": "webrtc-offer", "role": "view", "sdp": await peer.offer()})
    await socket.nothing("webrtc-answer", "error", wait=0.3)
    await asyncio.sleep(0.3)
    await view(socket, peer)
    assert host.hosted[str(live_room.pk)].unit.peer_count == 1
