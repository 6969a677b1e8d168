"""Room chat fan-out: N viewer sockets in one room, M chat messages/s from K signed-in senders,
for T seconds, on real daphne processes with the Redis channel layer and Redis room store.

Every run measures the product's room socket (`/ws/rooms/<id>/`) and, in the same
invocation under the same server and layer, a plain-Channels baseline
(`bench/baseline_app.py`), so each figure is read as a ratio. See bench/README.md.

    .venv/bin/python bench/room_fanout.py --viewers 100,500 --rate 20 --seconds 20
    .venv/bin/python bench/room_fanout.py --quick          # N=5, 2 msg/s, 3 s (smoke)

What runs where (pinned with --pin, the default on 2+ cores):
- the server (daphne, production settings: DEBUG off, Redis layer and store), CPU 0,
  restarted for every phase so RSS is that phase's;
- redis-server (ours, on a free port, unless REDIS_URL / --redis-url is given), the viewer
  load processes (the `websockets` library, anonymous sockets with an allowed Origin) and this
  controller (the K senders, JWT on the handshake), CPU 1.

Chat text is "bench <seq> <send time ns>": a viewer counts a gap for every accepted message
it never got, out-of-order for every message older than one it already had, and latency as
receive time minus send time (one clock: the same machine). "Accepted" is every sequence
number that reached any sender socket (the senders are in the room too); "refused" counts
the server's `rate_limited` (or other) errors to senders.
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
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench.common import (  # noqa: E402
    LATENCY_BUCKET_US,
    CpuWindow,
    Server,
    add_phase_arguments,
    add_run_arguments,
    bench_environment,
    bench_main,
    check_phase_arguments,
    fmt,
    join_signed_in,
    median,
    open_viewers,
    phase_plan,
    quantile,
    ratio,
    ratio_table,
    rss_mb,
    run_and_report,
    run_setup,
    socket_path,
    spread,
    start_load,
    start_profiler,
)

CHAT_PER_SENDER_PER_10S = 4  # the product allows 5 per 10 s per user and room: stay under it
TEXT_PATTERN = re.compile(rb'"text": ?"bench (\d+) (\d+)"')


# --- the viewer load process ----------------------------------------------------------------


async def viewers_main(config: dict) -> None:
    """Open `count` viewer sockets, say READY, count chat until told STOP, print RESULT."""
    import websockets

    url, count = config["url"], config["count"]
    received: list[list[int]] = []
    histogram: dict[int, int] = {}
    closed_early = 0
    stopping = False

    async def read(ws, seqs: list[int]) -> None:
        nonlocal closed_early
        try:
            while True:
                # Undecoded: the load side's own CPU is part of the measured delay.
                data = await ws.recv(decode=False)
                now = time.time_ns()
                # A chat-batch frame carries several lines; viewer-count and the like none.
                for match in TEXT_PATTERN.finditer(data):
                    seqs.append(int(match.group(1)))
                    bucket = (now - int(match.group(2))) // (LATENCY_BUCKET_US * 1000)
                    histogram[bucket] = histogram.get(bucket, 0) + 1
        except websockets.WebSocketException:
            pass
        if not stopping:
            closed_early += 1

    sockets, failed = await open_viewers(url, config["origin"], count, config["concurrency"])
    readers = []
    for ws in sockets:
        seqs: list[int] = []
        received.append(seqs)
        readers.append(asyncio.create_task(read(ws, seqs)))
    print(f"READY {len(sockets)} {failed}", flush=True)

    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stopping = True
    accepted = set(json.loads(Path(line.split(" ", 1)[1].strip()).read_text()))
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    gaps = late = out_of_order = interleaved = duplicates = delivered = 0
    senders = max(1, config["senders"])
    for seqs in received:
        got = set(seqs)
        delivered += len(seqs)
        duplicates += len(seqs) - len(got)
        missing = accepted - got
        # A hole before the newest message this viewer has is a gap (lost or skipped); the
        # missing tail is still in flight when the run stopped: not delivered in time.
        newest = max(got, default=-1)
        holes = sum(1 for seq in missing if seq < newest)
        gaps += holes
        late += len(missing) - holes
        # Senders take turns (seq % K is the sender). The room has one order, the server's;
        # it may interleave different senders' lines otherwise than they were sent (each
        # frame is handled on its own), but one sender's lines must keep their order.
        highest: dict[int, int] = {}
        for seq in seqs:
            if seq < highest.get(seq % senders, -1):
                out_of_order += 1
            else:
                highest[seq % senders] = seq
        highest_any = -1
        for seq in seqs:
            if seq < highest_any:
                interleaved += 1
            highest_any = max(highest_any, seq)
    result = {
        "connected": len(sockets),
        "failed": failed,
        "closed_early": closed_early,
        "delivered": delivered,
        "gaps": gaps,
        "late": late,
        "out_of_order": out_of_order,
        "interleaved": interleaved,
        "duplicates": duplicates,
        "histogram": histogram,
    }
    print("RESULT " + json.dumps(result), flush=True)


# --- the controller ---------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    app: str  # "product" or "baseline"
    viewers: int
    repeat: int
    room_id: str
    figures: dict = field(default_factory=dict)


async def run_phase(phase: Phase, args, server: Server, tokens: list[str], redis_pid, workdir):
    import websockets

    base = f"ws://127.0.0.1:{server.port}"
    # The product's viewers take chat-batch frames, as the website does (rooms/hub.py); the
    # senders' sockets do not, so they see each of their lines come back on its own.
    path = socket_path(phase)
    viewer_path = path if phase.app == "baseline" else path + "?batch=chat"
    load_cpu = 1 if args.pin else None
    loads = []
    for count in spread(phase.viewers, args.load_procs):
        config = {
            "url": base + viewer_path,
            "origin": f"http://127.0.0.1:{server.port}",
            "count": count,
            "concurrency": args.connect_concurrency,
            "senders": len(tokens),
        }
        loads.append(await start_load(__file__, "_viewers", config, load_cpu))
    for process in loads:
        line = (await asyncio.wait_for(process.stdout.readline(), 600)).decode()
        if not line.startswith("READY"):
            raise RuntimeError(f"a viewer process failed to start: {line!r}")

    senders = [await join_signed_in(base + path, token) for token in tokens]
    accepted: set[int] = set()
    refused = 0

    async def sender_reader(ws) -> None:
        nonlocal refused
        try:
            async for raw in ws:
                data = raw.encode() if isinstance(raw, str) else raw
                match = TEXT_PATTERN.search(data)
                if match is not None:
                    accepted.add(int(match.group(1)))
                elif b'"type": "error"' in data or b'"type":"error"' in data:
                    refused += 1
        except websockets.WebSocketException:
            pass

    readers = [asyncio.create_task(sender_reader(ws)) for ws in senders]
    await asyncio.sleep(args.settle)  # let the join storm (viewer counts) pass

    cpu = CpuWindow(server.process.pid, *(p.pid for p in loads), redis_pid)
    profiler = None
    if args.profile and phase.app == "product" and phase.figures.get("profile"):
        profiler = start_profiler(server.process.pid, args.profile, load_cpu, args.seconds)

    total = int(args.rate * args.seconds)
    started = time.monotonic()
    for seq in range(total):
        delay = started + seq / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"bench {seq} {time.time_ns()}"
        await senders[seq % len(senders)].send(json.dumps({"type": "chat-message", "text": text}))
    send_window = max(time.monotonic() - started, 1e-9)
    await asyncio.sleep(max(0.0, args.seconds - send_window))
    window = time.monotonic() - started
    cpu_used, others = cpu.read()
    rss = rss_mb(server.process.pid)
    await asyncio.sleep(args.grace)  # stragglers still count (their latency says how late)
    if profiler is not None:
        profiler.wait(timeout=60)

    # What every viewer should have: every message sent when the server refused none, else
    # those that reached a sender socket (the refused ones cannot be told apart).
    expected_seqs = sorted(accepted) if refused else list(range(total))
    reference = Path(workdir) / f"accepted-{os.getpid()}-{id(phase)}.json"
    reference.write_text(json.dumps(expected_seqs))
    merged: dict = {"histogram": {}}
    for process in loads:
        process.stdin.write(f"STOP {reference}\n".encode())
        await process.stdin.drain()
    for process in loads:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 300)).decode()
            if not line:
                raise RuntimeError("a viewer process died before reporting")
            if line.startswith("RESULT "):
                break
        result = json.loads(line[len("RESULT ") :])
        await process.wait()
        for key, value in result.items():
            if key == "histogram":
                for bucket, n in value.items():
                    merged["histogram"][int(bucket)] = merged["histogram"].get(int(bucket), 0) + n
            else:
                merged[key] = merged.get(key, 0) + value
    for task in readers:
        task.cancel()
    for ws in senders:
        await ws.close()

    load_cpu_used = sum(cpu_used[p.pid] for p in loads)
    phase.figures.update(
        {
            "connected": merged["connected"],
            "connect_failed": merged["failed"],
            "closed_early": merged["closed_early"],
            "sent": total,
            "send_seconds": send_window,
            "accepted": len(accepted),
            "refused": refused,
            "delivered": merged["delivered"],
            "expected": len(expected_seqs) * merged["connected"],
            "gaps": merged["gaps"],
            "late": merged["late"],
            "out_of_order": merged["out_of_order"],
            "interleaved": merged["interleaved"],
            "duplicates": merged["duplicates"],
            "p50": quantile(merged["histogram"], 0.50),
            "p95": quantile(merged["histogram"], 0.95),
            "p99": quantile(merged["histogram"], 0.99),
            "deliveries_per_s": merged["delivered"] / window,
            "server_cpu": cpu_used[server.process.pid] / window,
            "server_rss": rss,
            "redis_cpu": cpu_used.get(redis_pid, 0.0) / window if redis_pid else None,
            "load_cpu": load_cpu_used / window,
            "others_cpu": others / window,
        }
    )


def cpu_per_k(m: dict) -> float | None:
    """Server CPU-seconds per 1,000 deliveries."""
    if not m["deliveries_per_s"] or m["server_cpu"] is None:
        return None
    return 1000 * m["server_cpu"] / m["deliveries_per_s"]


def summarise(phases: list[Phase], args) -> str:
    keys = sorted({(p.server, p.viewers, p.app) for p in phases}, key=lambda k: (k[0], k[1]))
    order = {"product": 0, "baseline": 1}
    keys.sort(key=lambda k: (k[0], k[1], order.get(k[2], 9)))
    names = [
        "p50",
        "p95",
        "p99",
        "deliveries_per_s",
        "server_cpu",
        "server_rss",
        "redis_cpu",
        "load_cpu",
        "others_cpu",
    ]
    counts = [
        "delivered",
        "expected",
        "gaps",
        "late",
        "out_of_order",
        "interleaved",
        "refused",
        "connect_failed",
    ]
    medians: dict[tuple, dict] = {}
    for key in keys:
        runs = [p.figures for p in phases if (p.server, p.viewers, p.app) == key]
        medians[key] = {name: median([r.get(name) for r in runs]) for name in names + counts}
        medians[key]["runs"] = len(runs)
        medians[key]["worst_gaps"] = max(r["gaps"] for r in runs)
        medians[key]["worst_late"] = max(r["late"] for r in runs)
        medians[key]["worst_p99"] = max((r["p99"] or 0) for r in runs)
    lines = [
        f"room_fanout: M={args.rate:g} msg/s from K={args.senders} senders, T={args.seconds:g} s, "
        f"grace {args.grace:g} s, {args.repeat} run(s) each (medians; worst p99 and gaps in "
        f"brackets), {platform.node()}, {os.cpu_count()} cores, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| server | app | N | runs | delivered | expected | gaps | not in time | out-of-order | "
        "interleaved | refused | "
        "p50 ms | p95 ms | p99 ms | deliveries/s | server CPU | server RSS MB | redis CPU | "
        "load CPU | other tenants CPU | verdict |",
        "| --- | --- " + "| ---: " * 18 + "| --- |",
    ]
    for key in keys:
        m = medians[key]
        ok = not m["worst_gaps"] and not m["worst_late"] and m["p99"] is not None
        ok = ok and m["p99"] < 200
        verdict = "ok" if ok else "falls over"
        if m["connect_failed"]:
            verdict += f" ({m['connect_failed']:.0f} sockets failed to connect)"
        lines.append(
            f"| {key[0]} | {key[2]} | {key[1]} | {m['runs']} | {fmt(m['delivered'], '.0f')} | "
            f"{fmt(m['expected'], '.0f')} | {fmt(m['gaps'], '.0f')} [{m['worst_gaps']}] | "
            f"{fmt(m['late'], '.0f')} [{m['worst_late']}] | "
            f"{fmt(m['out_of_order'], '.0f')} | {fmt(m['interleaved'], '.0f')} | "
            f"{fmt(m['refused'], '.0f')} | "
            f"{fmt(m['p50'])} | {fmt(m['p95'])} | {fmt(m['p99'])} [{m['worst_p99']:.1f}] | "
            f"{fmt(m['deliveries_per_s'], '.0f')} | {fmt(m['server_cpu'], '.2f')} | "
            f"{fmt(m['server_rss'], '.0f')} | {fmt(m['redis_cpu'], '.2f')} | "
            f"{fmt(m['load_cpu'], '.2f')} | {fmt(m['others_cpu'], '.2f')} | {verdict} |"
        )
    ratio_rows = []
    for server, viewers in sorted({(k[0], k[1]) for k in keys}):
        product = medians.get((server, viewers, "product"))
        baseline = medians.get((server, viewers, "baseline"))
        if not product or not baseline:
            continue

        a, b = cpu_per_k(product), cpu_per_k(baseline)
        ratio_rows.append(
            f"| {server} | {viewers} | {ratio(product, baseline, 'deliveries_per_s')} | "
            f"{ratio(product, baseline, 'p99')} | {ratio(product, baseline, 'server_cpu')} | "
            f"{fmt(a, '.3f')} / {fmt(b, '.3f')} | {ratio(product, baseline, 'server_rss')} |"
        )
    lines += ratio_table(
        "Product / baseline (same server, layer and load; >1x deliveries/s is better, "
        "<1x p99 and CPU is better):",
        "| server | N | deliveries/s | p99 | server CPU | server CPU-s per 1k deliveries "
        "(product / baseline) | RSS |",
        ratio_rows,
    )
    return "\n".join(lines) + "\n"


def progress(phase: Phase) -> str:
    """What a finished phase says on stderr."""
    f = phase.figures
    return (
        f"{phase.server} {phase.app} N={phase.viewers} run {phase.repeat + 1}: "
        f"delivered {f['delivered']}/{f['expected']}, gaps {f['gaps']}, "
        f"p99 {fmt(f['p99'])} ms, {f['deliveries_per_s']:.0f}/s, "
        f"server CPU {f['server_cpu']:.2f}"
    )


async def controller(args) -> int:
    redis_url = args.redis_url or os.environ.get("REDIS_URL", "")
    with bench_environment("room_fanout", redis_url, args.pin) as (workdir, env, redis_pid):
        plan = phase_plan(args, args.viewers)
        try:
            made = run_setup(env, rooms=len(plan), senders=args.senders)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        phases = [
            Phase(server=s, app=a, viewers=n, repeat=r, room_id=room)
            for (s, r, n, a), room in zip(plan, made["rooms"], strict=True)
        ]
        return await run_and_report(
            "room_fanout",
            phases,
            args,
            env,
            size="viewers",
            measure=lambda phase, server: run_phase(
                phase, args, server, made["tokens"], redis_pid, workdir
            ),
            progress=progress,
            summarise=summarise,
        )


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="100,500", help="N values, comma-separated")
    parser.add_argument("--rate", type=float, default=20, help="M: chat messages per second")
    parser.add_argument(
        "--senders", type=int, default=0, help="K (default: enough to stay under the limit)"
    )
    parser.add_argument("--seconds", type=float, default=20, help="T: sending time")
    add_phase_arguments(parser)
    parser.add_argument(
        "--load-procs", type=int, default=0, help="viewer processes (default N/500)"
    )
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after joining")
    parser.add_argument("--grace", type=float, default=3.0, help="seconds to wait for stragglers")
    add_run_arguments(parser, server_log=False, profile="py-spy the product server: PREFIX")
    parser.add_argument("--quick", action="store_true", help="N=5, 2 msg/s, 3 s (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.viewers, args.rate, args.seconds, args.grace, args.settle = "5", 2, 3, 2, 1
    args.viewers = [int(n) for n in str(args.viewers).split(",") if n]
    check_phase_arguments(parser, args)
    if args.senders <= 0:
        args.senders = max(1, math.ceil(args.rate * 10 / CHAT_PER_SENDER_PER_10S))
    if args.load_procs <= 0:
        args.load_procs = max(1, math.ceil(max(args.viewers) / 500))
    return args


if __name__ == "__main__":
    sys.exit(bench_main("_viewers", viewers_main, parse_args, controller))
