"""Synthetic media for demos, tests and benchmarks: a moving test pattern whose every frame
carries its sequence number and send time in pixels, and a sine tone.

The stamp is a strip of big black and white blocks (three rows of 32 blocks, 20x20 pixels at
640 wide) across the top of the picture: the frame number, the send time in milliseconds and
a check word, most significant bit first. Blocks that big survive VP8 at any bitrate aiortc
picks, so a viewer that decodes the video can tell exactly which published frame it is
looking at (`read_stamp`) and how long it took to arrive (`stamp_delay_ms`).

Per-frame work is kept small (the benchmark publishes 30 fps from one core): the colour bars
are converted to YUV once, then each frame copies them and draws the box, the clock and the
stamp straight into the planes.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import math
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_SAMPLE_RATE = 48_000
AUDIO_PTIME = 0.020

STAMP_COLUMNS = 32
STAMP_ROWS = 3  # frame number, send time (ms), check word
STAMP_CHECK = 0x5A3C_C3A5  # number ^ sent_ms ^ this: a black (all-zero) frame is no stamp
STAMP_BLACK = 16
STAMP_WHITE = 235
STAMP_MARGIN = 40  # a block centre must be this far from mid-grey to count as a bit
MIN_BLOCK = 4
# A source more than this far behind its schedule (a stalled event loop, nobody reading
# while the publisher reconnects) skips the slots it missed instead of bursting to catch up.
MAX_LATENESS = 0.25


def now_ms() -> int:
    """Wall-clock milliseconds modulo 2**32: the send time stamped into frames."""
    return time.time_ns() // 1_000_000 % 2**32


def stamp_delay_ms(sent_ms: int, now: int | None = None) -> int:
    """Milliseconds from `sent_ms` to `now` (default: this instant), across the 2**32 wrap.

    Small negative results are possible when sender and receiver clocks differ."""
    if now is None:
        now = now_ms()
    delta = (now - sent_ms) % 2**32
    return delta - 2**32 if delta >= 2**31 else delta


def stamp_block_size(width: int) -> int:
    """Side of one stamp block for a picture `width` wide (20 at 640)."""
    return width // STAMP_COLUMNS


def _bits(value: int) -> np.ndarray:
    shifts = np.arange(STAMP_COLUMNS - 1, -1, -1, dtype=np.uint64)
    return ((np.uint64(value) >> shifts) & np.uint64(1)).astype(bool)


def stamp_luma(number: int, sent_ms: int, block: int) -> np.ndarray:
    """The stamp strip as luma, shape (3 * block, 32 * block)."""
    number %= 2**32
    sent_ms %= 2**32
    rows = np.stack([_bits(number), _bits(sent_ms), _bits(number ^ sent_ms ^ STAMP_CHECK)])
    levels = np.where(rows, STAMP_WHITE, STAMP_BLACK).astype(np.uint8)
    return np.repeat(np.repeat(levels, block, axis=0), block, axis=1)


def _luma_rows(frame: av.VideoFrame, rows: int) -> np.ndarray:
    """The first `rows` rows of the frame's luma, without converting the whole picture."""
    if frame.format.name in {"yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "gray"}:
        plane = frame.planes[0]
        data = np.frombuffer(plane, dtype=np.uint8)
        return data[: rows * plane.line_size].reshape(rows, plane.line_size)[:, : frame.width]
    return frame.to_ndarray(format="gray")[:rows]


def read_stamp(frame: av.VideoFrame) -> tuple[int, int] | None:
    """(frame number, sent_ms) from a decoded frame of `PatternVideoTrack`, or None when the
    top of the picture does not hold a valid stamp."""
    block = stamp_block_size(frame.width)
    if block < MIN_BLOCK or frame.height < STAMP_ROWS * block:
        return None
    strip = _luma_rows(frame, STAMP_ROWS * block)[:, : STAMP_COLUMNS * block]
    cells = strip.reshape(STAMP_ROWS, block, STAMP_COLUMNS, block)
    inner = block // 4
    means = cells[:, inner : block - inner, :, inner : block - inner].mean(axis=(1, 3))
    middle = (STAMP_BLACK + STAMP_WHITE) / 2
    if np.any(np.abs(means - middle) < STAMP_MARGIN):
        return None
    weights = 1 << np.arange(STAMP_COLUMNS - 1, -1, -1, dtype=np.uint64)
    number, sent_ms, check = (int(v) for v in ((means > middle) @ weights))
    if number ^ sent_ms ^ STAMP_CHECK != check:
        return None
    return number, sent_ms


# --- pacing ------------------------------------------------------------------------------


class _Pacer:
    """Real-time slots of `interval` seconds: waits for the next one and says which it is.

    Slot numbers follow the monotonic clock, so timestamps derived from them stay true to
    time; a reader that falls far behind skips the missed slots rather than bursting."""

    def __init__(self, interval: float):
        self.interval = interval
        self.origin: float | None = None
        self.slot = -1

    async def next_slot(self) -> int:
        now = time.monotonic()
        if self.origin is None:
            self.origin = now
            self.slot = 0
            return 0
        self.slot += 1
        due = self.origin + self.slot * self.interval
        if now - due > MAX_LATENESS:
            self.slot = int((now - self.origin) / self.interval)
        elif due > now:
            await asyncio.sleep(due - now)
        return self.slot


# --- video -------------------------------------------------------------------------------

# Seven-segment glyphs: segments a (top), b (top right), c (bottom right), d (bottom),
# e (bottom left), f (top left), g (middle).
_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
    " ": "",
}
_BARS_RGB = [
    (235, 235, 235),
    (235, 235, 16),
    (16, 235, 235),
    (16, 235, 16),
    (235, 16, 235),
    (235, 16, 16),
    (16, 16, 235),
]


