"""The demo/test media sources: stamps that survive aiortc's own VP8 round trip, pacing,
the tone, and the stamp collector over a real aiortc peer connection on loopback."""

import asyncio
import time

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import CODECS, depayload, get_decoder, get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcconfiguration import RTCConfiguration

from streaming.testsource import (
    STAMP_CHECK,
    PatternVideoTrack,
    StampCollector,
    ToneAudioTrack,
    now_ms,
    read_stamp,
    stamp_delay_ms,
    stamp_luma,
)

VP8 = next(codec for codec in CODECS["video"] if codec.mimeType == "video/VP8")


def unpaced(track):
    """The same frames without the real-time waits (encoding tests need no clock)."""
    track._pacer.interval = 0
    return track


def vp8_round_trip(frames: list[av.VideoFrame], *, bitrate: int | None = None):
    """Each frame through aiortc's VP8 encoder, RTP packetizer, depacketizer and decoder."""
    encoder, decoder = get_encoder(VP8), get_decoder(VP8)
    if bitrate is not None:
        encoder.target_bitrate = bitrate
    decoded = []
    for i, frame in enumerate(frames):
        payloads, timestamp = encoder.encode(frame, force_keyframe=i == 0)
        data = b"".join(depayload(VP8, payload) for payload in payloads)
        decoded.extend(decoder.decode(JitterFrame(data, timestamp)))
    return decoded


async def take(track, count: int) -> list:
    return [await track.recv() for _ in range(count)]


async def test_stamps_survive_aiortc_vp8_and_read_back_exactly():
    track = unpaced(PatternVideoTrack())
    before = now_ms()
    frames = await take(track, 60)
    decoded = vp8_round_trip(frames)
    assert len(decoded) == 60
    stamps = [read_stamp(frame) for frame in decoded]
    assert [stamp[0] for stamp in stamps] == list(range(60))
    assert [stamp for stamp in stamps] == list(track.sent)
    assert all(0 <= stamp_delay_ms(before, sent) < 5_000 for _, sent in stamps)


async def test_stamps_survive_the_lowest_bitrate_and_a_small_picture():
    track = unpaced(PatternVideoTrack(width=320, height=240, fps=15))
    decoded = vp8_round_trip(await take(track, 45), bitrate=250_000)
    assert [read_stamp(frame)[0] for frame in decoded] == list(range(45))
    assert {(frame.width, frame.height) for frame in decoded} == {(320, 240)}


async def test_each_frame_is_a_moving_picture_not_just_a_new_stamp():
    track = unpaced(PatternVideoTrack())
    first, _, third = await take(track, 3)
    below_stamp = slice(track.block * 3, None)
    a = first.to_ndarray(format="gray")[below_stamp]
    b = third.to_ndarray(format="gray")[below_stamp]
    assert np.count_nonzero(a != b) > 1000  # the box moved (and the clock ticks)


def yuv_frame(luma: np.ndarray) -> av.VideoFrame:
    h, w = luma.shape
    planes = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
    planes[:h] = luma
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def test_read_stamp_says_none_for_pictures_without_a_stamp():
    rng = np.random.default_rng(7)
    black = np.zeros((480, 640), dtype=np.uint8)
    grey = np.full((480, 640), 128, dtype=np.uint8)
    noise = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    blocky = np.kron(rng.integers(0, 2, (24, 32)) * 219 + 16, np.ones((20, 20))).astype(np.uint8)
    for luma in (black, grey, noise, blocky):
        assert read_stamp(yuv_frame(luma)) is None
    assert read_stamp(yuv_frame(np.zeros((48, 64), dtype=np.uint8))) is None  # too small


def test_read_stamp_checks_the_check_word():
    luma = np.full((480, 640), 16, dtype=np.uint8)
    strip = stamp_luma(1234, 99_999, 20)
    luma[: strip.shape[0]] = strip
    assert read_stamp(yuv_frame(luma)) == (1234, 99_999)
    luma[45:55, 630:640] = 251 - luma[45:55, 630:640]  # flip the last bit of the check row
    assert read_stamp(yuv_frame(luma)) is None
    assert STAMP_CHECK  # a zero check word would make black frames valid stamps


