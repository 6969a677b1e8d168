#!/usr/bin/env python
"""Media relay benchmark: one publisher, N viewers, 640x480 at 30 fps, through LiveShop's
forwarding unit (`streaming.unit.ForwardingUnit`, no re-encoding) and through aiortc's stock
`MediaRelay` (decode once, encode per viewer), side by side in one run.

    .venv/bin/python bench/media_relay.py                      # the full run (~9 minutes)
    .venv/bin/python bench/media_relay.py --quick              # N=1,10 smoke run
    .venv/bin/python bench/media_relay.py --viewers 1,50 --seconds 5 --relay ours

Three processes, all started by this script:

- the relay ("unit") process, pinned to CPU 0: a ForwardingUnit or a stock unit behind a
  tiny JSON-lines server on loopback (one request per TCP connection: offer in, answer out);
- the load process, pinned to CPU 1: the publisher (`PatternVideoTrack`, every frame stamped
  with its number and send time, plus `ToneAudioTrack`) and every viewer;
- this controller (also on CPU 1, idle but for a few requests), which adds viewers step by
  step, reads the relay process's CPU time from /proc/<pid>/stat around each window and
  prints the table (also written to bench/results/media_relay-<date>.md).

Viewers count frames at the RTP level and decode nothing: their DTLS transport's
`_handle_rtp_data` is replaced by a counter that reads the RTP fixed header of each
decrypted packet (no RtpPacket parsing, no jitter buffer, no decoder), so the load side can
hold hundreds of them on one core. ICE, DTLS and SRTP decryption still happen as for any
receiver. A frame counts as delivered when its last packet (RTP marker bit) arrived and no
packet was missing since the previous frame. The first few viewers (`--sampled`) go through
aiortc's whole receiving path and decode, then read the stamp out of the pixels, which checks
the content and gives the publisher-to-viewer delay (send and read on the same clock).
Viewers offer video only unless `--viewer-audio`; the publisher always sends audio too.
The video bitrate is held (`--bitrate`, 500 kbps) so that every N and both relays carry the
same stream. bench/README.md explains the columns and what the results mean.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIEWERS = "1,10,50,100,200"
QUICK_VIEWERS = "1,10"
RELAYS = ("ours", "stock")
RELAY_NAMES = {"ours": "ForwardingUnit", "stock": "stock MediaRelay"}
UNIT_CPU, LOAD_CPU = 0, 1
FPS, WIDTH, HEIGHT = 30, 640, 480
# Targets from the issue.
TARGET_VIEWERS, TARGET_DELIVERY = 200, 0.95
TARGET_CPU_RATIO = 20
TARGET_DELAY_P99_MS = 300
# The stock relay is not pushed further once its median viewer gets less than this.
COLLAPSE_DELIVERY = 0.50
DEFAULT_KBPS = 500
QUIET_CORES = 0.15  # --wait-quiet: what other tenants may use of each CPU
JOIN_CONCURRENCY = 8  # viewers negotiating at once
JOIN_TIMEOUT = 60.0  # seconds for one viewer to connect and see its first frame
LINE_LIMIT = 1 << 20

log = logging.getLogger("bench")


# --- shared helpers ------------------------------------------------------------------------


def pin(cpu: int | None) -> None:
    """Run this process (and what it starts) on one CPU only."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        log.warning("could not pin to CPU %s (%s): not pinned", cpu, exc)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of the man page): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy() -> dict[int, float]:
    """Seconds each CPU spent running anything (user, nice, system, irq, softirq), from
    /proc/stat: what the machine's other tenants used is this minus our processes."""
    busy = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                user, nice, system, _idle, _iowait, irq, softirq = map(int, values[:7])
                busy[int(name[3:])] = (user + nice + system + irq + softirq) / os.sysconf(
                    "SC_CLK_TCK"
                )
    return busy


def udp_drops(pid: int) -> dict[str, int]:
    """Per UDP socket of a process (by inode): datagrams the kernel dropped because its
    receive buffer was full (the `drops` column of /proc/net/udp and udp6), i.e. media lost
    before the process read it, because it was too busy or starved of CPU."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return {}
    drops = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as sockets:
                next(sockets)
                for line in sockets:
                    fields = line.split()
                    if fields[9] in inodes:
                        drops[fields[9]] = int(fields[12])
        except FileNotFoundError:
            pass
    return drops


def drops_since(before: dict[str, int], after: dict[str, int]) -> int:
    """Drops between two `udp_drops` readings (sockets closed meanwhile are left out)."""
    return sum(count - before.get(inode, 0) for inode, count in after.items())


async def request(port: int, message: dict, timeout: float = JOIN_TIMEOUT) -> dict:
    """One JSON-lines request to the relay process."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, limit=LINE_LIMIT), timeout
    )
    try:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise ConnectionError("the relay process closed the connection")
    reply = json.loads(line)
    if not reply.get("ok"):
        raise RuntimeError(f"{message.get('op')} refused: {reply.get('error')}")
    return reply


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def hold_bitrate(sender, bps: int) -> None:
    """Keep a VP8 sender's encoder at `bps`: drop the REMB feedback that would move it, and
    set it once the sender has made its encoder (on its first frame). Every run and both
    relays then send the same bitrate, whatever the viewers' bandwidth estimates do."""
    from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket

    handle = sender._handle_rtcp_packet

    async def without_remb(packet) -> None:
        if not (isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP):
            await handle(packet)

    async def set_once_made() -> None:
        for _ in range(1200):
            encoder = getattr(sender, "_RTCRtpSender__encoder", None)
            if encoder is not None:
                encoder.target_bitrate = bps
                return
            await asyncio.sleep(0.05)

    sender._handle_rtcp_packet = without_remb
    _background.add(task := asyncio.ensure_future(set_once_made()))
    task.add_done_callback(_background.discard)


