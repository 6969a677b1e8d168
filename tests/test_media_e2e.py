"""Live video end to end: aiortc peers (streaming/client.py) publish and watch through a real
the server (uvicorn) on loopback, signaling over the room socket, media through the forwarding unit.

The publisher sends streaming/testsource.py's pattern, whose every frame carries its number
and send time in pixels; viewers decode what the unit forwarded and read those back, so the
tests check exactly which frames arrived, in what order and how late."""

import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import PROJECT_ROOT
from streaming.client import RoomMediaClient
from streaming.testsource import PatternVideoTrack, StampCollector, ToneAudioTrack
from tests.helpers import manage, run_script, site_env, web_server


def build_site(folder, **overrides) -> tuple[dict, dict]:
    env = site_env(folder, **overrides)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = run_script("tests/media_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    return env, json.loads(scenario.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def media_site(tmp_path_factory):
    """One server (embedded default: in-memory channel layer) with media_scenario's rooms."""
    env, ids = build_site(tmp_path_factory.mktemp("media-site"))
    with web_server(env) as base_url:
        yield base_url, ids, env


@pytest.fixture
async def clients():
    """Makes RoomMediaClients and closes them all at the end, whatever happened: the server
    must see every peer leave before it stops."""
    made: list[RoomMediaClient] = []
    collectors: list[StampCollector] = []

    def make(base_url: str, room_id, token: str | None = None) -> RoomMediaClient:
        client = RoomMediaClient(base_url, room_id, token=token)
        made.append(client)
        return client

    make.collectors = collectors
    yield make
    for collector in collectors:
        await collector.stop()
    for client in made:
        await client.close()
    await asyncio.sleep(0.3)  # let the unit close the peers before the server is stopped


async def watch(client: RoomMediaClient, collectors: list) -> StampCollector:
    """Connect (if needed), offer to view, and start reading the video track."""
    if not client.connected:
        await client.connect()
    await client.view()
    collector = StampCollector(await client.wait_track("video"))
    collectors.append(collector)
    return collector


def assert_faithful(collector: StampCollector, source: PatternVideoTrack, *, least: int) -> None:
    """In order, exactly the frames the publisher sent, and most of them."""
    stamps = [(stamp.number, stamp.sent_ms) for stamp in collector.stamps]
    numbers = [number for number, _ in stamps]
    assert len(numbers) >= least, f"only {len(numbers)} frames decoded"
    assert all(b > a for a, b in zip(numbers, numbers[1:], strict=False)), "out of order"
    assert set(stamps) <= set(source.sent), "decoded a frame that was never sent"
    span = numbers[-1] - numbers[0] + 1
    assert len(numbers) >= 0.8 * span, f"{len(numbers)} of the {span} frames sent meanwhile"
    assert collector.unreadable <= 2, f"{collector.unreadable} frames without a readable stamp"


async def test_three_viewers_decode_the_sellers_frames_in_order(media_site, clients):
    base_url, ids, _env = media_site
    room = ids["rooms"]["stream"]
    source = PatternVideoTrack()
    publisher = clients(base_url, room, ids["seller"])
    await publisher.connect()
    assert publisher.room_state["you"]["role"] == "seller"
    assert publisher.room_state["stream_status"] == "waiting"
    await publisher.publish(source, ToneAudioTrack())
    await publisher.wait_status("live", timeout=10)

    early = [clients(base_url, room), clients(base_url, room, ids["bob"])]
    watching = [await watch(viewer, clients.collectors) for viewer in early]
    for viewer in early:
        assert viewer.room_state["stream_status"] == "live"
    await asyncio.sleep(3)  # live for a while before the late joiner comes

    late = clients(base_url, room, ids["carol"])
    late_frames = await watch(late, clients.collectors)
    await late_frames.wait_for(1, timeout=5)
    first_frame_after = late_frames.first_frame_at - late.answered_at
    assert first_frame_after < 2.0, f"late joiner's first frame came {first_frame_after:.2f} s in"

    await late_frames.wait_for(45, timeout=10)  # ~1.5 s of video for everyone
    for collector in [*watching, late_frames]:
        assert_faithful(collector, source, least=40)
    assert len(watching[0].stamps) >= 100  # ~4.5 s at 30 fps, less losses
    assert statistics.median(s.delay_ms for s in late_frames.stamps) < 1000
    assert late.audio_track is not None and all(v.audio_track for v in early)
    assert {size for c in watching for size in c.sizes} == {(640, 480)}


async def test_viewers_see_the_publisher_drop_and_return_without_offering_again(
    media_site, clients
):
    base_url, ids, _env = media_site
    room = ids["rooms"]["drop"]
    source, tone = PatternVideoTrack(), ToneAudioTrack()
    publisher = clients(base_url, room, ids["seller"])
    await publisher.connect()
    await publisher.publish(source, tone)

    viewers = [clients(base_url, room), clients(base_url, room, ids["bob"])]
    watching = [await watch(viewer, clients.collectors) for viewer in viewers]
    for collector in watching:
        await collector.wait_for(15, timeout=10)
    peers = [viewer.pc for viewer in viewers]
    offers = [viewer.answered_at for viewer in viewers]

    marks = [len(viewer.statuses) for viewer in viewers]
    await publisher.close()  # the seller's connection drops: peer and socket
    for viewer, mark in zip(viewers, marks, strict=True):
        await viewer.wait_status("interrupted", timeout=10, after=mark)
    last_before = source.frames_sent  # nothing reads the source while nobody publishes

    returned = clients(base_url, room, ids["seller"])  # a new socket, a new publish offer
    await returned.connect()
    assert returned.room_state["stream_status"] == "interrupted"
    await returned.publish(source, tone)
    for viewer, mark in zip(viewers, marks, strict=True):
        await viewer.wait_status("live", timeout=10, after=mark)
        assert viewer.statuses[mark:] == ["interrupted", "live"]
    for collector in watching:
        await collector.wait_until(
            lambda c=collector: sum(s.number >= last_before for s in c.stamps) >= 30,
            timeout=10,
        )
    for viewer, pc, answered in zip(viewers, peers, offers, strict=True):
        assert viewer.pc is pc and viewer.answered_at == answered  # no new offer
        assert pc.connectionState == "connected"
    for collector in watching:
        before = [s for s in collector.stamps if s.number < last_before]
        after = [s for s in collector.stamps if s.number >= last_before]
        assert before and after
        assert [s.number for s in collector.stamps] == sorted({s.number for s in collector.stamps})
        assert set((s.number, s.sent_ms) for s in collector.stamps) <= set(source.sent)
        numbers = [s.number for s in after]
        assert len(numbers) >= 0.8 * (numbers[-1] - numbers[0] + 1)


class StallingVideoTrack(PatternVideoTrack):
    """The pattern, except that no frame comes out while `flowing` is clear (a camera or
    network that stalls while the connection stays up); the pacer skips the missed slots."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def recv(self):
        await self.flowing.wait()
        return await super().recv()


async def test_viewers_see_a_silent_publisher_interrupted_within_3_s_and_live_at_its_next_frame(
    media_site, clients
):
    base_url, ids, _env = media_site
    room = ids["rooms"]["drop"]  # after the drop test or alone: either works
    source = StallingVideoTrack(320, 240)
    publisher = clients(base_url, room, ids["seller"])
    await publisher.connect()
    await publisher.publish(source, ToneAudioTrack())
    viewers = [clients(base_url, room), clients(base_url, room, ids["bob"])]
    watching = [await watch(viewer, clients.collectors) for viewer in viewers]
    for collector in watching:
        await collector.wait_for(15, timeout=10)
    peers = [(viewer.pc, viewer.answered_at) for viewer in viewers]

    marks = [len(viewer.statuses) for viewer in viewers]
    source.flowing.clear()  # no frame, no close: what a black-holed network looks like
    stalled_at = time.monotonic()
    for viewer, mark in zip(viewers, marks, strict=True):
        await viewer.wait_status("interrupted", timeout=10, after=mark)
    took = time.monotonic() - stalled_at
    assert took < 3.5, f"`interrupted` reached the viewers {took:.2f} s after the stall"
    last_before = source.frames_sent

    source.flowing.set()
    for viewer, mark in zip(viewers, marks, strict=True):
        await viewer.wait_status("live", timeout=5, after=mark)
        assert viewer.statuses[mark:] == ["interrupted", "live"]
    for collector in watching:
        await collector.wait_until(
            lambda c=collector: sum(s.number >= last_before for s in c.stamps) >= 15,
            timeout=10,
        )
    for viewer, (pc, answered) in zip(viewers, peers, strict=True):
        assert viewer.pc is pc and viewer.answered_at == answered  # no new offer


async def test_a_viewer_who_offers_before_the_seller_publishes_gets_frames_after(
    media_site, clients
):
    base_url, ids, _env = media_site
    room = ids["rooms"]["early"]  # scheduled: the publish offer makes it live
    viewer = clients(base_url, room, ids["bob"])
    await viewer.connect()
    assert viewer.room_state["room"]["status"] == "scheduled"
    assert viewer.room_state["stream_status"] == "waiting"
    frames = await watch(viewer, clients.collectors)  # answered at once
    await asyncio.sleep(1)
    assert frames.frames == 0

    source = PatternVideoTrack()
    publisher = clients(base_url, room, ids["seller"])
    await publisher.connect()
    await publisher.publish(source, ToneAudioTrack())
    await viewer.wait_for(lambda: viewer.room_status == "live", timeout=10)
    await viewer.wait_status("live", timeout=10)
    await frames.wait_for(30, timeout=10)
    assert_faithful(frames, source, least=30)


async def test_a_buyer_cannot_publish_and_an_ended_room_refuses_offers(media_site, clients):
    base_url, ids, _env = media_site
    buyer = clients(base_url, ids["rooms"]["stream"], ids["bob"])
    await buyer.connect()
    with pytest.raises(Exception, match="permission_denied"):
        await buyer.publish(PatternVideoTrack())
    late = clients(base_url, ids["rooms"]["over"])
    await late.connect()
    assert late.room_state["stream_status"] == "ended"
    with pytest.raises(Exception, match="room_ended"):
        await late.view()


# --- manage.py broadcast_demo ---------------------------------------------------------------


def test_broadcast_demo_refuses_unknown_and_ended_rooms_clearly(media_site):
    _base_url, ids, env = media_site
    unknown = manage("broadcast_demo", "987654", env=env)
    assert unknown.returncode == 1 and "No shopping room with id '987654'" in unknown.stderr
    ended = manage("broadcast_demo", str(ids["rooms"]["over"]), env=env)
    assert ended.returncode == 1 and "has ended" in ended.stderr
    no_demo = manage("broadcast_demo", "--demo", env=env)
    assert no_demo.returncode == 1 and "seed_demo" in no_demo.stderr
    neither = manage("broadcast_demo", env=env)
    assert neither.returncode == 1 and "--demo" in neither.stderr


async def test_broadcast_demo_goes_live_and_stops_when_the_room_ends(media_site, clients):
    base_url, ids, env = media_site
    room = ids["rooms"]["demo"]
    viewer = clients(base_url, room)
    await viewer.connect()
    assert viewer.room_state["room"]["status"] == "scheduled"
    frames = await watch(viewer, clients.collectors)
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "broadcast_demo", str(room), "--url", base_url],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await viewer.wait_status("live", timeout=20)
        assert viewer.room_status == "live"  # the broadcast opened the scheduled show
        await frames.wait_for(30, timeout=10)
        numbers = frames.numbers
        assert numbers == sorted(set(numbers))

        # The seller ends the show (the API a mobile app uses): the broadcast stops itself.
        request = urllib.request.Request(
            f"{base_url}/api/v1/rooms/{room}/end/",
            method="POST",
            headers={"Authorization": f"Bearer {ids['seller']}"},
        )
        ended = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        assert ended.status == 200
        started = time.monotonic()
        out, err = await asyncio.to_thread(demo.communicate, timeout=15)
        assert demo.returncode == 0, err
        assert time.monotonic() - started < 10
        assert "Live: publishing" in out and "has ended" in out
        await viewer.wait_status("ended", timeout=10)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()


async def test_broadcast_demo_stops_cleanly_on_sigterm(media_site, clients):
    base_url, ids, env = media_site
    room = ids["rooms"]["term"]
    viewer = clients(base_url, room)
    frames = await watch(viewer, clients.collectors)
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "broadcast_demo", str(room), "--url", base_url],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await frames.wait_for(15, timeout=20)
        mark = len(viewer.statuses)
        demo.terminate()
        out, err = await asyncio.to_thread(demo.communicate, timeout=10)
        assert demo.returncode == 0, err
        assert out.strip().endswith("Stopped.")
        await viewer.wait_status("interrupted", timeout=10, after=mark)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()


# --- two server processes ------------------------------------------------------------------


@pytest.mark.redis
async def test_a_viewer_on_another_process_gets_the_frames(redis_url, tmp_path):
    env, ids = build_site(tmp_path, REDIS_URL=redis_url)
    room = ids["rooms"]["redis"]
    with web_server(env) as seller_side, web_server(env) as viewer_side:
        source = PatternVideoTrack(320, 240)
        publisher = RoomMediaClient(seller_side, room, token=ids["seller"])
        viewer = RoomMediaClient(viewer_side, room, token=ids["bob"])  # its socket is on B
        frames = None
        try:
            await publisher.connect()
            await publisher.publish(source, ToneAudioTrack())  # the unit starts on A
            await publisher.wait_status("live", timeout=10)

            frames = await watch(viewer, [])
            assert viewer.room_state["stream_status"] == "live"
            await frames.wait_for(30, timeout=10)
            assert_faithful(frames, source, least=30)
            assert frames.sizes == {(320, 240)}
        finally:
            if frames is not None:
                await frames.stop()
            await publisher.close()
            await viewer.close()
            await asyncio.sleep(0.5)  # the unit closes the peers before the servers stop


async def test_the_server_stops_promptly_while_a_seller_is_broadcasting(tmp_path):
    """A deploy restarts the server under a live show: SIGTERM must not wait on the broadcast
    (aiortc's per-receiver decoder threads once kept the process from exiting)."""
    env, ids = build_site(tmp_path)
    publisher = None
    with web_server(env) as base_url:  # leaving it sends SIGTERM and allows 10 s
        publisher = RoomMediaClient(base_url, ids["rooms"]["stream"], token=ids["seller"])
        await publisher.connect()
        await publisher.publish(PatternVideoTrack(320, 240), ToneAudioTrack())
        await publisher.wait_status("live", timeout=10)
        stopped_at = time.monotonic()
    assert time.monotonic() - stopped_at < 10
    await publisher.close()