def _glyph(char: str, width: int, height: int) -> np.ndarray:
    """A digit (or ':' / '.') as luma, light on dark."""
    glyph = np.full((height, width), STAMP_BLACK, dtype=np.uint8)
    t = max(2, width // 6)
    half = height // 2
    if char == ":":
        for y in (height // 3, 2 * height // 3):
            glyph[y - t // 2 : y + t - t // 2, width // 2 - t // 2 : width // 2 + t - t // 2] = 235
        return glyph
    if char == ".":
        glyph[height - t : height, width // 2 - t // 2 : width // 2 + t - t // 2] = 235
        return glyph
    areas = {
        "a": (slice(0, t), slice(0, width)),
        "b": (slice(0, half), slice(width - t, width)),
        "c": (slice(half, height), slice(width - t, width)),
        "d": (slice(height - t, height), slice(0, width)),
        "e": (slice(half, height), slice(0, t)),
        "f": (slice(0, half), slice(0, t)),
        "g": (slice(half - t // 2, half + t - t // 2), slice(0, width)),
    }
    for segment in _SEGMENTS[char]:
        glyph[areas[segment]] = 235
    return glyph


def _rgb_to_yuv(r: float, g: float, b: float) -> tuple[int, int, int]:
    """BT.601 limited range, as swscale converts rgb24 to yuv420p."""
    r, g, b = r / 255, g / 255, b / 255
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


def _hue_rgb(hue: float) -> tuple[float, float, float]:
    """A saturated colour for hue in [0, 1)."""
    return tuple(
        255 * (0.5 + 0.5 * math.cos(2 * math.pi * (hue - offset))) for offset in (0, 1 / 3, 2 / 3)
    )


class PatternVideoTrack(MediaStreamTrack):
    """Colour bars with a bouncing box and a running clock, paced at exactly `fps`, every
    frame stamped with its number (from 0) and send time (see `read_stamp`).

    `sent` keeps (number, sent_ms) of recent frames (ten minutes' worth) so that a test can
    compare what viewers decoded with what was published; `frames_sent` counts them all."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30):
        super().__init__()
        if width % 2 or height % 2:
            raise ValueError("width and height must be even (yuv420p)")
        self.block = stamp_block_size(width)
        if self.block < MIN_BLOCK or height < STAMP_ROWS * self.block + 64:
            raise ValueError(f"{width}x{height} is too small for the stamp")
        self.width, self.height, self.fps = width, height, fps
        self.frames_sent = 0
        self.sent: collections.deque[tuple[int, int]] = collections.deque(maxlen=fps * 600)
        self._pacer = _Pacer(1 / fps)
        self._stamp_height = STAMP_ROWS * self.block
        self._background = self._draw_background()
        self._box = max(16, (min(width, height) // 5) & ~1)
        digit_h = max(16, (height // 12) & ~1)
        self._digit_w = max(8, (digit_h * 3 // 5) & ~1)
        self._digit_h = digit_h
        self._glyphs = {c: _glyph(c, self._digit_w, digit_h) for c in "0123456789:. "}

    def _draw_background(self) -> np.ndarray:
        """Colour bars below the stamp strip, a grey ramp at the bottom, as one yuv420p
        array of shape (height * 3 // 2, width) (the layout `VideoFrame.from_ndarray` takes)."""
        w, h = self.width, self.height
        rgb = np.zeros((h, w, 3), dtype=np.uint8)
        bar_width = math.ceil(w / len(_BARS_RGB))
        for i, colour in enumerate(_BARS_RGB):
            rgb[:, i * bar_width : (i + 1) * bar_width] = colour
        ramp_top = h - h // 6
        rgb[ramp_top:] = np.linspace(16, 235, w, dtype=np.uint8)[None, :, None]
        rgb[: self._stamp_height] = 128
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        planes = np.ascontiguousarray(frame.to_ndarray())
        y, u, v = self._planes(planes)
        # A neutral-chroma strip for the stamp, so VP8 spends its bits on luma there.
        y[: self._stamp_height] = STAMP_BLACK
        u[: self._stamp_height // 2] = 128
        v[: self._stamp_height // 2] = 128
        return planes

    def _planes(self, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views of the Y, U and V planes inside one yuv420p buffer."""
        w, h = self.width, self.height
        flat = buffer.reshape(-1)
        y = flat[: w * h].reshape(h, w)
        u = flat[w * h : w * h + w * h // 4].reshape(h // 2, w // 2)
        v = flat[w * h + w * h // 4 :].reshape(h // 2, w // 2)
        return y, u, v

    def _draw(self, buffer: np.ndarray, seconds: float) -> None:
        y, u, v = self._planes(buffer)
        top = self._stamp_height
        # The box bounces in the area below the stamp, changing colour as it goes.
        box = self._box
        span_x, span_y = self.width - box, self.height - top - box
        x = int(abs((seconds * 160) % (2 * span_x) - span_x)) & ~1
        yy = top + (int(abs((seconds * 110) % (2 * span_y) - span_y)) & ~1)
        by, bu, bv = _rgb_to_yuv(*_hue_rgb((seconds / 6) % 1))
        y[yy : yy + box, x : x + box] = by
        u[yy // 2 : (yy + box) // 2, x // 2 : (x + box) // 2] = bu
        v[yy // 2 : (yy + box) // 2, x // 2 : (x + box) // 2] = bv
        # A wall clock (HH:MM:SS.cc, local time) on a dark panel.
        wall = time.time()
        local = time.localtime(wall)
        text = time.strftime("%H:%M:%S", local) + f".{int(wall * 100) % 100:02d}"
        gap = max(2, self._digit_w // 4)
        pitch = self._digit_w + gap
        cx = (self.width - len(text) * pitch) // 2 & ~1
        cy = top + gap * 2
        panel_w, panel_h = len(text) * pitch + gap, self._digit_h + 2 * gap
        y[cy - gap : cy - gap + panel_h, cx - gap : cx - gap + panel_w] = STAMP_BLACK
        u[
            (cy - gap) // 2 : (cy - gap + panel_h) // 2, (cx - gap) // 2 : (cx - gap + panel_w) // 2
        ] = 128
        v[
            (cy - gap) // 2 : (cy - gap + panel_h) // 2, (cx - gap) // 2 : (cx - gap + panel_w) // 2
        ] = 128
        for i, char in enumerate(text):
            left = cx + i * pitch
            y[cy : cy + self._digit_h, left : left + self._digit_w] = self._glyphs[char]

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        slot = await self._pacer.next_slot()
        if self.readyState != "live":
            raise MediaStreamError
        buffer = self._background.copy()
        self._draw(buffer, slot / self.fps)
        number = self.frames_sent
        sent_ms = now_ms()
        y, _u, _v = self._planes(buffer)
        strip = stamp_luma(number, sent_ms, self.block)
        y[: strip.shape[0], : strip.shape[1]] = strip
        frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p")
        frame.pts = round(slot * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.frames_sent += 1
        self.sent.append((number, sent_ms))
        return frame


# --- audio -------------------------------------------------------------------------------


class ToneAudioTrack(MediaStreamTrack):
    """A sine tone: 48 kHz, 20 ms frames, s16 mono, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, *, volume: float = 0.25):
        super().__init__()
        self.frequency = frequency
        self.amplitude = 32767 * max(0.0, min(1.0, volume))
        self.samples_per_frame = int(AUDIO_SAMPLE_RATE * AUDIO_PTIME)
        self.frames_sent = 0
        self._pacer = _Pacer(AUDIO_PTIME)
        self._offsets = np.arange(self.samples_per_frame, dtype=np.float64)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        slot = await self._pacer.next_slot()
        if self.readyState != "live":
            raise MediaStreamError
        first = slot * self.samples_per_frame
        # Phase from the sample index (exact at any run length; skipped slots stay in phase).
        cycles = ((first * self.frequency) % AUDIO_SAMPLE_RATE + self._offsets * self.frequency) / (
            AUDIO_SAMPLE_RATE
        )
        samples = (self.amplitude * np.sin(2 * np.pi * cycles)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = first
        frame.time_base = fractions.Fraction(1, AUDIO_SAMPLE_RATE)
        self.frames_sent += 1
        return frame


# --- receiving side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    number: int
    sent_ms: int
    received_ms: int  # now_ms() when the decoded frame was read
    received_at: float  # time.monotonic() then

    @property
    def delay_ms(self) -> int:
        return stamp_delay_ms(self.sent_ms, self.received_ms)


class StampCollector:
    """Reads a received video track until it ends (or `stop()`), recording the stamp of
    every decoded frame. Reading also keeps aiortc's unbounded receive queue drained."""

    def __init__(self, track: MediaStreamTrack):
        self.track = track
        self.stamps: list[Stamp] = []
        self.frames = 0  # decoded frames, stamped or not
        self.unreadable = 0  # decoded frames without a valid stamp
        self.first_frame_at: float | None = None  # monotonic time of the first decoded frame
        self.sizes: set[tuple[int, int]] = set()
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                received_at = time.monotonic()
                received_ms = now_ms()
                self.frames += 1
                if self.first_frame_at is None:
                    self.first_frame_at = received_at
                self.sizes.add((frame.width, frame.height))
                stamp = read_stamp(frame)
                if stamp is None:
                    self.unreadable += 1
                else:
                    self.stamps.append(Stamp(*stamp, received_ms, received_at))
                self._changed.set()
        except MediaStreamError:
            pass
        finally:
            self._changed.set()

    @property
    def numbers(self) -> list[int]:
        return [stamp.number for stamp in self.stamps]

    @property
    def done(self) -> bool:
        return self._task.done()

    async def wait_for(self, count: int, timeout: float) -> None:
        """Wait until `count` stamped frames were read in all (TimeoutError otherwise)."""
        await self.wait_until(lambda: len(self.stamps) >= count, timeout)

    async def wait_until(self, predicate, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                if self._task.done():
                    raise MediaStreamError("the track ended")
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