_background: set[asyncio.Future] = set()


# --- relay process -------------------------------------------------------------------------


def _ice_free_configuration():
    from aiortc import RTCConfiguration

    return RTCConfiguration(iceServers=[])  # host candidates only (no STUN lookups)


class StockUnit:
    """aiortc's documented way to fan out one stream: the publisher's decoded tracks through
    `MediaRelay.subscribe()` into every viewer's peer connection, which encodes per viewer."""

    def __init__(self, bitrate: int):
        from aiortc.contrib.media import MediaRelay

        self.bitrate = bitrate
        self.relay = MediaRelay()
        self.sources: dict = {}
        self.publisher = None
        self.viewers: dict = {}

    async def publish(self, peer_id: str, sdp: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(_ice_free_configuration())

        @pc.on("track")
        def on_track(track) -> None:
            self.sources.setdefault(track.kind, track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.publisher = pc
        return pc.localDescription.sdp

    async def view(self, peer_id: str, sdp: str) -> str:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(_ice_free_configuration())
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            source = self.sources.get(transceiver.kind)
            if source is not None:
                sender = pc.addTrack(self.relay.subscribe(source))
                if source.kind == "video" and self.bitrate:
                    hold_bitrate(sender, self.bitrate)
        await pc.setLocalDescription(await pc.createAnswer())
        self.viewers[peer_id] = pc
        return pc.localDescription.sdp

    async def leave(self, peer_id: str) -> None:
        pc = self.viewers.pop(peer_id, None)
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        pcs = [*self.viewers.values(), *([self.publisher] if self.publisher else [])]
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    def stats(self) -> dict:
        return {"viewers": len(self.viewers)}


def enlarge_receive_buffers(pc, size: int) -> None:
    """Experiment (--relay-rcvbuf): a bigger kernel receive buffer on the publisher's ICE
    sockets in the relay process, so bursts survive while the event loop is busy."""
    import socket

    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        for protocol in connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _ours_stats(unit) -> dict:
    video = unit.fanouts["video"]
    tracks = [t for peer in unit.viewers.values() for t in peer.tracks if t.kind == "video"]
    return {
        "viewers": len(unit.viewers),
        "frames_in": video.frames_in,
        "frames_dropped": sum(t.frames_dropped for t in tracks),
        "frames_sent": sum(t.frames_sent for t in tracks),
    }


async def unit_main(args) -> None:
    pin(args.cpu)
    sys.path.insert(0, str(ROOT))
    if args.relay == ["ours"]:
        from streaming.unit import ForwardingUnit

        async def on_status(status: str) -> None:
            log.warning("stream status: %s", status)

        unit = ForwardingUnit(ice_servers=[], on_status=on_status)

        def stats() -> dict:
            return _ours_stats(unit)
    elif args.relay == ["stock"]:
        unit = StockUnit(args.bitrate * 1000)
        stats = unit.stats
    else:
        raise SystemExit(f"the relay process runs one relay, not {args.relay}")
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            message = json.loads(await reader.readline())
            op = message.get("op")
            if op == "publish":
                reply = {"sdp": await unit.publish(message["id"], message["sdp"])}
                if args.relay_rcvbuf:
                    pc = unit.publisher.pc if args.relay == ["ours"] else unit.publisher
                    enlarge_receive_buffers(pc, args.relay_rcvbuf)
            elif op == "view":
                reply = {"sdp": await unit.view(message["id"], message["sdp"])}
            elif op == "leave":
                await unit.leave(message["id"])
                reply = {}
            elif op == "stats":
                reply = stats()
            elif op == "quit":
                done.set()
                reply = {}
            else:
                raise ValueError(f"unknown op {op!r}")
            answer = {"ok": True, **reply}
        except Exception as exc:  # reported to the caller, which decides
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(answer).encode() + b"\n")
        try:
            await writer.drain()
        finally:
            writer.close()

    async def orphaned() -> None:  # the controller went away: stdin closes
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()
        done.set()

    watcher = asyncio.ensure_future(orphaned())
    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=LINE_LIMIT)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    await done.wait()
    watcher.cancel()
    server.close()
    await unit.close()


# --- load process --------------------------------------------------------------------------