def test_read_stamp_takes_other_pixel_formats():
    luma = np.full((480, 640), 16, dtype=np.uint8)
    strip = stamp_luma(2**32 - 1, 0, 20)
    luma[: strip.shape[0]] = strip
    rgb = yuv_frame(luma).reformat(format="rgb24")
    assert read_stamp(rgb) == (2**32 - 1, 0)


def test_stamp_delay_handles_the_wrap_and_small_clock_skew():
    assert stamp_delay_ms(100, 350) == 250
    assert stamp_delay_ms(2**32 - 10, 5) == 15
    assert stamp_delay_ms(100, 90) == -10
    assert stamp_delay_ms(5, 2**32 - 10) == -15
    assert abs(stamp_delay_ms(now_ms())) < 1000


async def test_video_is_paced_at_fps_with_pts_in_90khz():
    track = PatternVideoTrack(fps=30)
    started = time.monotonic()
    frames = await take(track, 10)
    elapsed = time.monotonic() - started
    pts = [frame.pts for frame in frames]
    assert pts == [3000 * i for i in range(10)]
    assert {str(frame.time_base) for frame in frames} == {"1/90000"}
    assert elapsed >= 9 / 30 - 0.01  # paced: nine intervals between ten frames
    assert [number for number, _ in track.sent] == list(range(10))
    assert track.frames_sent == 10


async def test_a_source_left_unread_skips_ahead_instead_of_bursting():
    track = PatternVideoTrack(fps=30)
    await take(track, 2)
    await asyncio.sleep(0.5)  # nobody reads (a publisher reconnecting)
    late = await track.recv()
    after = await track.recv()
    assert late.pts >= 3000 * 15  # its slot follows the clock
    assert after.pts == late.pts + 3000
    assert [number for number, _ in track.sent] == [0, 1, 2, 3]  # numbers stay dense


async def test_stopped_tracks_raise_media_stream_error():
    from aiortc.mediastreams import MediaStreamError

    for track in (PatternVideoTrack(), ToneAudioTrack()):
        track.stop()
        with pytest.raises(MediaStreamError):
            await track.recv()


async def test_tone_is_48khz_mono_s16_in_20ms_frames_with_a_continuous_phase():
    track = ToneAudioTrack(frequency=440)
    frames = await take(track, 5)
    assert [frame.pts for frame in frames] == [960 * i for i in range(5)]
    for frame in frames:
        assert (frame.sample_rate, frame.samples) == (48_000, 960)
        assert (frame.format.name, frame.layout.name) == ("s16", "mono")
    samples = np.concatenate([frame.to_ndarray()[0] for frame in frames]).astype(float)
    assert samples.max() > 8000 and samples.min() < -8000
    # A 440 Hz sine at 48 kHz moves at most 2*pi*440/48000*amplitude between two samples:
    # no jumps at the frame borders.
    assert np.abs(np.diff(samples)).max() <= 2 * np.pi * 440 / 48_000 * 8192 + 2
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 48_000 / len(samples) - 440) <= 10


async def test_stamp_collector_over_a_real_aiortc_connection():
    """Publisher and receiver peers in this process on loopback: VP8 over RTP, decoded
    frames read back in order."""
    config = RTCConfiguration(iceServers=[])
    sender, receiver = RTCPeerConnection(config), RTCPeerConnection(config)
    source = PatternVideoTrack()
    received = asyncio.get_running_loop().create_future()
    receiver.on("track", lambda track: received.set_result(track))
    try:
        sender.addTransceiver(source, direction="sendonly")
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        collector = StampCollector(await asyncio.wait_for(received, 10))
        await collector.wait_for(30, timeout=15)
        numbers = collector.numbers
        assert numbers == sorted(set(numbers))  # in order, no repeats
        assert set(numbers) <= {number for number, _ in source.sent}
        assert len(numbers) >= 0.8 * (numbers[-1] - numbers[0] + 1)
        assert all(-50 < stamp.delay_ms < 2000 for stamp in collector.stamps)
        await collector.stop()
    finally:
        await sender.close()
        await receiver.close()
