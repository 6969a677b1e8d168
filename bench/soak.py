"""Issue 9's bounded load runs, one after another, each judged against its pass condition:

a. fan-out: N viewer sockets in one room (500) get every chat line of a T-second burst (60 s,
   20 lines/s), in order, none missing (bench/room_fanout.py's run, the production server);
   after everyone left, the room's viewer count is back to 0;
b. flash sale: B buyers (400) check out at once over HTTP for U units (20): exactly U orders,
   0 oversold, no 5xx (bench/checkout_race.py's run);
c. restart: V viewer sockets (200) in one room; a few chat lines; the server process is
   restarted (SIGTERM and start again, as a deploy; and/or SIGKILL, as a crash); every client
   reconnects with the website's policy (static/js/room.js `scheduleReconnect`) and comes back;
   the history each gets in its new `room-state`, merged with what it had by message `id` (as
   room.js does), holds no duplicate and loses no line; lines sent afterwards reach everyone;
   after everyone left, the viewer count is back to 0.

    .venv/bin/python bench/soak.py                 # the full sizes (make soak; ~5 min)
    .venv/bin/python bench/soak.py --quick         # a smoke run (~40 s)
    .venv/bin/python bench/soak.py --only restart --restart kill

Prints a markdown table (one row per pass condition) and writes it to
bench/results/soak-<date>-<commit>.md (or `--out`). Exit status 1 if any condition failed.

What runs where (pinned on 2+ cores, as the other socket benchmarks): the server under test on
CPU 0; our redis-server, the viewer processes and this controller on CPU 1. Every part uses
Redis (a private redis-server unless `--redis-url`). a and c: production settings (DEBUG off),
a SQLite file; b is checkout_race.py's run as it is (its own Redis and databases,
`--databases`; DEBUG on for the dummy payment backend).
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
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from bench import checkout_race, room_fanout  # noqa: E402
from bench.common import (  # noqa: E402
    PinnedServer,
    Server,
    bench_environment,
    fmt,
    quantile_of,
    raise_open_files_limit,
    run_setup,
)

PRODUCTION_SERVER = "uvicorn-sansio"  # bench/common.py's name for liveshop/serve.py's uvicorn
# static/js/room.js `scheduleReconnect`: the ceiling doubles from 1 s up to 30 s; the delay is
# uniformly random in [ceiling / 2, ceiling]; the attempt count starts again at room-state.
MIN_DELAY_S = 1.0
MAX_DELAY_S = 30.0
# RedisRoomStore (rooms/store.py, default prefix): a hash of viewer -> open sockets; HLEN is
# the room's viewer_count.
VIEWERS_KEY = "liveshop:rooms:{room}:viewers"


@dataclass
class Check:
    part: str
    condition: str
    measured: str
    ok: bool


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, part: str, condition: str, measured: str, ok: bool) -> None:
        self.checks.append(Check(part, condition, measured, bool(ok)))
        print(f"[{'PASS' if ok else 'FAIL'}] {part}: {condition}: {measured}", file=sys.stderr)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(text, file=sys.stderr, flush=True)


def reconnect_delay(attempt: int) -> float:
    """room.js scheduleReconnect's delay before connection attempt `attempt` + 1, seconds."""
    ceiling = min(MAX_DELAY_S, MIN_DELAY_S * 2**attempt)
    return ceiling / 2 + random.random() * ceiling / 2


def max_in_window(times: list[float], width: float = 0.1) -> int:
    """The most events in any window [t, t + width)."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


VIEWER_TTL_SECONDS = 5


def viewers_in_store(redis_url: str, room: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.hlen(VIEWERS_KEY.format(room=room)))
    finally:
        client.close()


async def settle_viewer_count(redis_url: str, room: str, timeout: float) -> tuple[int, float]:
    """Wait until the store counts no viewer in the room (the servers run their disconnect
    handlers after the sockets closed), at most `timeout` s: (count, seconds waited)."""
    started = time.monotonic()
    while True:
        count = viewers_in_store(redis_url, room)
        if count == 0 or time.monotonic() - started > timeout:
            return count, time.monotonic() - started
        await asyncio.sleep(0.25)


async def fresh_viewer_count(base_ws: str, origin: str, room: str) -> int | None:
    """The `viewer_count` of a new anonymous socket's room-state (it counts itself)."""
    import websockets

    async with websockets.connect(
        f"{base_ws}/ws/rooms/{room}/", origin=origin, open_timeout=30, compression=None
    ) as ws:
        state = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return state.get("viewer_count") if state.get("type") == "room-state" else None