def _prefer(transceiver, kind: str, sending: bool) -> None:
    """VP8 (with RTX) or Opus only, as browsers and the forwarding unit use them."""
    from aiortc import RTCRtpReceiver, RTCRtpSender

    capabilities = (RTCRtpSender if sending else RTCRtpReceiver).getCapabilities(kind)
    wanted = {"video": ("video/vp8", "video/rtx"), "audio": ("audio/opus",)}[kind]
    transceiver.setCodecPreferences(
        [c for c in capabilities.codecs if c.mimeType.lower() in wanted]
    )


async def _connected(pc, timeout: float) -> None:
    changed = asyncio.Event()
    pc.add_listener("connectionstatechange", changed.set)
    try:
        async with asyncio.timeout(timeout):
            while pc.connectionState != "connected":
                if pc.connectionState in {"failed", "closed"}:
                    raise ConnectionError(f"peer connection {pc.connectionState}")
                changed.clear()
                await changed.wait()
    finally:
        pc.remove_listener("connectionstatechange", changed.set)


class RtpFrameCounter:
    """Counts a stream's frames from RTP headers alone: a frame ends with a marker-bit packet
    and is complete if no sequence number was skipped since the previous frame's end."""

    __slots__ = (
        "packets", "bytes", "frames", "complete", "lost", "payload_type", "_ssrc", "_next_seq",
        "_gap",
    )  # fmt: skip

    def __init__(self):
        self.packets = self.bytes = self.frames = self.complete = self.lost = 0
        self.payload_type: int | None = None  # VP8's, once negotiated (raw counting)
        self._ssrc = None
        self._next_seq = None
        self._gap = False

    def add(self, packet) -> None:
        """A packet parsed by aiortc (the sampled viewers' path)."""
        self.count(packet.ssrc, packet.sequence_number, packet.marker, len(packet.payload))

    async def add_raw(self, data: bytes, arrival_time_ms: int) -> None:
        """A decrypted RTP packet as bytes, straight from the DTLS transport: only the fixed
        header is read (RFC 3550 5.1). Stands in for `RTCDtlsTransport._handle_rtp_data`."""
        if len(data) < 12 or data[1] & 0x7F != self.payload_type:
            return  # audio, or before negotiation
        self.count(data[8:12], data[2] << 8 | data[3], data[1] & 0x80, len(data) - 12)

    def count(self, ssrc, seq: int, marker, size: int) -> None:
        if self._ssrc is None:
            self._ssrc = ssrc
        elif ssrc != self._ssrc:
            return  # RTX: none is asked for by counting viewers
        self.packets += 1
        self.bytes += size
        if self._next_seq is not None and seq != self._next_seq:
            missing = (seq - self._next_seq) & 0xFFFF
            if missing < 0x8000:  # a forward jump; older (reordered) packets count nothing
                self.lost += missing
                self._gap = True
            else:
                return
        self._next_seq = (seq + 1) & 0xFFFF
        if marker:
            self.frames += 1
            if not self._gap:
                self.complete += 1
            self._gap = False

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return self.packets, self.bytes, self.frames, self.complete, self.lost


async def _ignore_rtp(packet, arrival_time_ms) -> None:
    """A sampled viewer's audio: received, never decoded (nobody would read it)."""


