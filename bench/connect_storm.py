"""Connect storm: N viewer sockets connecting to one room within S seconds; how many are
accepted, how many fail and why, how long until all have joined, and the server's RSS per
idle socket once they have.

Every run measures the product's room socket (`/ws/rooms/<id>/`: gatekeeper, room query,
store joins, `room-state` with the chat history, viewer-count announcements) and, in the
same invocation under the same server and Redis, the plain-Channels baseline
(`bench/baseline_app.py`: gatekeeper, `group_add`, `accept`, a small `room-state`). See
bench/README.md.

    .venv/bin/python bench/connect_storm.py                       # 2,000 in 10 s; 5,000 in 25 s
    .venv/bin/python bench/connect_storm.py --sockets 2000 --within 10 --servers daphne,uvicorn
    .venv/bin/python bench/connect_storm.py --quick               # N=30 in 1 s (smoke)

Each phase (server, app, N): the server starts (pinned to CPU 0, production settings) and
serves one warm-up socket; its RSS is read once it is idle ("RSS before"). The load
processes (CPU 1) then start socket i at i*S/N seconds (no retries: a failure is counted,
with its kind), each given `--timeout` seconds for the handshake and `room-state`. A socket
has **joined** when its `room-state` arrived. Once every attempt has ended, the sockets stay
open and idle (their readers drain what the server still sends); when the server has gone
quiet and `--idle` seconds more have passed, its RSS is read again: RSS per idle socket is
(RSS idle - RSS before) / accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import json
import math
import os
import platform
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
    cpu_seconds,
    fmt,
    in_table_order,
    open_viewers,
    phase_plan,
    quantile_of,
    ratio_rows,
    ratio_table,
    rss_mb,
    run_and_report,
    run_setup,
    socket_path,
    start_load,
    wait_until_idle,
)

TARGET_RSS_MB = 1024  # issue 8: 5,000 idle sockets in under 1 GB
JOIN_SLACK_S = 1.0  # "within S seconds": the last attempt starts at S, and may take this long


# --- the storm load process -----------------------------------------------------------------


def failure_kind(exc: BaseException) -> str:
    """A short, stable name for why a socket did not join."""
    import websockets

    if isinstance(exc, websockets.InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, websockets.ConnectionClosed):
        return f"closed {exc.rcvd.code if exc.rcvd else 'without a close frame'}"
    if isinstance(exc, OSError):
        return f"OSError {exc.errno}"
    return type(exc).__name__


async def storm_main(config: dict) -> None:
    """Socket i (i = first, first + step, ... < total) starts at GO time + i * within / total.
    Prints READY, waits for `GO <start ns>`, prints DONE when every attempt has ended,
    then holds the joined sockets idle until STOP, prints RESULT and exits."""
    import websockets

    total, within, timeout = config["total"], config["within"], config["timeout"]
    mine = range(config["first"], total, config["step"])
    outcomes: collections.Counter = collections.Counter()
    join_ms: list[float] = []
    last_join_ns = 0
    sockets: list = []
    closed_while_idle = 0
    stopping = False
    loop = asyncio.get_running_loop()

    async def drain(ws) -> None:
        nonlocal closed_while_idle
        try:
            async for _raw in ws:
                pass  # viewer-count and the like
        except websockets.WebSocketException:
            pass
        if not stopping:
            closed_while_idle += 1

    async def attempt(i: int, start_ns: int) -> None:
        nonlocal last_join_ns
        due = start_ns + int(i * within * 1e9 / total)
        await asyncio.sleep(max(0.0, (due - time.time_ns()) / 1e9))
        began = time.time_ns()
        try:
            async with asyncio.timeout(timeout):
                ws = await websockets.connect(
                    config["url"],
                    origin=config["origin"],
                    open_timeout=None,  # the whole attempt has `timeout`
                    max_queue=None,
                    ping_interval=None,
                    compression=None,
                )
                try:
                    await ws.recv()  # room-state
                except BaseException:
                    ws.transport.abort()
                    raise
        except Exception as exc:
            outcomes[failure_kind(exc)] += 1
            return
        joined = time.time_ns()
        outcomes["accepted"] += 1
        join_ms.append((joined - began) / 1e6)
        last_join_ns = max(last_join_ns, joined)
        sockets.append(ws)
        readers.append(asyncio.create_task(drain(ws)))

    readers: list[asyncio.Task] = []
    print("READY", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    start_ns = int(line.split()[1])
    await asyncio.gather(*(attempt(i, start_ns) for i in mine))
    print("DONE", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # STOP
    stopping = True
    result = {
        "outcomes": dict(outcomes),
        "join_ms": join_ms,
        "last_join_ns": last_join_ns,
        "closed_while_idle": closed_while_idle,
    }
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # the server is stopped next: no need to close thousands of sockets politely


# --- the controller ---------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    app: str  # "product" or "baseline"
    sockets: int
    within: float
    repeat: int
    room_id: str
    figures: dict = field(default_factory=dict)


async def expect(process, word: str, timeout: float) -> str:
    line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
    if not line.startswith(word):
        raise RuntimeError(f"a load process said {line[:200]!r}, not {word}")
    return line


async def run_phase(phase: Phase, args, server: Server, redis_pid) -> None:
    base = f"ws://127.0.0.1:{server.port}"
    path = socket_path(phase)
    origin = f"http://127.0.0.1:{server.port}"

    # One socket first, so that "RSS before" holds what the first connect loads (modules,
    # database connections), not the idle sockets' share.
    warm, failed = await open_viewers(base + path, origin, 1, 1)
    if failed:
        raise RuntimeError(f"the warm-up socket could not join {base + path}")
    await warm[0].close()
    await asyncio.to_thread(wait_until_idle, server.process.pid, timeout=args.settle_timeout)
    rss_before = rss_mb(server.process.pid)
    redis_before = rss_mb(redis_pid) if redis_pid else None

    procs = max(1, math.ceil(phase.sockets / args.per_process))
    loads = []
    for first in range(procs):
        config = {
            "url": base + path,
            "origin": origin,
            "first": first,
            "step": procs,
            "total": phase.sockets,
            "within": phase.within,
            "timeout": args.timeout,
        }
        loads.append(await start_load(__file__, "_storm", config, 1 if args.pin else None))
    for process in loads:
        await expect(process, "READY", 60)

    cpu = CpuWindow(server.process.pid, *(p.pid for p in loads), redis_pid)
    start_ns = time.time_ns() + 200_000_000  # every load process has it before it is due
    for process in loads:
        process.stdin.write(f"GO {start_ns}\n".encode())
        await process.stdin.drain()
    for process in loads:
        await expect(process, "DONE", phase.within + args.timeout + 60)
    storm_s = (time.time_ns() - start_ns) / 1e9
    cpu_used, others = cpu.read()

    settled_s = await asyncio.to_thread(
        wait_until_idle, server.process.pid, timeout=args.settle_timeout
    )
    idle_cpu_start = cpu_seconds(server.process.pid)
    await asyncio.sleep(args.idle)
    idle_cpu = (cpu_seconds(server.process.pid) - idle_cpu_start) / args.idle
    rss_idle = rss_mb(server.process.pid)
    redis_idle = rss_mb(redis_pid) if redis_pid else None

    outcomes: collections.Counter = collections.Counter()
    join_ms: list[float] = []
    last_join_ns = 0
    closed_while_idle = 0
    for process in loads:
        process.stdin.write(b"STOP\n")
        await process.stdin.drain()
    for process in loads:
        result = json.loads((await expect(process, "RESULT", 120))[len("RESULT ") :])
        await process.wait()
        outcomes.update(result["outcomes"])
        join_ms += result["join_ms"]
        last_join_ns = max(last_join_ns, result["last_join_ns"])
        closed_while_idle += result["closed_while_idle"]

    accepted = outcomes.pop("accepted", 0)
    phase.figures.update(
        {
            "accepted": accepted,
            "failed": sum(outcomes.values()),
            "failures": dict(outcomes),
            "closed_while_idle": closed_while_idle,
            "join_p50": quantile_of(join_ms, 0.50),
            "join_p99": quantile_of(join_ms, 0.99),
            "join_max": max(join_ms, default=None),
            "all_joined_s": (last_join_ns - start_ns) / 1e9 if accepted else None,
            "storm_s": storm_s,
            "server_cpu": cpu_used[server.process.pid] / storm_s,
            "cpu_ms_per_connect": 1000 * cpu_used[server.process.pid] / accepted
            if accepted
            else None,
            "load_cpu": sum(cpu_used[p.pid] for p in loads) / storm_s,
            "others_cpu": others / storm_s,
            "settled_s": settled_s,
            "idle_server_cpu": idle_cpu,
            "rss_before": rss_before,
            "rss_idle": rss_idle,
            "kb_per_socket": 1024 * (rss_idle - rss_before) / accepted if accepted else None,
            "redis_mb": (redis_idle - redis_before) if redis_pid else None,
        }
    )


def verdict(phase: Phase) -> str:
    f = phase.figures
    problems = []
    if f["failed"]:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(f["failures"].items()))
        problems.append(f"{f['failed']} failed: {kinds}")
    if f["all_joined_s"] is not None and f["all_joined_s"] > phase.within + JOIN_SLACK_S:
        problems.append(f"all joined only after {f['all_joined_s']:.1f} s")
    if f["rss_idle"] >= TARGET_RSS_MB:
        problems.append("RSS over 1 GB")
    if f["closed_while_idle"]:
        problems.append(f"{f['closed_while_idle']} closed while idle")
    return "; ".join(problems) or "ok"


def summarise(phases: list[Phase], args) -> str:
    lines = [
        f"connect_storm: socket i starts at i*S/N s, no retries, {args.timeout:g} s per "
        f"attempt; RSS after {args.idle:g} s idle; {platform.node()}, {os.cpu_count()} cores, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        "| server | app | N | within s | run | accepted | failed | join p50 ms | join p99 ms | "
        "join max ms | all joined at s | server CPU (storm) | server CPU ms/connect | "
        "RSS before MB | RSS idle MB | RSS per idle socket KB | redis +MB | "
        "idle server CPU | load CPU | other tenants CPU | verdict |",
        "| --- | --- " + "| ---: " * 18 + "| --- |",
    ]
    phases = in_table_order(phases, "sockets")
    for p in phases:
        f = p.figures
        lines.append(
            f"| {p.server} | {p.app} | {p.sockets} | {p.within:g} | {p.repeat + 1} | "
            f"{f['accepted']} | {f['failed']} | {fmt(f['join_p50'])} | {fmt(f['join_p99'])} | "
            f"{fmt(f['join_max'])} | {fmt(f['all_joined_s'], '.2f')} | "
            f"{fmt(f['server_cpu'], '.2f')} | {fmt(f['cpu_ms_per_connect'], '.2f')} | "
            f"{fmt(f['rss_before'], '.0f')} | {fmt(f['rss_idle'], '.0f')} | "
            f"{fmt(f['kb_per_socket'], '.0f')} | {fmt(f['redis_mb'], '.1f')} | "
            f"{fmt(f['idle_server_cpu'], '.2f')} | {fmt(f['load_cpu'], '.2f')} | "
            f"{fmt(f['others_cpu'], '.2f')} | {verdict(p)} |"
        )
    lines += ratio_table(
        "Product / baseline (same server, Redis and storm; <1x is better):",
        "| server | N | run | join p99 | all joined at | server CPU per connect | "
        "RSS per idle socket |",
        ratio_rows(
            phases, "sockets", ["join_p99", "all_joined_s", "cpu_ms_per_connect", "kb_per_socket"]
        ),
    )
    return "\n".join(lines) + "\n"


def progress(phase: Phase) -> str:
    """What a finished phase says on stderr."""
    f = phase.figures
    return (
        f"{phase.server} {phase.app} N={phase.sockets} in {phase.within:g} s run "
        f"{phase.repeat + 1}: accepted {f['accepted']}, failed {f['failures']}, all "
        f"joined at {fmt(f['all_joined_s'], '.2f')} s, RSS {f['rss_before']:.0f} -> "
        f"{f['rss_idle']:.0f} MB"
    )


async def controller(args) -> int:
    redis_url = args.redis_url or os.environ.get("REDIS_URL", "")
    with bench_environment("connect_storm", redis_url, args.pin) as (_workdir, env, redis_pid):
        plan = phase_plan(args, list(zip(args.sockets, args.within, strict=True)))
        try:
            made = run_setup(env, rooms=len(plan), senders=0)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        phases = [
            Phase(server=s, app=a, sockets=n, within=w, repeat=r, room_id=room)
            for (s, r, (n, w), a), room in zip(plan, made["rooms"], strict=True)
        ]
        return await run_and_report(
            "connect_storm",
            phases,
            args,
            env,
            size="sockets",
            measure=lambda phase, server: run_phase(phase, args, server, redis_pid),
            progress=progress,
            summarise=summarise,
        )


def _numbers(parser, text: str, name: str, kind=float) -> list:
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        parser.error(f"{name} takes numbers, comma-separated")
    if not values:
        parser.error(f"{name} needs at least one value")
    return values


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", default="2000,5000", help="N values, comma-separated")
    parser.add_argument(
        "--within",
        default="10,25",
        help="S seconds for each N (one value: the same S for every N; 0: all at once)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per attempt")
    parser.add_argument("--idle", type=float, default=5.0, help="idle seconds before RSS")
    add_phase_arguments(parser)
    parser.add_argument(
        "--per-process", type=int, default=500, help="sockets per load process (default 500)"
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=60.0,
        help="at most this long for the server to go idle (before and after the storm)",
    )
    add_run_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="N=30 in 1 s (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sockets, args.within, args.idle, args.settle_timeout = "30", "1", 1, 10
    args.sockets = _numbers(parser, args.sockets, "--sockets", int)
    args.within = _numbers(parser, args.within, "--within")
    if len(args.within) == 1:
        args.within *= len(args.sockets)
    if len(args.within) != len(args.sockets):
        parser.error("--within takes one value, or one per --sockets value")
    if min(args.sockets) < 1 or min(args.within) < 0:
        parser.error("--sockets must be 1 or more and --within 0 or more")
    if args.timeout <= 0 or args.idle <= 0 or args.per_process < 1 or args.repeat < 1:
        parser.error("--timeout, --idle, --per-process and --repeat must be positive")
    check_phase_arguments(parser, args)
    return args


if __name__ == "__main__":
    sys.exit(bench_main("_storm", storm_main, parse_args, controller))