async def check_viewers_left(report: Report, part: str, redis_url, room, base_ws, origin, wait):
    left, waited = await settle_viewer_count(redis_url, room, wait)
    if left:  # a killed server's viewers: healed by the next viewer call after the TTL
        await asyncio.sleep(max(0.0, VIEWER_TTL_SECONDS - waited))
    fresh = await fresh_viewer_count(base_ws, origin, room)
    after = await settle_viewer_count(redis_url, room, wait)
    report.check(
        part,
        "viewer count back to 0 after all left (store HLEN, which a killed server's viewers "
        f"keep until the next viewer call after the {VIEWER_TTL_SECONDS} s TTL; a fresh "
        "socket's room-state viewer_count counts itself, so 1)",
        f"store {left} (after {waited:.1f} s); fresh socket {fresh}; store after it left "
        f"{after[0]}",
        fresh == 1 and after[0] == 0,
    )


# --- a. fan-out ---------------------------------------------------------------------------


async def fanout_part(args, report: Report, env, made, room, redis_url, redis_pid, workdir):
    argv = ["--viewers", str(args.viewers), "--rate", f"{args.rate:g}"]
    argv += ["--seconds", f"{args.seconds:g}", "--servers", PRODUCTION_SERVER, "--apps", "product"]
    argv += ["--senders", str(args.senders), "--grace", f"{args.grace:g}"]
    argv += ["--settle", f"{args.settle:g}"] + ([] if args.pin else ["--no-pin"])
    fan_args = room_fanout.parse_args(argv)
    phase = room_fanout.Phase(
        server=PRODUCTION_SERVER, app="product", viewers=args.viewers, repeat=0, room_id=room
    )
    server = Server(
        PRODUCTION_SERVER, env, 0 if args.pin else None, "liveshop.asgi:application", args.log
    )
    server.start()
    try:
        await room_fanout.run_phase(phase, fan_args, server, made["tokens"], redis_pid, workdir)
        f = phase.figures
        part = f"a. fan-out {args.viewers} x {args.seconds:g} s"
        report.note(
            f"{part}: {f['sent']} lines at {args.rate:g}/s from {args.senders} senders; "
            f"p50 {fmt(f['p50'])} ms, p99 {fmt(f['p99'])} ms, {f['deliveries_per_s']:.0f} "
            f"deliveries/s, server CPU {f['server_cpu']:.2f} core, RSS {f['server_rss']:.0f} MB, "
            f"other tenants {f['others_cpu']:.2f} core; refused by the server {f['refused']}, "
            f"not in time {f['late']}, duplicates {f['duplicates']}, interleaved "
            f"{f['interleaved']}, closed early {f['closed_early']}"
        )
        report.check(
            part,
            "every viewer connected",
            f"{f['connected']} / {args.viewers} ({f['connect_failed']} failed)",
            f["connected"] == args.viewers,
        )
        report.check(
            part,
            "delivered == expected, 0 gaps, 0 out of order",
            f"{f['delivered']:,} / {f['expected']:,}, gaps {f['gaps']}, out of order "
            f"{f['out_of_order']}",
            f["delivered"] == f["expected"] == f["sent"] * args.viewers
            and f["gaps"] == 0
            and f["out_of_order"] == 0
            and f["duplicates"] == 0,
        )
        base = f"ws://127.0.0.1:{server.port}"
        await check_viewers_left(
            report, part, redis_url, room, base, f"http://127.0.0.1:{server.port}", args.leave_wait
        )
    finally:
        server.stop()


# --- b. flash sale ------------------------------------------------------------------------


def checkout_part(args, report: Report) -> None:
    for database in args.databases:
        result = checkout_race.one_run(
            database, "uvicorn", args.buyers, args.units, args.postgres_url, args.log
        )
        part = f"b. flash sale {args.buyers} buyers / {args.units} units, {database}"
        statuses = result["statuses"]
        server_errors = sum(n for label, n in statuses.items() if label[:1] == "5")
        failed = sum(n for label, n in statuses.items() if label.startswith("failed"))
        answers = ", ".join(f"{label}: {n}" for label, n in statuses.items())
        report.note(
            f"{part}: answers {answers}; race {result['seconds']} s, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, server CPU {result.get('server_cpu')}, other tenants "
            f"{result.get('other_cpu')}"
        )
        report.check(
            part,
            "exactly U orders, 0 oversold",
            f"{result['orders']} orders, {result['units_sold']} units sold, final stock "
            f"{result['final_stock']}, oversold {result['oversold']}, most orders by one buyer "
            f"{result['orders_per_buyer_max']}",
            result["orders"] == result["units_sold"] == args.units
            and result["oversold"] == 0
            and result["final_stock"] == 0
            and result["orders_per_buyer_max"] <= 1,
        )
        report.check(
            part,
            "no 5xx, every buyer answered",
            f"5xx {server_errors}, no answer {failed} ({answers})",
            server_errors == 0 and failed == 0,
        )