class Viewer:
    def __init__(self, index: int, sampled: bool):
        self.id = f"viewer-{index}"
        self.sampled = sampled
        self.counter = RtpFrameCounter()
        self.collector = None
        self.pc = None
        self.mark: tuple = ()
        self.stamps_mark = (0, 0, 0)

    async def join(self, port: int, audio: bool) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from streaming.testsource import StampCollector

        self.pc = pc = RTCPeerConnection(_ice_free_configuration())
        video = pc.addTransceiver("video", direction="recvonly")
        _prefer(video, "video", sending=False)
        counter = self.counter
        if self.sampled:  # aiortc's whole receiving path, decoder included, plus a count
            decode = video.receiver._handle_rtp_packet

            async def handle(packet, arrival_time_ms):
                counter.add(packet)
                await decode(packet, arrival_time_ms)

            video.receiver._handle_rtp_packet = handle
        else:  # SRTP still decrypted and checked by aiortc; then only the RTP header is read
            video.receiver.transport._handle_rtp_data = counter.add_raw
        if audio:
            sound = pc.addTransceiver("audio", direction="recvonly")
            _prefer(sound, "audio", sending=False)
            sound.receiver._handle_rtp_packet = _ignore_rtp  # received, never decoded
        await pc.setLocalDescription(await pc.createOffer())
        reply = await request(port, {"op": "view", "id": self.id, "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        counter.payload_type = next(
            c.payloadType for c in video._codecs if c.mimeType.lower() == "video/vp8"
        )
        if self.sampled:
            self.collector = StampCollector(video.receiver.track)
        await _connected(pc, JOIN_TIMEOUT)
        async with asyncio.timeout(JOIN_TIMEOUT):
            while not self.counter.complete:
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.collector is not None:
            await self.collector.stop()
        if self.pc is not None:
            await self.pc.close()


class Load:
    """The publisher and every viewer, driven by JSON lines on stdin."""

    def __init__(self, port: int, sampled: int, audio: bool, bitrate: int):
        self.port = port
        self.bitrate = bitrate
        self.sampled = sampled
        self.audio = audio
        self.viewers: list[Viewer] = []
        self.failed = 0
        self.publisher = None
        self.video = None
        self.window: dict = {}

    async def publish(self) -> dict:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from streaming.testsource import PatternVideoTrack, ToneAudioTrack

        self.video = PatternVideoTrack(WIDTH, HEIGHT, FPS)
        self.publisher = pc = RTCPeerConnection(_ice_free_configuration())
        video = pc.addTransceiver(self.video, direction="sendonly")
        _prefer(video, "video", sending=True)
        if self.bitrate:
            hold_bitrate(video.sender, self.bitrate)
        _prefer(pc.addTransceiver(ToneAudioTrack(), direction="sendonly"), "audio", sending=True)
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"op": "publish", "id": "publisher", "sdp": pc.localDescription.sdp}
        reply = await request(self.port, offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        await _connected(pc, JOIN_TIMEOUT)

        @pc.on("connectionstatechange")
        def changed() -> None:
            log.warning("publisher connection %s", pc.connectionState)

        return {}

    async def grow(self, total: int) -> dict:
        """Add viewers until there are `total` (the first `sampled` of all decode)."""
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)
        started = time.monotonic()

        async def join(viewer: Viewer) -> bool:
            async with gate:
                if self.publisher.connectionState != "connected":
                    return False  # nothing to watch: fail fast
                try:
                    await viewer.join(self.port, self.audio)
                    return True
                except Exception as exc:
                    log.warning("%s did not join: %s: %s", viewer.id, type(exc).__name__, exc)
                    return False

        new = [
            Viewer(index, sampled=index < self.sampled) for index in range(len(self.viewers), total)
        ]
        self.viewers += new
        results = await asyncio.gather(*(join(viewer) for viewer in new))
        self.failed += results.count(False)
        return {
            "joined": results.count(True),
            "failed": self.failed,
            "seconds": time.monotonic() - started,
        }

    def mark(self) -> dict:
        self.window = {"published": self.video.frames_sent, "at": time.monotonic()}
        for viewer in self.viewers:
            viewer.mark = viewer.counter.snapshot()
            c = viewer.collector
            if c is not None:
                viewer.stamps_mark = (len(c.stamps), c.frames, c.unreadable)
        return {}

    def collect(self) -> dict:
        published = self.video.frames_sent - self.window["published"]
        seconds = time.monotonic() - self.window["at"]
        viewers, delays = [], []
        decoded = unreadable = 0
        out_of_order = 0
        for viewer in self.viewers:
            now = viewer.counter.snapshot()
            packets, nbytes, frames, complete, lost = (
                a - b for a, b in zip(now, viewer.mark, strict=True)
            )
            viewers.append(
                {
                    "packets": packets,
                    "bytes": nbytes,
                    "frames": frames,
                    "complete": complete,
                    "lost": lost,
                    "sampled": viewer.sampled,
                }
            )
            c = viewer.collector
            if c is not None:
                first, frames0, unreadable0 = viewer.stamps_mark
                window = c.stamps[first:]
                delays += [stamp.delay_ms for stamp in window]
                numbers = [stamp.number for stamp in window]
                out_of_order += sum(1 for a, b in zip(numbers, numbers[1:], strict=False) if b <= a)
                decoded += c.frames - frames0
                unreadable += c.unreadable - unreadable0
        return {
            "published": published,
            "seconds": seconds,
            "viewers": viewers,
            "delays": delays,
            "decoded": decoded,
            "unreadable": unreadable,
            "out_of_order": out_of_order,
            "publisher": self.publisher.connectionState,
        }

    async def close(self) -> None:
        await asyncio.gather(*(v.close() for v in self.viewers), return_exceptions=True)
        if self.publisher is not None:
            await self.publisher.close()


async def load_main(args) -> None:
    pin(args.cpu)
    sys.path.insert(0, str(ROOT))
    load = Load(args.port, args.sampled, args.viewer_audio, args.bitrate * 1000)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        message = json.loads(line)
        op = message["op"]
        try:
            if op == "publish":
                reply = await load.publish()
            elif op == "grow":
                reply = await load.grow(message["total"])
            elif op == "mark":
                reply = load.mark()
            elif op == "collect":
                reply = load.collect()
            elif op == "quit":
                await load.close()
                reply = {}
            else:
                raise ValueError(f"unknown op {op!r}")
            answer = {"ok": True, **reply}
        except Exception as exc:
            log.exception("%s failed", op)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if op == "quit":
            break


# --- controller ----------------------------------------------------------------------------


