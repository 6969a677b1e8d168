"""The fan-out of encoded frames: keyframe gating, bounded per-viewer queues, keyframe
requests and continuous timestamps, without any peer connection."""

import asyncio

from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from streaming import relay
from streaming.relay import Fanout, ForwardedTrack

KEY = b"\x10\x02\x00\x9d\x01\x2a"  # VP8 frame tag with the key-frame bit clear
DELTA = b"\x31\x02\x00"


class Requests:
    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1


async def drain(track: ForwardedTrack) -> list[relay.EncodedFrame]:
    frames = []
    while track._frames:
        frames.append(await track.recv())
    return frames


async def joined(fanout: Fanout) -> ForwardedTrack:
    """A viewer track whose sender has started (first recv attaches it)."""
    track = ForwardedTrack(fanout)
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    assert track in fanout.tracks
    waiting.cancel()
    return track


async def test_a_new_viewer_starts_at_a_keyframe_and_asks_the_publisher_for_one():
    requests = Requests()
    fanout = Fanout("video", request_keyframe=requests)
    track = await joined(fanout)
    assert requests.count == 1
    fanout.push(DELTA, 0)
    fanout.push(DELTA, 3000)
    assert await drain(track) == []
    fanout.push(KEY, 6000)
    fanout.push(DELTA, 9000)
    frames = await drain(track)
    assert [bytes(f) for f in frames] == [KEY, DELTA]
    assert frames[0].keyframe and not frames[1].keyframe
    assert track.frames_dropped == 2


async def test_keyframe_requests_from_many_joiners_are_coalesced(monkeypatch):
    monkeypatch.setattr(relay, "KEYFRAME_REQUEST_INTERVAL", 0.2)
    requests = Requests()
    fanout = Fanout("video", request_keyframe=requests)
    for _ in range(20):
        await joined(fanout)
    assert requests.count == 1  # the first at once, the rest wait for the interval
    await asyncio.sleep(0.3)
    assert requests.count == 2  # one more for everyone who joined meanwhile
    await asyncio.sleep(0.3)
    assert requests.count == 2
    fanout.close()


async def test_a_slow_viewer_skips_to_the_next_keyframe_without_holding_others_back():
    requests = Requests()
    fanout = Fanout("video", request_keyframe=requests)
    slow, fast = await joined(fanout), await joined(fanout)
    fanout.push(KEY, 0)
    received = []
    for n in range(1, 3 * relay.VIDEO_QUEUE_FRAMES):
        fanout.push(DELTA, n * 3000)
        received += await drain(fast)  # the fast viewer keeps up; the slow one never reads
    assert len(received) == 3 * relay.VIDEO_QUEUE_FRAMES  # the fast one lost nothing
    assert len(slow._frames) <= relay.VIDEO_QUEUE_FRAMES  # bounded, not growing
    assert slow.waiting_for_keyframe
    await asyncio.sleep(relay.KEYFRAME_REQUEST_INTERVAL + 0.05)
    assert requests.count == 2  # joining, then falling behind (coalesced)
    fanout.push(KEY, 10**6)
    frames = await drain(slow)
    assert [bytes(f) for f in frames] == [KEY]  # resumes cleanly at the keyframe
    fanout.close()


async def test_a_slow_listener_loses_the_oldest_audio_only():
    fanout = Fanout("audio")
    track = await joined(fanout)
    for n in range(relay.AUDIO_QUEUE_FRAMES + 10):
        fanout.push(bytes([n]), n * 960)
    frames = await drain(track)
    assert len(frames) == relay.AUDIO_QUEUE_FRAMES
    assert bytes(frames[0]) == bytes([10]) and bytes(frames[-1]) == bytes([59])


async def test_timestamps_run_on_when_the_publisher_changes():
    fanout = Fanout("video", request_keyframe=Requests())
    track = await joined(fanout)
    fanout.push(KEY, 0)
    fanout.push(DELTA, 3000)
    fanout.publisher_changed()  # the seller reconnects: the new receiver counts from 0
    await asyncio.sleep(0.05)
    fanout.push(DELTA, 0)  # not a keyframe: a viewer could not decode it
    fanout.push(KEY, 3000)
    fanout.push(DELTA, 6000)
    frames = await drain(track)
    assert [bytes(f) for f in frames] == [KEY, DELTA, KEY, DELTA]
    pts = [f.pts for f in frames]
    assert pts[:2] == [0, 3000]
    assert pts[2] > 3000 + 0.04 * 90_000 + 3000  # later by about the time that passed
    assert pts[3] == pts[2] + 3000