# --- c. restart -------------------------------------------------------------------------


@dataclass
class Viewer:
    number: int
    ws: object = None  # the open socket
    had: dict = field(default_factory=dict)  # message id -> text, what the client shows
    joined: bool = False
    closes: list = field(default_factory=list)  # (time, code)
    attempts: list = field(default_factory=list)  # times of reconnect attempts
    failures: collections.Counter = field(default_factory=collections.Counter)
    arrivals: list = field(default_factory=list)  # times a room-state came after a close
    replay_duplicate_ids: int = 0
    merged_duplicate_texts: int = 0
    replay_missing: int = 0
    live_duplicates: int = 0


async def restart_part(args, report, env, made, room, redis_url, how: str):
    import websockets

    server = PinnedServer(env, 0 if args.pin else None, args.log)
    await asyncio.to_thread(server.start)
    base_ws = f"ws://127.0.0.1:{server.port}"
    origin = f"http://127.0.0.1:{server.port}"
    url = f"{base_ws}/ws/rooms/{room}/?batch=chat"
    viewers = [Viewer(n) for n in range(args.restart_viewers)]
    stopping = asyncio.Event()
    pre_texts = [f"soak before {n} {how}" for n in range(args.restart_lines)]
    post_texts = [f"soak after {n} {how}" for n in range(args.restart_post_lines)]
    join_limit = asyncio.Semaphore(20)  # the first join is gentle (open_viewers' way)

    def take(viewer: Viewer, messages: list) -> None:
        for message in messages:
            if message.get("type") != "chat-message" or not message.get("id"):
                continue
            if message["id"] in viewer.had:
                viewer.live_duplicates += 1
            else:
                viewer.had[message["id"]] = message.get("text")

    def replay(viewer: Viewer, chat: list) -> None:
        """A room-state after a reconnect: its history merged into what the client had, by
        id (room.js `appendMessage` skips ids it has)."""
        ids = [m.get("id") for m in chat]
        viewer.replay_duplicate_ids += len(ids) - len(set(ids))
        texts = {m.get("text") for m in chat}
        viewer.replay_missing += sum(1 for text in pre_texts if text not in texts)
        for message in chat:
            viewer.had.setdefault(message.get("id"), message.get("text"))
        shown = list(viewer.had.values())
        viewer.merged_duplicate_texts += len(shown) - len(set(shown))

    async def connect():
        ws = await websockets.connect(
            url, origin=origin, open_timeout=30, max_queue=None, compression=None
        )
        try:
            state = json.loads(await asyncio.wait_for(ws.recv(), 30))
        except BaseException:
            ws.transport.abort()
            raise
        if state.get("type") != "room-state":
            ws.transport.abort()
            raise RuntimeError(f"first message {state.get('type')!r}")
        return ws, state

    def failure_kind(exc: BaseException) -> str:
        if isinstance(exc, websockets.InvalidStatus):
            return f"HTTP {exc.response.status_code}"
        if isinstance(exc, websockets.ConnectionClosed):
            return f"closed {exc.rcvd.code if exc.rcvd else 1006} before room-state"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        return type(exc).__name__

    async def client(viewer: Viewer) -> None:
        attempt = 0
        ws = None
        async with join_limit:
            for _ in range(5):
                try:
                    ws, state = await connect()
                    break
                except (OSError, TimeoutError, RuntimeError, websockets.WebSocketException):
                    await asyncio.sleep(0.5)
            else:
                return
        viewer.joined, viewer.ws = True, ws
        take(viewer, state.get("chat", []))
        while True:
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "chat-batch":
                        take(viewer, message.get("messages", []))
                    elif message.get("type") == "chat-message":
                        take(viewer, [message])
            except websockets.ConnectionClosed:
                pass
            if stopping.is_set():
                return
            viewer.closes.append((time.monotonic(), ws.close_code))
            while True:  # room.js: a close schedules a reconnect, a failed one another
                await asyncio.sleep(reconnect_delay(attempt))
                attempt += 1
                viewer.attempts.append(time.monotonic())
                try:
                    ws, state = await connect()
                except (OSError, TimeoutError, RuntimeError, websockets.WebSocketException) as exc:
                    viewer.failures[failure_kind(exc)] += 1
                    continue
                attempt, viewer.ws = 0, ws
                viewer.arrivals.append(time.monotonic())
                replay(viewer, state.get("chat", []))
                break

    async def send_lines(texts: list[str], first_sender: int) -> None:
        """Sent by signed-in senders, at most 4 each (the limit is 5 per 10 s)."""
        for start in range(0, len(texts), 4):
            token = made["tokens"][first_sender + start // 4]
            async with websockets.connect(
                f"{base_ws}/ws/rooms/{room}/",
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=30,
                compression=None,
            ) as ws:
                await asyncio.wait_for(ws.recv(), 30)
                for text in texts[start : start + 4]:
                    await ws.send(json.dumps({"type": "chat-message", "text": text}))
                    while True:  # each comes back (batch=chat not asked: one frame each)
                        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        if message.get("type") == "chat-message" and message["text"] == text:
                            break
                        if message.get("type") == "error":
                            raise RuntimeError(f"chat refused: {message}")

    async def until(predicate, timeout: float) -> float:
        started = time.monotonic()
        while not predicate() and time.monotonic() - started < timeout:
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    def have_all(texts):
        def every() -> bool:
            return all(set(texts) <= set(v.had.values()) for v in viewers if v.joined)

        return every

    part = f"c. restart ({'SIGTERM' if how == 'term' else 'SIGKILL'}) under {len(viewers)} viewers"
    tasks = [asyncio.create_task(client(v)) for v in viewers]
    try:
        await until(lambda: all(v.joined for v in viewers), 120)
        await send_lines(pre_texts, 0)
        await until(have_all(pre_texts), 30)
        before_ok = sum(1 for v in viewers if set(pre_texts) <= set(v.had.values()))
        await asyncio.sleep(0.2)  # (the history is the store's: saved before the broadcast)
        t0 = time.monotonic()
        if how == "term":
            await asyncio.to_thread(server.stop)  # SIGTERM, as a deploy (10 s, then SIGKILL)
            stopped = time.monotonic() - t0
            await asyncio.to_thread(server.start)
        else:
            await asyncio.to_thread(server.crash_and_restart)
            stopped = None
        listening = time.monotonic() - t0
        waited = await until(
            lambda: all(v.arrivals or not v.joined for v in viewers), args.restart_timeout
        )
        back = [v for v in viewers if v.arrivals]
        await asyncio.sleep(0.5)
        await send_lines(post_texts, math.ceil(len(pre_texts) / 4))
        await until(have_all(post_texts), 30)
    finally:
        stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Everyone leaves (a closed tab: a clean close).
        await asyncio.gather(
            *(asyncio.wait_for(v.ws.close(), 10) for v in viewers if v.ws is not None),
            return_exceptions=True,
        )

    joined = sum(1 for v in viewers if v.joined)
    first_closes = [v.closes[0][0] - t0 for v in viewers if v.closes]
    close_codes = collections.Counter(str(v.closes[0][1]) for v in viewers if v.closes)
    arrivals = [v.arrivals[0] - t0 for v in back]
    attempts = [t - t0 for v in viewers for t in v.attempts]
    first_attempts = [v.attempts[0] - t0 for v in viewers if v.attempts]
    failures = collections.Counter()
    for v in viewers:
        failures.update(v.failures)
    refused_clients = sum(1 for v in viewers if v.failures)
    reconnects = sum(len(v.arrivals) for v in viewers)
    herd_limit = math.ceil(args.herd_share * len(viewers))
    # Below 50 clients a 100 ms window's count is mostly chance (10 clients whose first tries
    # are spread over 0.5 s put 5 or more in one window about half the time): recorded only.
    judged = len(viewers) >= 50
    arrivals_100ms = max_in_window(arrivals)
    attempts_100ms = max_in_window(attempts)
    missing_post = sum(1 for v in back if not set(post_texts) <= set(v.had.values()))
    report.note(
        f"{part}: server stopped in {fmt(stopped, '.2f')} s, listening again after "
        f"{listening:.2f} s; first close seen {fmt(min(first_closes, default=None), '.2f')} s, "
        f"close codes {dict(close_codes)}; reconnect attempts {len(attempts)} (first "
        f"attempts {fmt(min(first_attempts, default=None), '.2f')} to "
        f"{fmt(max(first_attempts, default=None), '.2f')} s), failed attempts by kind "
        f"{dict(failures) or 'none'}; arrivals first {fmt(min(arrivals, default=None), '.2f')} "
        f"/ median {fmt(quantile_of(arrivals, 0.5), '.2f')} / last "
        f"{fmt(max(arrivals, default=None), '.2f')} s; room-states after the restart "
        f"{reconnects} (above {len(back)}: some were closed again); all back {waited:.1f} s after "
        f"the server listened again"
    )
    report.check(
        part,
        "all back (a room-state after the restart)",
        f"{len(back)} / {len(viewers)} (joined before: {joined}; had the lines before: "
        f"{before_ok})",
        len(back) == joined == len(viewers) == before_ok,
    )
    report.check(
        part,
        "spread out: arrivals s after the restart (first / median / last), max per 100 ms",
        f"{fmt(min(arrivals, default=None), '.2f')} / {fmt(quantile_of(arrivals, 0.5), '.2f')} "
        f"/ {fmt(max(arrivals, default=None), '.2f')} s; max {arrivals_100ms} arrivals and "
        f"{attempts_100ms} attempts per 100 ms (limit {herd_limit} = "
        f"{args.herd_share:.0%} of viewers{'' if judged else '; too few to judge'})",
        bool(arrivals)
        and (not judged or (attempts_100ms <= herd_limit and arrivals_100ms <= herd_limit)),
    )
    report.check(
        part,
        "refused on reconnect (recorded, not judged)",
        f"{refused_clients} clients had a failed attempt; {sum(failures.values())} failed "
        f"attempts: {dict(failures) or 'none'}",
        True,
    )
    report.check(
        part,
        "history replay: no duplicate ids or texts after merging by id, no line lost",
        f"duplicate ids in a replay {sum(v.replay_duplicate_ids for v in viewers)}, duplicate "
        f"texts after merge {sum(v.merged_duplicate_texts for v in viewers)}, pre-restart "
        f"lines missing from a replay {sum(v.replay_missing for v in viewers)}, a line "
        f"delivered twice live {sum(v.live_duplicates for v in viewers)}",
        not any(
            v.replay_duplicate_ids or v.merged_duplicate_texts or v.replay_missing for v in viewers
        )
        and not any(v.live_duplicates for v in viewers),
    )
    report.check(
        part,
        "lines sent after the restart reach every client",
        f"{len(back) - missing_post} / {len(back)} got all {len(post_texts)}",
        bool(back) and missing_post == 0,
    )
    await check_viewers_left(report, part, redis_url, room, base_ws, origin, args.leave_wait)
    await asyncio.to_thread(server.stop)


# --- the controller -------------------------------------------------------------------------


def commit_name() -> str:
    def git(*argv: str) -> str:
        result = subprocess.run(
            ["git", *argv], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def render(report: Report, args, seconds: float, commit: str) -> str:
    now = datetime.datetime.now(datetime.UTC)
    command = "python bench/soak.py " + " ".join(sys.argv[1:])
    failed = [c for c in report.checks if not c.ok]
    lines = [
        f"`{command}`",
        "",
        f"soak {now:%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.node()}, "
        f"{os.cpu_count()} cores, {seconds:.0f} s in all: "
        + ("**every condition passed**" if not failed else f"**{len(failed)} failed**"),
        "",
        "| part | condition | measured | result |",
        "| --- | --- | --- | --- |",
    ]
    for c in report.checks:
        lines.append(f"| {c.part} | {c.condition} | {c.measured} | {'pass' if c.ok else 'FAIL'} |")
    lines += ["", "Figures:", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


async def socket_parts(args, report, env, made, rooms, redis_url, redis_pid, workdir):
    if "fanout" in args.only:
        started = time.monotonic()
        await fanout_part(args, report, env, made, rooms["fanout"], redis_url, redis_pid, workdir)
        report.note(f"a. fan-out took {time.monotonic() - started:.0f} s")
    if "restart" in args.only:
        for how in args.restart:
            started = time.monotonic()
            await restart_part(args, report, env, made, rooms[how], redis_url, how)
            report.note(f"c. restart ({how}) took {time.monotonic() - started:.0f} s")


def controller(args) -> int:
    started = time.monotonic()
    commit = commit_name()
    report = Report()
    with bench_environment("soak", args.redis_url, args.pin) as (workdir, env, redis_pid):
        redis_url = env["REDIS_URL"]
        # A killed server's viewers stop counting after this TTL (rooms/store.py); short, so
        # the restart part sees the count heal within its wait.
        env["ROOM_VIEWER_TTL_SECONDS"] = str(VIEWER_TTL_SECONDS)
        names = []
        if "fanout" in args.only:
            names.append("fanout")
        if "restart" in args.only:
            names += args.restart
        if names:
            made = run_setup(env, rooms=len(names), senders=args.senders)
            report.note(f"migrate and setup took {time.monotonic() - started:.0f} s")
            rooms = dict(zip(names, made["rooms"], strict=True))
            asyncio.run(socket_parts(args, report, env, made, rooms, redis_url, redis_pid, workdir))
        if "checkout" in args.only:
            checkout_started = time.monotonic()
            checkout_part(args, report)
            report.note(f"b. flash sale took {time.monotonic() - checkout_started:.0f} s")
    text = render(report, args, time.monotonic() - started, commit)
    print(text)
    out = args.out
    if out is None:
        day = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
        out = PROJECT_ROOT / "bench" / "results" / f"soak-{day}-{commit}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0 if report.checks and all(c.ok for c in report.checks) else 1


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="fanout,checkout,restart", help="parts to run")
    parser.add_argument("--viewers", type=int, default=500, help="a: viewer sockets")
    parser.add_argument("--seconds", type=float, default=60, help="a: length of the burst")
    parser.add_argument("--rate", type=float, default=20, help="a: chat lines per second")
    parser.add_argument("--grace", type=float, default=3, help="a: seconds for stragglers")
    parser.add_argument("--settle", type=float, default=2, help="a: seconds after joining")
    parser.add_argument("--buyers", type=int, default=400, help="b: buyers checking out at once")
    parser.add_argument("--units", type=int, default=20, help="b: units on sale")
    parser.add_argument("--databases", default="sqlite,postgres", help="b: sqlite,postgres")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", checkout_race.DEFAULT_POSTGRES),
        help="b: a PostgreSQL server's maintenance database (each run makes its own)",
    )
    parser.add_argument("--restart-viewers", type=int, default=200, help="c: viewer sockets")
    parser.add_argument(
        "--restart", default="term,kill", help="c: term (SIGTERM, a deploy), kill (SIGKILL)"
    )
    parser.add_argument("--restart-lines", type=int, default=10, help="c: lines before")
    parser.add_argument("--restart-post-lines", type=int, default=3, help="c: lines after")
    parser.add_argument(
        "--restart-timeout", type=float, default=120, help="c: seconds for all to come back"
    )
    parser.add_argument(
        "--herd-share",
        type=float,
        default=0.4,
        help="c: most reconnect attempts (and arrivals) in any 100 ms, as a share of viewers",
    )
    parser.add_argument(
        "--leave-wait", type=float, default=30, help="seconds for the viewer count to reach 0"
    )
    parser.add_argument("--redis-url", default="", help="default: a private redis-server")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--log", type=Path, help="append the servers' output to this file")
    parser.add_argument("--out", type=Path, help="default bench/results/soak-<date>-<commit>.md")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    if parser.parse_args(argv).quick:  # smaller defaults; options given still win
        parser.set_defaults(
            viewers=10,
            seconds=2,
            rate=4,
            grace=0.5,
            settle=0.5,
            buyers=20,
            units=5,
            databases="sqlite",
            restart_viewers=10,
            restart="term",
            restart_lines=3,
            restart_post_lines=1,
            leave_wait=10,
        )
    args = parser.parse_args(argv)
    args.only = [p for p in args.only.split(",") if p]
    args.restart = [h for h in args.restart.split(",") if h]
    args.databases = [d for d in args.databases.split(",") if d]
    if set(args.only) - {"fanout", "checkout", "restart"}:
        parser.error("--only takes fanout, checkout, restart")
    if set(args.restart) - {"term", "kill"} or len(set(args.restart)) != len(args.restart):
        parser.error("--restart takes term and/or kill")
    if set(args.databases) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    # a's senders stay under the limit (4 lines per 10 s each); c's need one per 4 lines.
    args.senders = max(
        math.ceil(args.rate * 10 / room_fanout.CHAT_PER_SENDER_PER_10S),
        math.ceil(args.restart_lines / 4) + math.ceil(args.restart_post_lines / 4),
        1,
    )
    args.pin = args.pin and (os.cpu_count() or 1) >= 2
    return args


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop servers and redis
    args = parse_args(sys.argv[1:])
    raise_open_files_limit()
    return controller(args)


if __name__ == "__main__":
    sys.exit(main())