@dataclass
class Row:
    relay: str
    n: int
    note: str = ""
    joined: int = 0
    unit_cpu: float | None = None  # cores
    load_cpu: float | None = None
    published_fps: float | None = None
    published: int = 0  # frames the publisher sent in the window(s)
    complete: list[int] = field(default_factory=list)  # per viewer, complete frames received
    windows: int = 1
    cpu_range: tuple[float, float] | None = None  # relay CPU, lowest and highest window
    kbps: float | None = None  # median per viewer
    lost_packets: int = 0
    delays: list[int] = field(default_factory=list)
    decoded: int = 0
    unreadable: int = 0
    out_of_order: int = 0
    publisher: str = "connected"  # the publisher's connection state at the window's end
    others: tuple[float, float] = (0.0, 0.0)  # cores used by other tenants on CPU 0 and 1
    # UDP receive-buffer drops (relay process, load process) while viewers joined and
    # warmed up, and during the window(s)
    drops_join: tuple = (0, 0)
    drops: tuple[int, int] = (0, 0)
    unit_stats: dict = field(default_factory=dict)
    marginal: float | None = None  # cores per extra viewer vs N=1
    marginal_full: float | None = None  # cores per extra viewer-at-full-rate vs N=1

    @property
    def ran(self) -> bool:
        return self.unit_cpu is not None

    @property
    def healthy(self) -> bool:
        """The source kept its rate and connection: the load side was not starved."""
        return self.publisher == "connected" and (self.published_fps or 0) >= 0.95 * FPS

    @property
    def delivery(self) -> list[float]:
        """Per viewer: frames received complete, as a fraction of the frames published."""
        return [c / self.published if self.published else 0.0 for c in self.complete]

    @property
    def median_delivery(self) -> float | None:
        return statistics.median(self.delivery) if self.delivery else None

    @property
    def min_delivery(self) -> float | None:
        return min(self.delivery) if self.delivery else None

    @property
    def delivered_viewers(self) -> float:
        """Viewer-equivalents at the full frame rate (sum of per-viewer delivery)."""
        return sum(self.delivery)

    def delay(self, q: float) -> int | None:
        return percentile(self.delays, q) if self.delays else None


