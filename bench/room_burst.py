"""Room burst: one event to N viewer sockets in one room; how long until the last has it.

The product's event is the seller spotlighting a product: a `spotlight-product` frame on
the seller's room socket (JWT), which the server checks, saves, remembers in the room store
and broadcasts to the room as `spotlight-product` (docs/realtime.md). `--product-event chat`
sends a chat line from a signed-in buyer instead. The plain-Channels baseline
(`bench/baseline_app.py`) has no spotlight: its burst is a chat line through its
`group_send`. Same server process, same Redis, one after the other. See bench/README.md.

    .venv/bin/python bench/room_burst.py --viewers 5000 --servers daphne,uvicorn
    .venv/bin/python bench/room_burst.py --quick          # N=20, 3 bursts (smoke)

Each phase (server, app, N): the server starts (pinned to CPU 0, production settings), the
viewer load processes (CPU 1) open N anonymous sockets and read `room-state`, the server is
left to go idle (the join storm's viewer-count echoes), then `--warmup` + `--bursts` events
are sent one at a time: send time t0 (time.time_ns() just before the frame is written),
wait until every viewer has it (or `--timeout`), pause `--gap`, next. A viewer's latency
is its receive time minus t0 (one clock: the same machine); "last" is the slowest viewer
of a burst, the figure the issue's target is about.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.common import (  # noqa: E402
    CpuWindow,
    Server,
    add_phase_arguments,
    add_run_arguments,
    bench_environment,
    bench_main,
    check_phase_arguments,
    fmt,
    in_table_order,
    join_signed_in,
    median,
    open_viewers,
    phase_plan,
    quantile_of,
    ratio_rows,
    ratio_table,
    rss_mb,
    run_and_report,
    run_setup,
    socket_path,
    spread,
    start_load,
    start_profiler,
    wait_until_idle,
)

# The k-th burst is the product "burst <k>" spotlighted, or the chat line "burst <k>"; any
# frame carrying it counts, however the server packs its frames.
BURST_PATTERN = re.compile(rb'"(?:name|text)": ?"burst (\d+)"')
TYPE_PATTERN = re.compile(rb'"type": ?"([a-z-]+)"')
CHAT_PER_SENDER_PER_10S = 4  # the product allows 5 chat lines per 10 s per user and room
TARGET_MS = 250  # issue 8: the last of 5,000 sockets within 250 ms


# --- the viewer load process ----------------------------------------------------------------


async def viewers_main(config: dict) -> None:
    """Open `count` viewer sockets, say READY, then print `GOT <k>` when every one of them
    has burst k; on STOP print RESULT (each burst's receive times, ns) and exit."""
    url, origin = config["url"], config["origin"]
    sockets, failed = await open_viewers(
        url,
        origin,
        config["count"],
        config["concurrency"],
        tries=config["tries"],
        progress=config["progress"],
    )
    times: dict[int, list[int]] = {}
    other_frames = 0  # everything else after the join (viewer counts, ...): what a burst
    other_kinds: dict[str, int] = {}  # may queue behind
    closed_early = 0
    stopping = False

    async def read(ws) -> None:
        nonlocal closed_early, other_frames
        seen: set[int] = set()
        try:
            async for raw in ws:
                now = time.time_ns()
                data = raw.encode() if isinstance(raw, str) else raw
                if BURST_PATTERN.search(data) is None:
                    other_frames += 1
                    kind = TYPE_PATTERN.search(data)
                    kind = kind.group(1).decode() if kind else "?"
                    other_kinds[kind] = other_kinds.get(kind, 0) + 1
                for match in BURST_PATTERN.finditer(data):
                    k = int(match.group(1))
                    if k in seen:
                        continue
                    seen.add(k)
                    got = times.setdefault(k, [])
                    got.append(now)
                    if len(got) == len(sockets):
                        print(f"GOT {k}", flush=True)
        except Exception:  # a closed socket ends its reader; it is counted below
            pass
        if not stopping:
            closed_early += 1

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    print(f"READY {len(sockets)} {failed}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stopping = True
    result = {
        "connected": len(sockets),
        "failed": failed,
        "closed_early": closed_early,
        "other_frames": other_frames,
        "other_kinds": other_kinds,
        "times": times,
    }
    print("RESULT " + json.dumps(result), flush=True)
    for task in readers:
        task.cancel()
    os._exit(0)  # the server is stopped next: no need to close thousands of sockets politely


# --- the controller ---------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    app: str  # "product" or "baseline"
    viewers: int
    repeat: int
    room_id: str
    product_ids: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)


class LoadProcess:
    """One viewer process, and what it said (READY, GOT <k>, RESULT)."""

    def __init__(self, process):
        self.process = process
        self.ready: tuple[int, int] | None = None  # (connected, failed)
        self.got: set[int] = set()
        self.result: dict | None = None
        self.ended = False
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            line = (await self.process.stdout.readline()).decode()
            if not line:
                break
            if line.startswith("READY "):
                _, connected, failed = line.split()
                self.ready = (int(connected), int(failed))
            elif line.startswith("GOT "):
                self.got.add(int(line.split()[1]))
            elif line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT ") :])
            self.changed.set()
        self.ended = True
        self.changed.set()


async def wait_all(loads: list[LoadProcess], done, timeout: float) -> bool:
    """Wait until done(load) holds for every load process; False after `timeout` seconds
    or when a process ended without it."""
    deadline = time.monotonic() + timeout
    while not all(done(load) for load in loads):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or any(load.ended and not done(load) for load in loads):
            return False
        for load in loads:
            load.changed.clear()
        waits = [asyncio.create_task(load.changed.wait()) for load in loads]
        await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
    return True


async def open_trigger(url: str, token: str):
    """A signed-in socket that sends the bursts. Returns the socket and a list its reader
    fills with the server's refusals."""
    import websockets

    ws = await join_signed_in(url, token)
    errors: list[str] = []

    async def read() -> None:
        try:
            async for raw in ws:
                data = raw.encode() if isinstance(raw, str) else raw
                if re.search(rb'"type": ?"error"', data):
                    errors.append(data.decode(errors="replace")[:300])
        except websockets.WebSocketException:
            pass

    ws.reader_task = asyncio.create_task(read())
    return ws, errors


def burst_frame(phase: Phase, args, k: int) -> str:
    if phase.app == "product" and args.product_event == "spotlight":
        return json.dumps({"type": "spotlight-product", "product_id": phase.product_ids[k]})
    return json.dumps({"type": "chat-message", "text": f"burst {k}"})


async def run_phase(phase: Phase, args, server: Server, made: dict, redis_pid) -> None:
    base = f"ws://127.0.0.1:{server.port}"
    path = socket_path(phase)
    load_cpu = 1 if args.pin else None
    # The senders are in the room before the viewers, as a seller is before the show (and
    # the join storm cannot keep them out). The product's spotlight is the seller's; chat
    # lines come from signed-in buyers, each kept under the chat rate limit.
    triggers = []
    if phase.app == "product" and args.product_event == "spotlight":
        triggers.append(await open_trigger(base + path, made["seller_token"]))
    else:
        for token in made["tokens"]:
            triggers.append(await open_trigger(base + path, token))
    rss_before = rss_mb(server.process.pid)
    joining = time.monotonic()
    loads: list[LoadProcess] = []
    for number, count in enumerate(spread(phase.viewers, args.load_procs)):
        config = {
            "url": base + path,
            "origin": f"http://127.0.0.1:{server.port}",
            "count": count,
            "concurrency": args.connect_concurrency,
            "tries": args.connect_tries,
            # The first process says how the join goes (it can take minutes).
            "progress": f"{phase.server} {phase.app} viewers, process 1"
            if number == 0 and phase.viewers >= 1000
            else "",
        }
        loads.append(LoadProcess(await start_load(__file__, "_viewers", config, load_cpu)))
    if not await wait_all(loads, lambda load: load.ready is not None, 900):
        raise RuntimeError("a viewer process failed to open its sockets")
    joined_s = time.monotonic() - joining
    connected = sum(load.ready[0] for load in loads)

    settled_s = await asyncio.to_thread(
        wait_until_idle, server.process.pid, timeout=args.settle_timeout
    )

    bursts = []
    profiler = None
    for k in range(args.warmup + args.bursts):
        if k == args.warmup and phase.figures.get("profile"):
            profiler = start_profiler(server.process.pid, args.profile, load_cpu)
            await asyncio.sleep(1.0)  # attached before the first measured burst
        ws, _errors = triggers[(k // CHAT_PER_SENDER_PER_10S) % len(triggers)]
        cpu = CpuWindow(server.process.pid, *(load.process.pid for load in loads), redis_pid)
        frame = burst_frame(phase, args, k)
        t0 = time.time_ns()
        await ws.send(frame)
        complete = await wait_all(loads, lambda load, k=k: k in load.got, args.timeout)
        window = (time.time_ns() - t0) / 1e9
        used, others = cpu.read()
        bursts.append(
            {
                "k": k,
                "t0": t0,
                "complete": complete,
                "server_cpu_ms": 1000 * used[server.process.pid],
                "load_cpu_ms": 1000 * sum(used[load.process.pid] for load in loads),
                "others_cpu": others / max(window, 1e-9),
            }
        )
        await asyncio.sleep(args.gap)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        profiler.wait(timeout=60)
    rss = rss_mb(server.process.pid)
    refusals = [error for _ws, errors in triggers for error in errors]

    for load in loads:
        load.process.stdin.write(b"STOP\n")
        await load.process.stdin.drain()
    if not await wait_all(loads, lambda load: load.result is not None, 120):
        raise RuntimeError("a viewer process died before reporting")
    for load in loads:
        await load.process.wait()
    for ws, _errors in triggers:
        ws.reader_task.cancel()
        await ws.close()

    closed_early = sum(load.result["closed_early"] for load in loads)
    other_frames = sum(load.result["other_frames"] for load in loads)
    other_kinds: dict[str, int] = {}
    for load in loads:
        for kind, n in load.result["other_kinds"].items():
            other_kinds[kind] = other_kinds.get(kind, 0) + n
    for burst in bursts:
        latencies = [
            (t - burst["t0"]) / 1e6
            for load in loads
            for t in load.result["times"].get(str(burst["k"]), [])
        ]
        burst.update(
            delivered=len(latencies),
            first=min(latencies, default=None),
            p50=quantile_of(latencies, 0.50),
            p99=quantile_of(latencies, 0.99),
            last=max(latencies, default=None),
        )
    measured = bursts[args.warmup :]
    phase.figures.update(
        {
            "connected": connected,
            "connect_failed": sum(load.ready[1] for load in loads),
            "closed_early": closed_early,
            "joined_s": joined_s,
            "settled_s": settled_s,
            "other_frames": other_frames / connected if connected else None,
            "other_kinds": other_kinds,
            "refusals": refusals,
            "bursts": bursts,
            "measured": len(measured),
            "min_delivered": min((b["delivered"] for b in measured), default=0),
            "incomplete": sum(1 for b in measured if b["delivered"] < connected),
            "first": median([b["first"] for b in measured]),
            "p50": median([b["p50"] for b in measured]),
            "p99": median([b["p99"] for b in measured]),
            "last": median([b["last"] for b in measured]),
            "worst_last": max((b["last"] or 0 for b in measured), default=None),
            "server_cpu_ms": median([b["server_cpu_ms"] for b in measured]),
            "load_cpu_ms": median([b["load_cpu_ms"] for b in measured]),
            "others_cpu": median([b["others_cpu"] for b in measured]),
            "warmup_last": bursts[0]["last"] if args.warmup else None,
            "server_rss": rss,
            "rss_before": rss_before,
            "kb_per_socket": 1024 * (rss - rss_before) / connected if connected else None,
        }
    )


def summarise(phases: list[Phase], args) -> str:
    event = "spotlight-product" if args.product_event == "spotlight" else "chat line"
    lines = [
        f"room_burst: product event = {event} (baseline: chat line via group_send), "
        f"{args.bursts} measured burst(s) after {args.warmup} warm-up, per phase; medians over "
        f"bursts (worst in brackets), {platform.node()}, {os.cpu_count()} cores, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| server | app | N | run | connected | delivered (worst burst) | first ms | p50 ms | "
        "p99 ms | last ms | warm-up last ms | server CPU ms/burst | load CPU ms/burst | "
        "server RSS MB | RSS per socket KB | joined in s | idle after s | other frames/viewer | "
        "other tenants CPU | verdict |",
        "| --- | --- " + "| ---: " * 17 + "| --- |",
    ]
    phases = in_table_order(phases, "viewers")
    for p in phases:
        f = p.figures
        ok = f["measured"] and not f["incomplete"] and not f["refusals"]
        ok = ok and f["connected"] == p.viewers and f["worst_last"] < TARGET_MS
        verdict = "ok" if ok else f"misses {TARGET_MS} ms target"
        if f["connect_failed"]:
            verdict += f" ({f['connect_failed']} sockets failed to connect)"
        if f["refusals"]:
            verdict += f" (the server refused {len(f['refusals'])} burst frames)"
        if f["incomplete"]:
            verdict += f" ({f['incomplete']} bursts not delivered to every socket)"
        lines.append(
            f"| {p.server} | {p.app} | {p.viewers} | {p.repeat + 1} | {f['connected']} | "
            f"{f['min_delivered']} | {fmt(f['first'])} | {fmt(f['p50'])} | {fmt(f['p99'])} | "
            f"{fmt(f['last'])} [{fmt(f['worst_last'])}] | {fmt(f['warmup_last'])} | "
            f"{fmt(f['server_cpu_ms'], '.0f')} | {fmt(f['load_cpu_ms'], '.0f')} | "
            f"{fmt(f['server_rss'], '.0f')} | {fmt(f['kb_per_socket'], '.0f')} | "
            f"{fmt(f['joined_s'])} | {fmt(f['settled_s'])} | {fmt(f['other_frames'])} | "
            f"{fmt(f['others_cpu'], '.2f')} | {verdict} |"
        )
    lines += ratio_table(
        "Product / baseline (same server, Redis and viewers; <1x is better):",
        "| server | N | run | p50 | last | server CPU per burst | RSS |",
        ratio_rows(phases, "viewers", ["p50", "last", "server_cpu_ms", "server_rss"]),
    )
    return "\n".join(lines) + "\n"


def progress(phase: Phase) -> str:
    """What a finished phase says on stderr."""
    f = phase.figures
    return (
        f"{phase.server} {phase.app} N={phase.viewers} run {phase.repeat + 1}: "
        f"connected {f['connected']}, worst burst reached {f['min_delivered']}, "
        f"last {fmt(f['last'])} ms (worst {fmt(f['worst_last'])}), "
        f"server CPU {fmt(f['server_cpu_ms'], '.0f')} ms/burst"
        + (f", refused: {f['refusals'][0]}" if f["refusals"] else "")
    )


async def controller(args) -> int:
    redis_url = args.redis_url or os.environ.get("REDIS_URL", "")
    with bench_environment("room_burst", redis_url, args.pin) as (_workdir, env, redis_pid):
        plan = phase_plan(args, args.viewers)
        total_bursts = args.warmup + args.bursts
        try:
            made = run_setup(
                env,
                rooms=len(plan),
                senders=math.ceil(total_bursts / CHAT_PER_SENDER_PER_10S),
                products=total_bursts,
            )
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        phases = [
            Phase(
                server=s,
                app=a,
                viewers=n,
                repeat=r,
                room_id=room,
                product_ids=[p["id"] for p in products],
            )
            for (s, r, n, a), room, products in zip(
                plan, made["rooms"], made["products"], strict=True
            )
        ]
        return await run_and_report(
            "room_burst",
            phases,
            args,
            env,
            size="viewers",
            measure=lambda phase, server: run_phase(phase, args, server, made, redis_pid),
            progress=progress,
            summarise=summarise,
        )


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="5000", help="N values, comma-separated")
    parser.add_argument("--bursts", type=int, default=5, help="measured bursts per phase")
    parser.add_argument("--warmup", type=int, default=1, help="bursts sent first, not counted")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait per burst")
    parser.add_argument(
        "--product-event",
        default="spotlight",
        choices=["spotlight", "chat"],
        help="the product's burst: the seller's spotlight (default) or a buyer's chat line",
    )
    add_phase_arguments(parser)
    parser.add_argument(
        "--load-procs", type=int, default=0, help="viewer processes (default N/500)"
    )
    # Gentle by default: the point is the burst, not the join (connect_storm.py measures
    # that), and the product drops sockets when many join at once (bench/README.md).
    parser.add_argument(
        "--connect-concurrency", type=int, default=20, help="handshakes at a time per process"
    )
    parser.add_argument("--connect-tries", type=int, default=8, help="attempts per socket")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="at most this long for the server to go idle after the viewers joined (the "
        "product drains a backlog of viewer counts after a big join: see bench/README.md)",
    )
    add_run_arguments(parser, profile="py-spy the product server's measured bursts: PREFIX")
    parser.add_argument("--quick", action="store_true", help="N=20, 3 bursts (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.viewers, args.bursts, args.gap, args.settle_timeout = "20", 3, 0.2, 10
    try:
        args.viewers = [int(n) for n in str(args.viewers).split(",") if n]
    except ValueError:
        parser.error("--viewers takes whole numbers, comma-separated")
    if not args.viewers or min(args.viewers) < 1:
        parser.error("--viewers needs at least one N of 1 or more")
    if args.bursts < 1 or args.warmup < 0:
        parser.error("--bursts must be 1 or more and --warmup 0 or more")
    check_phase_arguments(parser, args)
    if args.load_procs <= 0:
        args.load_procs = max(1, math.ceil(max(args.viewers) / 500))
    return args


if __name__ == "__main__":
    sys.exit(bench_main("_viewers", viewers_main, parse_args, controller))