async def test_a_stopped_track_leaves_the_fanout_and_wakes_its_sender():
    fanout = Fanout("video", request_keyframe=Requests())
    track = ForwardedTrack(fanout)
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    await asyncio.gather(waiting, return_exceptions=True)
    assert isinstance(waiting.exception(), relay.MediaStreamError)
    assert track not in fanout.tracks


def test_aiortcs_sender_packs_a_forwarded_frame_without_encoding():
    encoder = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
    data = KEY + bytes(range(256)) * 20  # bigger than one packet
    payloads, timestamp = encoder.pack(
        relay.EncodedFrame(data, 123_000, relay.TIME_BASES["video"], True)
    )
    assert timestamp == 123_000
    assert len(payloads) > 1
    # Each payload is a VP8 payload descriptor followed by a slice of the frame, in order.
    descriptor = len(payloads[0]) - min(len(data), len(payloads[0]) - 4)
    assert b"".join(p[descriptor:] for p in payloads) == data


def test_vp8_keyframes_are_told_from_delta_frames():
    assert relay.is_vp8_keyframe(KEY)
    assert not relay.is_vp8_keyframe(DELTA)
    assert not relay.is_vp8_keyframe(b"")


def rtp(sequence_number: int, timestamp: int, *, marker: bool = False, data: bytes = DELTA):
    packet = RtpPacket(payload_type=96, sequence_number=sequence_number, timestamp=timestamp)
    packet.marker = int(marker)
    packet._data = data
    return packet


def test_a_packet_lost_for_good_costs_its_frame_not_seconds_of_video(monkeypatch):
    """Packet 3 (frame 2's middle) never comes, not even retransmitted: after GAP_TIMEOUT
    frame 2 is dropped, viewers are told to wait for a keyframe, and frame 3 plays on."""
    now = [100.0]
    monkeypatch.setattr(relay.time, "monotonic", lambda: now[0])
    gaps = []
    buffer = relay.GapGivingUpJitterBuffer(on_gap=lambda: gaps.append(True))
    frames = []

    def add(packet):
        pli, frame = buffer.add(packet)
        if frame is not None:
            frames.append(frame.timestamp)
        return pli

    add(rtp(1, 0, marker=True, data=KEY))
    add(rtp(2, 3000))  # frame 2 starts; frame 1 is out
    # 3 (frame 2's end) is lost; frame 3 and 4 arrive but wait behind the gap...
    for seq, ts in ((4, 6000), (5, 6000), (6, 9000)):
        assert not add(rtp(seq, ts, marker=seq == 5))
    assert frames == [0] and not gaps
    now[0] += relay.GAP_TIMEOUT + 0.01
    assert add(rtp(7, 9000, marker=True))  # ...until the gap is given up: PLI
    assert gaps == [True]
    assert frames == [0, 6000]  # frame 2 (timestamp 3000) is gone, frame 3 came out
    add(rtp(8, 12000))
    assert frames == [0, 6000, 9000]


def test_a_quiet_publisher_is_not_a_gap(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(relay.time, "monotonic", lambda: now[0])
    gaps = []
    buffer = relay.GapGivingUpJitterBuffer(on_gap=lambda: gaps.append(True))
    buffer.add(rtp(1, 0, marker=True))
    now[0] += 5  # a static scene: no packets for a while
    pli, frame = buffer.add(rtp(2, 3000, marker=True))
    assert not pli and frame.timestamp == 0 and not gaps


async def test_a_lost_frame_makes_viewers_wait_for_a_keyframe():
    fanout = Fanout("video", request_keyframe=Requests())
    track = await joined(fanout)
    fanout.push(KEY, 0)
    fanout.frames_lost()
    fanout.push(DELTA, 3000)
    assert [bytes(f) for f in await drain(track)] == [KEY]
    assert track.waiting_for_keyframe
    fanout.close()