class Child:
    """A role process of this script, talking JSON lines on stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str):
        self.proc = proc
        self.name = name

    @classmethod
    async def start(cls, name: str, *arguments: str) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * LINE_LIMIT,
        )
        return cls(proc, name)

    async def read(self, timeout: float) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the {self.name} process exited (code {await self.proc.wait()})")
        return json.loads(line)

    async def call(self, message: dict, timeout: float) -> dict:
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()
        reply = await self.read(timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"{self.name} {message['op']}: {reply.get('error')}")
        return reply

    async def stop(self, timeout: float = 30) -> None:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            log.warning("the %s process did not exit: killing it", self.name)
            self.proc.kill()
            await self.proc.wait()


async def run_relay(relay: str, args) -> list[Row]:
    unit = await Child.start(
        "relay", "--role", "unit", "--relay", relay, "--cpu", str(UNIT_CPU),
        "--bitrate", str(args.bitrate), "--relay-rcvbuf", str(args.relay_rcvbuf),
    )  # fmt: skip
    port = (await unit.read(timeout=60))["port"]
    load_args = ["--role", "load", "--port", str(port), "--cpu", str(LOAD_CPU)]
    load_args += ["--bitrate", str(args.bitrate)]
    load_args += ["--sampled", str(args.sampled)] + (
        ["--viewer-audio"] if args.viewer_audio else []
    )
    load = await Child.start("load", *load_args)
    rows: list[Row] = []
    try:
        await load.call({"op": "publish"}, timeout=60)
        log.info("%s: publisher connected; warming up %ss", relay, args.warmup)
        await asyncio.sleep(args.warmup)
        stopped = None  # why the larger N are not run
        for n in args.viewers:
            if stopped is not None:
                rows.append(Row(relay, n, note=f"not run: {stopped}"))
                continue
            before_join = (udp_drops(unit.proc.pid), udp_drops(load.proc.pid))
            grown = await load.call({"op": "grow", "total": n}, timeout=JOIN_TIMEOUT * n)
            log.info(
                "%s N=%d: %d joined in %.1fs (%d failed in all); warming up %ss",
                relay, n, grown["joined"], grown["seconds"], grown["failed"], args.warmup,
            )  # fmt: skip
            await asyncio.sleep(args.warmup)
            windows = []
            for _ in range(args.windows):
                windows.append(await measure(relay, n, unit, load, port, args))
            row = combine(windows)
            row.drops_join = tuple(
                drops_since(b, a) for a, b in zip(row.drops_join, before_join, strict=True)
            )
            row.joined = n - grown["failed"]
            rows.append(row)
            log.info("%s", describe(row))
            if row.publisher != "connected":
                stopped = f"the publisher's connection was {row.publisher} at N={n}"
                row.note = f"publisher connection {row.publisher}"
            elif relay == "stock" and (
                row.median_delivery is None or row.median_delivery < COLLAPSE_DELIVERY
            ):
                stopped = f"saturated at N={n}"
                row.note = "collapsed (median delivery < 50%)"
            if args.profile and relay == "ours" and n == args.viewers[-1]:
                profile(unit.proc.pid, args.profile, args.seconds)
        await load.call({"op": "quit"}, timeout=120)
    finally:
        try:
            await request(port, {"op": "quit"}, timeout=30)
        except Exception as exc:
            log.warning("could not stop the relay process cleanly: %s", exc)
        if load.proc.stdin:
            load.proc.stdin.close()
        await load.stop()
        await unit.stop()
    return rows


async def measure(relay: str, n: int, unit: Child, load: Child, port: int, args) -> Row:
    unit_stats0 = await request(port, {"op": "stats"})
    drops0 = (udp_drops(unit.proc.pid), udp_drops(load.proc.pid))
    busy0, own0 = cpu_busy(), sum(os.times()[:2])
    unit0, load0, t0 = cpu_seconds(unit.proc.pid), cpu_seconds(load.proc.pid), time.monotonic()
    await load.call({"op": "mark"}, timeout=30)
    await asyncio.sleep(args.seconds)
    result = await load.call({"op": "collect"}, timeout=60)
    unit1, load1, t1 = cpu_seconds(unit.proc.pid), cpu_seconds(load.proc.pid), time.monotonic()
    drops1 = (udp_drops(unit.proc.pid), udp_drops(load.proc.pid))
    busy1, own1 = cpu_busy(), sum(os.times()[:2])
    unit_stats1 = await request(port, {"op": "stats"})
    elapsed = t1 - t0
    published = result["published"]
    viewers = result["viewers"]
    row = Row(relay, n)
    row.unit_cpu = (unit1 - unit0) / elapsed
    row.load_cpu = (load1 - load0) / elapsed
    ours = {UNIT_CPU: unit1 - unit0, LOAD_CPU: load1 - load0 + own1 - own0}
    row.others = tuple(
        max(0.0, (busy1.get(cpu, 0) - busy0.get(cpu, 0) - ours[cpu]) / elapsed)
        for cpu in (UNIT_CPU, LOAD_CPU)
    )
    row.drops_join = drops0  # made relative by the caller
    row.drops = (drops_since(drops0[0], drops1[0]), drops_since(drops0[1], drops1[1]))
    row.published_fps = published / result["seconds"]
    row.published = published
    row.complete = [v["complete"] for v in viewers]
    row.kbps = statistics.median(v["bytes"] * 8 / 1000 / result["seconds"] for v in viewers)
    row.lost_packets = sum(v["lost"] for v in viewers)
    row.delays = result["delays"]
    row.decoded = result["decoded"]
    row.unreadable = result["unreadable"]
    row.out_of_order = result["out_of_order"]
    row.publisher = result["publisher"]
    row.unit_stats = {
        key: unit_stats1[key] - unit_stats0.get(key, 0)
        for key in unit_stats1
        if key not in {"ok", "viewers"}
    }
    row.unit_stats["viewers"] = unit_stats1.get("viewers")
    return row


def combine(windows: list[Row]) -> Row:
    """Several windows at one N as one row: CPU figures are the median window's (with the
    range), frame counts and delays are pooled, so `min` is the worst viewer over them all."""
    if len(windows) == 1:
        return windows[0]
    row = Row(windows[0].relay, windows[0].n, windows=len(windows))
    cpus = [w.unit_cpu for w in windows]
    row.unit_cpu = statistics.median(cpus)
    row.cpu_range = (min(cpus), max(cpus))
    row.load_cpu = statistics.median(w.load_cpu for w in windows)
    row.others = tuple(statistics.median(w.others[i] for w in windows) for i in (0, 1))
    row.published_fps = statistics.median(w.published_fps for w in windows)
    row.kbps = statistics.median(w.kbps for w in windows)
    row.published = sum(w.published for w in windows)
    row.complete = [sum(counts) for counts in zip(*(w.complete for w in windows), strict=True)]
    for name in ("lost_packets", "decoded", "unreadable", "out_of_order"):
        setattr(row, name, sum(getattr(w, name) for w in windows))
    row.drops = (sum(w.drops[0] for w in windows), sum(w.drops[1] for w in windows))
    row.drops_join = windows[0].drops_join
    row.delays = [d for w in windows for d in w.delays]
    row.publisher = windows[-1].publisher
    row.unit_stats = {
        key: sum(w.unit_stats.get(key, 0) for w in windows)
        for key in windows[0].unit_stats
        if key != "viewers"
    }
    row.unit_stats["viewers"] = windows[-1].unit_stats.get("viewers")
    return row


def profile(pid: int, out: str, seconds: float) -> None:
    """py-spy on the relay process right after the largest window (not during it)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        log.warning("--profile needs py-spy (.venv/bin/pip install py-spy): skipped")
        return
    base = Path(out)
    base.parent.mkdir(parents=True, exist_ok=True)
    for fmt, suffix in (("flamegraph", ".svg"), ("raw", ".txt")):
        command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
        command += ["--rate", "200", "--format", fmt, "--output", str(base) + suffix]
        log.info("profiling: %s", " ".join(command))
        subprocess.run(command, check=False, capture_output=True)


def describe(row: Row) -> str:
    if not row.ran:
        return f"{row.relay} N={row.n}: {row.note}"
    return (
        f"{row.relay} N={row.n}: relay CPU {row.unit_cpu:.3f} cores, load CPU "
        f"{row.load_cpu:.2f}, published {row.published_fps:.1f} fps, delivered median "
        f"{pct(row.median_delivery)} min {pct(row.min_delivery)}, delay p50 "
        f"{ms(row.delay(50))} p99 {ms(row.delay(99))}, unit {row.unit_stats}"
    )


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def mcores(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.1f}"


