"""Live video in real browsers: the seller goes live from the studio with Chromium's fake
camera, a buyer in another browser context watches the room page (muted autoplay, no
autoplay flag), and both follow the show to its end. The server side is the real one: uvicorn,
the room socket and the aiortc forwarding unit."""

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser import VIDEO_STATE, go_live, log_in, wait_for_pictures, watch_errors
from tests.helpers import WebServer, manage, python, run_script, site_env

# Scheduled rooms of the scenario's seller: going live from the studio is what starts them.
SCHEDULED_ROOMS = """
import django, json
django.setup()
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from catalog.models import Product
from rooms import services
sally = User.objects.get(username="sally")
hat = Product.objects.get(seller=sally)
rooms = [
    services.room_create(
        seller=sally, title=title, scheduled_start=timezone.now() + timedelta(hours=1),
        products=[hat],
    )
    for title in ("Studio show", "Restart show")
]
print(json.dumps([room.pk for room in rooms]))
"""


@pytest.fixture(scope="module")
def video_site(tmp_path_factory):
    """A real server (uvicorn) with tests/live_room_scenario.py's people and two more rooms, still
    scheduled; yields (server, ids) with ids["scheduled"] and ids["restart"] their ids."""
    env = site_env(tmp_path_factory.mktemp("video-site"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = run_script("tests/live_room_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    ids = json.loads(scenario.stdout.strip().splitlines()[-1])
    made = python(SCHEDULED_ROOMS, env=env)
    assert made.returncode == 0, made.stderr
    ids["scheduled"], ids["restart"] = json.loads(made.stdout.strip().splitlines()[-1])
    server = WebServer(env)
    server.start()
    try:
        yield server, ids
    finally:
        server.stop()


def sent_offers(page) -> list[dict]:
    """The webrtc-offer frames the page sends over its sockets, as they go."""
    offers: list[dict] = []

    def on_socket(socket) -> None:
        def on_frame(payload) -> None:
            try:
                frame = json.loads(payload)
            except (TypeError, ValueError):
                return
            if isinstance(frame, dict) and frame.get("type") == "webrtc-offer":
                offers.append(frame)

        socket.on("framesent", on_frame)

    page.on("websocket", on_socket)
    return offers


def test_studio_previews_the_camera_and_lists_the_devices(chromium_media, video_site):
    server, ids = video_site
    base_url = server.base_url
    page = chromium_media.new_context().new_page()
    errors = watch_errors(page)
    try:
        log_in(page, base_url, "sally", ids["password"])
        page.goto(f"{base_url}/seller/rooms/{ids['scheduled']}/studio/")

        preview = wait_for_pictures(page, "#studio-preview")
        assert preview["width"] > 0 and preview["muted"]
        expect(page.locator("#studio-video")).to_have_attribute("data-video-state", "live")
        expect(page.get_by_label("Camera", exact=True)).to_be_enabled()
        assert page.locator("#camera-select option").count() >= 1
        assert page.locator("#microphone-select option").count() >= 1
        expect(page.get_by_role("button", name="Go live")).to_be_enabled()
        expect(page.locator("#viewer-count")).to_have_text("1")
        # The chat beside it is the room page's.
        expect(page.locator("#chat-input")).to_be_enabled()
        assert errors == []
    finally:
        page.context.close()


def test_seller_goes_live_from_the_studio_and_a_buyer_watches_to_the_end(
    chromium_media, video_site
):
    server, ids = video_site
    base_url = server.base_url
    room_id = ids["scheduled"]
    seller = chromium_media.new_context().new_page()
    buyer = chromium_media.new_context().new_page()
    seller_errors, buyer_errors = watch_errors(seller), watch_errors(buyer)
    seller_offers = sent_offers(seller)
    try:
        log_in(buyer, base_url, "bob", ids["password"])
        buyer.goto(f"{base_url}/rooms/{room_id}/")
        # Before the seller goes live: the waiting card, and the viewer is already connected.
        expect(buyer.locator("#room-video")).to_have_attribute("data-video-state", "waiting")
        expect(buyer.locator("#video-overlay-title")).to_have_text("The show starts soon")

        log_in(seller, base_url, "sally", ids["password"])
        go_live(seller, base_url, room_id)
        expect(seller.locator("#stream-status")).to_have_attribute(
            "data-status", "live", timeout=15000
        )
        expect(seller.locator("#room-status")).to_have_text("Live")
        expect(seller.get_by_role("button", name="End show")).to_be_visible()
        publish_offers = [offer for offer in seller_offers if offer["role"] == "publish"]
        assert len(publish_offers) == 1
        assert "m=video" in publish_offers[0]["sdp"] and "VP8" in publish_offers[0]["sdp"]

        # The buyer's page plays it: muted autoplay, pictures and a running clock.
        watching = wait_for_pictures(buyer, "#live-video")
        assert watching["width"] > 0 and watching["height"] > 0
        assert watching["muted"] and not watching["paused"]
        expect(buyer.locator("#room-video")).to_have_attribute("data-video-state", "live")
        expect(buyer.locator("#room-status")).to_have_text("Live")
        unmute = buyer.get_by_role("button", name="Unmute")
        expect(unmute).to_be_visible()
        unmute.click()
        expect(buyer.get_by_role("button", name="Mute", exact=True)).to_be_visible()
        assert buyer.evaluate(VIDEO_STATE, "#live-video")["muted"] is False

        # Stream health: the seller sees what goes out.
        seller.wait_for_function(
            "() => Number(document.querySelector('#health-bitrate').dataset.kbps) > 0",
            timeout=15000,
        )
        expect(seller.locator("#health-rtt")).to_have_text(re.compile(r"^\d+ ms$"), timeout=15000)

        # Another microphone goes on the live connection without a new offer.
        microphones = seller.locator("#microphone-select option")
        if microphones.count() > 1:
            seller.locator("#microphone-select").select_option(index=1)
            time.sleep(2)
            assert len([o for o in seller_offers if o["role"] == "publish"]) == 1
            expect(seller.locator("#publish-status")).to_have_attribute("data-state", "connected")
        wait_for_pictures(buyer, "#live-video")

        # The seller ends the show: the viewer sees it end.
        seller.once("dialog", lambda dialog: dialog.accept())
        seller.get_by_role("button", name="End show").click()
        seller.wait_for_url(f"{base_url}/seller/rooms/")
        expect(buyer.locator("#room-video")).to_have_attribute(
            "data-video-state", "ended", timeout=15000
        )
        expect(buyer.locator("#video-overlay-title")).to_have_text("This show has ended")
        expect(buyer.locator("#room-status")).to_have_text("Ended")
        expect(buyer.get_by_role("button", name="Unmute")).to_be_hidden()
        assert seller_errors == [] and buyer_errors == []
    finally:
        seller.context.close()
        buyer.context.close()


def test_seller_and_viewer_come_back_by_themselves_after_a_server_crash(chromium_media, video_site):
    server, ids = video_site
    base_url, room_id = server.base_url, ids["restart"]
    seller = chromium_media.new_context().new_page()
    buyer = chromium_media.new_context().new_page()
    seller_errors, buyer_errors = watch_errors(seller), watch_errors(buyer)
    seller_offers, buyer_offers = sent_offers(seller), sent_offers(buyer)
    try:
        log_in(seller, base_url, "sally", ids["password"])
        go_live(seller, base_url, room_id)
        buyer.goto(f"{base_url}/rooms/{room_id}/")  # anonymous viewers watch too
        wait_for_pictures(buyer, "#live-video")
        assert len(buyer_offers) == 1

        # Every socket and peer connection drops; the forwarding unit starts anew.
        server.crash_and_restart()

        # The studio reconnects its socket and publishes again, without a click...
        expect(seller.locator("#publish-status")).to_have_attribute(
            "data-state", "connected", timeout=45000
        )
        expect(seller.locator("#stream-status")).to_have_attribute(
            "data-status", "live", timeout=15000
        )
        assert len([o for o in seller_offers if o["role"] == "publish"]) >= 2
        # ...and the viewer offers again and plays the show.
        expect(buyer.locator("#room-video")).to_have_attribute(
            "data-video-state", "live", timeout=45000
        )
        # Playwright hands frame events to Python when its loop next runs, which may be
        # after the attribute check above returned: give the recorded frames a moment.
        for _ in range(50):
            if len(buyer_offers) >= 2:
                break
            buyer.wait_for_timeout(100)
        assert len(buyer_offers) >= 2
        wait_for_pictures(buyer, "#live-video")
        assert seller_errors == [] and buyer_errors == []
    finally:
        seller.context.close()
        buyer.context.close()


def test_a_second_studio_window_takes_over_without_a_tug_of_war(chromium_media, video_site):
    server, ids = video_site
    base_url, room_id = server.base_url, ids["restart"]
    context = chromium_media.new_context()
    first, second = context.new_page(), context.new_page()
    offers = sent_offers(first)
    try:
        log_in(first, base_url, "sally", ids["password"])
        go_live(first, base_url, room_id)
        go_live(second, base_url, room_id)

        expect(first.locator("#publish-error")).to_have_text(
            "This show is now broadcast from another window or device."
        )
        expect(first.locator("#publish-status")).to_have_attribute("data-state", "stopped")
        time.sleep(6)  # longer than a failed connection waits before it reconnects
        assert len([o for o in offers if o["role"] == "publish"]) == 1
        expect(second.locator("#publish-status")).to_have_attribute("data-state", "connected")
        expect(second.locator("#stream-status")).to_have_attribute("data-status", "live")
    finally:
        context.close()


def test_viewer_shows_reconnecting_while_the_seller_is_away_and_plays_on(
    chromium_media, video_site
):
    server, ids = video_site
    base_url, room_id = server.base_url, ids["restart"]
    seller_context = chromium_media.new_context()
    seller = seller_context.new_page()
    buyer = chromium_media.new_context().new_page()
    buyer_offers = sent_offers(buyer)
    try:
        log_in(seller, base_url, "sally", ids["password"])
        go_live(seller, base_url, room_id)
        buyer.goto(f"{base_url}/rooms/{room_id}/")
        wait_for_pictures(buyer, "#live-video")

        seller.close()  # the studio's tab goes: its socket, and so the broadcast, with it
        expect(buyer.locator("#room-video")).to_have_attribute(
            "data-video-state", "interrupted", timeout=15000
        )
        expect(buyer.locator("#video-overlay-title")).to_have_text("Reconnecting…")

        go_live(seller_context.new_page(), base_url, room_id)
        expect(buyer.locator("#room-video")).to_have_attribute(
            "data-video-state", "live", timeout=15000
        )
        wait_for_pictures(buyer, "#live-video")
        assert len(buyer_offers) == 1  # the same connection plays on
    finally:
        seller_context.close()
        buyer.context.close()


# --- live-video.js on its own, in the browser -----------------------------------------------

HEALTH_CHECK = """async () => {
  const { readHealth } = await import("/static/js/live-video.js");
  const report = (stats) => new Map(stats.map((stat) => [stat.id, stat]));
  const first = readHealth(report([
    { id: "v", type: "outbound-rtp", kind: "video", bytesSent: 100000, timestamp: 1000 },
    { id: "a", type: "outbound-rtp", kind: "audio", bytesSent: 25000, timestamp: 1000 },
  ]));
  const second = readHealth(report([
    { id: "v", type: "outbound-rtp", kind: "video", bytesSent: 200000, timestamp: 2000 },
    { id: "a", type: "outbound-rtp", kind: "audio", bytesSent: 50000, timestamp: 2000 },
    { id: "rv", type: "remote-inbound-rtp", kind: "video", fractionLost: 0.02,
      packetsLost: 7, roundTripTime: 0.045 },
    { id: "ra", type: "remote-inbound-rtp", kind: "audio", fractionLost: 0.01,
      packetsLost: 1, roundTripTime: 0.05 },
  ]), first);
  const pairOnly = readHealth(report([
    { id: "t", type: "transport", selectedCandidatePairId: "p" },
    { id: "p", type: "candidate-pair", currentRoundTripTime: 0.012 },
  ]));
  return { first, second, pairOnly };
}"""

ROUTING_CHECK = """async () => {
  const { ViewerPeer } = await import("/static/js/live-video.js");
  const sent = [];
  const states = [];
  const peer = new ViewerPeer({ send: (frame) => { sent.push(frame); return true; },
                                onState: (state) => states.push(state) });
  await peer.start();
  const offer = sent.find((frame) => frame.type === "webrtc-offer");
  const chatError = peer.handleError({ code: "slow_mode" });        // chat's own
  const candidateError = peer.handleError({ code: "invalid" });     // a trickled candidate
  const stateAfterCandidate = peer.state;
  const limited = peer.handleError({ code: "rate_limited" });       // the offer: try again
  const stateAfterLimit = peer.state;
  peer.stop();
  const afterStop = peer.handleError({ code: "rate_limited" });
  return { offer, chatError, candidateError, stateAfterCandidate, limited, stateAfterLimit,
           afterStop, states };
}"""

ANSWER_TIMEOUT_CHECK = """async () => {
  const { ViewerPeer } = await import("/static/js/live-video.js");
  const offers = [];
  const peer = new ViewerPeer({ send: (frame) => {
    if (frame.type === "webrtc-offer") offers.push(performance.now());
    return true;  // sent, but no answer ever comes
  } });
  await peer.start();
  await new Promise((resolve) => setTimeout(resolve, 11500));
  const stateAfterTimeout = peer.state;
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the first backoff: 0.5-1 s
  peer.stop();
  return { offers: offers.map((t) => t - offers[0]), stateAfterTimeout };
}"""


def test_stream_health_is_read_from_the_stats(chromium_media, video_site):
    server, _ = video_site
    page = chromium_media.new_context().new_page()
    try:
        page.goto(f"{server.base_url}/rooms/")
        health = page.evaluate(HEALTH_CHECK)
    finally:
        page.context.close()

    assert health["first"]["kbps"] is None  # a rate needs two samples
    second = health["second"]
    assert second["kbps"] == pytest.approx(1000)  # 125000 bytes in 1 s
    assert second["lossPercent"] == pytest.approx(2) and second["packetsLost"] == 8
    assert second["rttMs"] == pytest.approx(45)  # the video's
    assert health["pairOnly"]["rttMs"] == pytest.approx(12)
    assert health["pairOnly"]["lossPercent"] is None


def test_offer_errors_are_told_from_chat_and_candidate_errors(chromium_media, video_site):
    server, _ = video_site
    page = chromium_media.new_context().new_page()
    try:
        page.goto(f"{server.base_url}/rooms/")
        result = page.evaluate(ROUTING_CHECK)
    finally:
        page.context.close()

    assert result["offer"]["role"] == "view"
    sdp = result["offer"]["sdp"]
    assert "a=recvonly" in sdp and "m=video" in sdp and "m=audio" in sdp
    # VP8 is the first video codec offered: the server forwards VP8.
    video_line = next(line for line in sdp.splitlines() if line.startswith("m=video"))
    first_payload = video_line.split()[3]
    assert f"a=rtpmap:{first_payload} VP8/90000" in sdp
    assert result["chatError"] is False
    assert result["candidateError"] is True and result["stateAfterCandidate"] == "connecting"
    assert result["limited"] is True and result["stateAfterLimit"] == "retrying"
    assert result["afterStop"] is False
    assert result["states"][-1] == "stopped"


def test_an_offer_without_an_answer_is_made_again_after_ten_seconds(chromium_media, video_site):
    server, _ = video_site
    page = chromium_media.new_context().new_page()
    try:
        page.goto(f"{server.base_url}/rooms/")
        result = page.evaluate(ANSWER_TIMEOUT_CHECK)
    finally:
        page.context.close()

    assert result["stateAfterTimeout"] == "retrying"
    assert len(result["offers"]) == 2
    assert 10000 <= result["offers"][1] <= 11500