def fill_marginals(rows: list[Row]) -> None:
    base = next((r for r in rows if r.ran and r.n == 1 and r.healthy), None)
    for row in rows:
        if base is None or not row.ran or row.n == 1:
            continue
        row.marginal = (row.unit_cpu - base.unit_cpu) / (row.n - 1)
        extra = row.delivered_viewers - base.delivered_viewers
        if extra > 0.5:
            row.marginal_full = (row.unit_cpu - base.unit_cpu) / extra


COLUMNS = [
    "relay",
    "N",
    "relay CPU (cores)",
    "CPU/viewer marginal (mcores)",
    "CPU/viewer total/N (mcores)",
    "CPU per full-rate viewer, marginal (mcores)",
    "frames delivered median",
    "min",
    "delay p50",
    "delay p99",
    "stamps read",
    "published fps",
    "kbps/viewer",
    "load CPU (cores)",
    "other tenants CPU0/CPU1 (cores)",
    "UDP drops relay/load: joining; window",
    "note",
]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if not r.ran:
            cells = [RELAY_NAMES[r.relay], str(r.n)] + [""] * (len(COLUMNS) - 3) + [r.note]
            lines.append("| " + " | ".join(cells) + " |")
            continue
        notes = [r.note] if r.note else []
        if r.joined < r.n:
            notes.insert(0, f"{r.n - r.joined} viewers failed to join")
        if r.load_cpu > 0.9:
            notes.append("load side near saturation")
        if r.lost_packets:
            notes.append(f"{r.lost_packets} RTP packets missing at viewers")
        if r.out_of_order:
            notes.append(f"{r.out_of_order} decoded frames out of order")
        cells = [
            RELAY_NAMES[r.relay],
            str(r.n),
            f"{r.unit_cpu:.3f}"
            + (f" ({r.cpu_range[0]:.2f}-{r.cpu_range[1]:.2f})" if r.cpu_range else ""),
            mcores(r.marginal),
            mcores(r.unit_cpu / r.n),
            mcores(r.marginal_full),
            pct(r.median_delivery),
            pct(r.min_delivery),
            ms(r.delay(50)),
            ms(r.delay(99)),
            f"{r.decoded - r.unreadable}/{r.decoded}" if r.decoded else "-",
            f"{r.published_fps:.1f}",
            f"{r.kbps:.0f}",
            f"{r.load_cpu:.2f}",
            f"{r.others[0]:.2f}/{r.others[1]:.2f}",
            f"{r.drops_join[0]}/{r.drops_join[1]}; {r.drops[0]}/{r.drops[1]}",
            "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    ours = [r for r in rows if r.relay == "ours" and r.ran]
    stock = [r for r in rows if r.relay == "stock" and r.ran]
    out = []

    def line(met: bool | None, text: str) -> str:
        mark = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[met]
        return f"- {mark}: {text}"

    big = [r for r in ours if r.n >= TARGET_VIEWERS]
    if big:
        r = big[0]
        met = (
            r.joined >= TARGET_VIEWERS
            and r.min_delivery is not None
            and r.min_delivery >= TARGET_DELIVERY
        )
        out.append(
            line(
                met,
                f">= {TARGET_VIEWERS} viewers at >= {TARGET_DELIVERY:.0%} of frames within one "
                f"core: N={r.n}, {r.joined} joined, every viewer >= {pct(r.min_delivery)} "
                f"(median {pct(r.median_delivery)}), relay CPU {r.unit_cpu:.2f} core; other "
                f"tenants used {r.others[0]:.2f} core of the relay's CPU; UDP datagrams dropped "
                f"by relay/load {r.drops[0]}/{r.drops[1]} in the window(s)",
            )
        )
    else:
        out.append(
            line(None, f">= {TARGET_VIEWERS} viewers at >= 95% (N={TARGET_VIEWERS} not run)")
        )

    # Only windows whose source kept 30 fps count (a starved publisher makes CPU look cheap).
    ours_best = next((r for r in reversed(ours) if r.marginal_full and r.healthy), None)
    stock_costs = [r.marginal_full for r in stock if r.marginal_full and r.healthy]
    if ours_best and stock_costs:
        ratio = min(stock_costs) / ours_best.marginal_full
        out.append(
            line(
                ratio >= TARGET_CPU_RATIO,
                f">= {TARGET_CPU_RATIO}x lower CPU per viewer than stock MediaRelay: "
                f"{ratio:.0f}x (ours {mcores(ours_best.marginal_full)} mcores per full-rate "
                f"viewer at N={ours_best.n}, stock's lowest {mcores(min(stock_costs))})",
            )
        )
    else:
        out.append(line(None, f">= {TARGET_CPU_RATIO}x lower CPU per viewer than stock"))

    delayed = [r for r in ours if r.delays]
    if delayed:
        worst = max(delayed, key=lambda r: r.delay(99))
        largest = delayed[-1]
        out.append(
            line(
                worst.delay(99) < TARGET_DELAY_P99_MS,
                f"publisher-to-viewer delay p99 < {TARGET_DELAY_P99_MS} ms: worst p99 "
                f"{ms(worst.delay(99))} (N={worst.n}); at N={largest.n} p50 "
                f"{ms(largest.delay(50))} p99 {ms(largest.delay(99))}",
            )
        )
    else:
        out.append(line(None, f"delay p99 < {TARGET_DELAY_P99_MS} ms (no sampled viewer)"))
    return out


async def quiet(wait: float) -> tuple[float, float]:
    """Cores the machine's other tenants use now (a 3 s sample); with `wait`, sample again
    until both CPUs are nearly idle or `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        busy0, own0, t0 = cpu_busy(), sum(os.times()[:2]), time.monotonic()
        await asyncio.sleep(3)
        busy1, own1, elapsed = cpu_busy(), sum(os.times()[:2]), time.monotonic() - t0
        others = tuple(
            max(0.0, busy1.get(cpu, 0) - busy0.get(cpu, 0) - (own1 - own0) * (cpu == LOAD_CPU))
            / elapsed
            for cpu in (UNIT_CPU, LOAD_CPU)
        )
        if max(others) < QUIET_CORES or time.monotonic() >= deadline:
            return others
        log.info("other tenants use %.2f/%.2f cores: waiting for quiet", *others)


async def controller(args) -> int:
    pin(LOAD_CPU)
    before = await quiet(args.wait_quiet)
    started = datetime.datetime.now()
    rows: list[Row] = []
    for relay in args.relay:
        relay_rows = await run_relay(relay, args)
        fill_marginals(relay_rows)
        rows += relay_rows
    command = "python bench/media_relay.py " + " ".join(args.argv)
    experiment = f"relay SO_RCVBUF {args.relay_rcvbuf} (experiment), " if args.relay_rcvbuf else ""
    report = "\n".join(
        [
            f"## media_relay, {started:%Y-%m-%d %H:%M}",
            "",
            f"`{command.strip()}` ({WIDTH}x{HEIGHT} at {FPS} fps, {args.windows} window(s) of "
            f"{args.seconds}s per N, "
            f"warm-up {args.warmup}s, video {args.bitrate or 'REMB-driven'} kbps, {experiment}"
            f"{args.sampled} sampled viewers, viewers "
            f"{'with' if args.viewer_audio else 'without'} audio; relay on CPU {UNIT_CPU}, "
            f"load on CPU {LOAD_CPU}; {os.cpu_count()} CPUs; other tenants used "
            f"{before[0]:.2f}/{before[1]:.2f} cores of CPU {UNIT_CPU}/{LOAD_CPU} just before)",
            "",
            table(rows),
            "",
            "Targets:",
            "",
            *verdicts(rows),
            "",
        ]
    )
    print()
    print(report)
    out = (
        Path(args.out)
        if args.out
        else ROOT
        / "bench"
        / "results"
        / (f"media_relay-{started:%Y-%m-%d}{'-quick' if args.quick else ''}.md")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", help=f"viewer counts (default {DEFAULT_VIEWERS})")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    parser.add_argument(
        "--windows", type=int, help="windows per N: median CPU, pooled frames (default 3, quick 1)"
    )
    parser.add_argument("--warmup", type=float, help="seconds before each window (default 5)")
    parser.add_argument("--relay", default=",".join(RELAYS), help="ours,stock (default both)")
    parser.add_argument("--quick", action="store_true", help=f"N={QUICK_VIEWERS}, short warm-up")
    parser.add_argument("--sampled", type=int, default=3, help="viewers that decode (delay)")
    parser.add_argument("--viewer-audio", action="store_true", help="viewers receive audio too")
    parser.add_argument(
        "--bitrate",
        type=int,
        default=DEFAULT_KBPS,
        help=f"video kbps held by the publisher (and stock's encoders); 0: follow REMB "
        f"(default {DEFAULT_KBPS}, aiortc's starting bitrate)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the shared machine's other tenants to go idle",
    )
    parser.add_argument(
        "--relay-rcvbuf",
        type=int,
        default=0,
        help="experiment: SO_RCVBUF bytes for the relay's publisher sockets (0: OS default)",
    )
    parser.add_argument("--out", help="markdown file for the table")
    parser.add_argument("--profile", help="py-spy the relay at the largest N (path prefix)")
    parser.add_argument("--role", choices=["controller", "unit", "load"], default="controller")
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = argv
    args.viewers = sorted(
        {
            int(n)
            for n in (args.viewers or (QUICK_VIEWERS if args.quick else DEFAULT_VIEWERS)).split(",")
        }
    )
    if args.windows is None:
        args.windows = 1 if args.quick else 3
    if args.warmup is None:
        args.warmup = 2.0 if args.quick else 5.0
    args.relay = [r.strip() for r in args.relay.split(",") if r.strip()]
    if set(args.relay) - set(RELAYS):
        parser.error(f"--relay takes {','.join(RELAYS)}")
    if args.viewers[0] < 1:
        parser.error("--viewers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO if args.role == "controller" else logging.WARNING,
        format=f"%(asctime)s {args.role}: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if args.role == "unit":
        asyncio.run(unit_main(args))
        return 0
    if args.role == "load":
        asyncio.run(load_main(args))
        return 0
    return asyncio.run(controller(args))


if __name__ == "__main__":
    sys.exit(main())
