"""What the socket benchmarks share (room_fanout.py, room_burst.py, connect_storm.py).

- the server under test (daphne or uvicorn, production settings, pinned to one core);
- the setup step that makes the bench data (a seller, live rooms with products, signed-in
  senders and their JWTs) in the server's own environment;
- readers of CPU time and RSS from /proc, CPU pinning, the file-descriptor limit;
- the controller's frame: command-line options, our redis-server, one fresh server per
  phase, load processes, the table written to bench/results/;
- the table helpers (median, ratio, quantile of a latency histogram).

`python bench/common.py _setup '<json>'` is the setup step (run_setup calls it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from conftest import private_redis_server  # noqa: E402
from tests.helpers import WebServer  # noqa: E402

LATENCY_BUCKET_US = 100  # latency histogram resolution (0.1 ms)
TICKS = os.sysconf("SC_CLK_TCK")

# The servers a run may compare. uvicorn runs as in production (`uvicorn[standard]`: uvloop
# and httptools), once per WebSocket implementation it ships.
UVICORN_WS = {
    "uvicorn": "websockets",
    "uvicorn-wsproto": "wsproto",
    "uvicorn-sansio": "websockets-sansio",
}
SERVER_KINDS = ("daphne", *UVICORN_WS)


# --- /proc readers and pinning ------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


def pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        try:
            os.sched_setaffinity(pid, {cpu})
        except OSError:
            pass


def raise_open_files_limit() -> int:
    """Thousands of sockets need as many file descriptors: lift the soft limit to the hard
    one (children inherit it). Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def wait_until_idle(
    pid: int, *, below: float = 0.05, window: float = 0.5, quiet: int = 3, timeout: float = 60.0
) -> float:
    """Wait until the process has used less than `below` cores in each of `quiet`
    consecutive `window`s (the join storm's echoes, such as viewer-count announcements, have
    been delivered; one quiet window alone can be a lull), at most `timeout` seconds.
    Returns the seconds waited."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < timeout and calm < quiet:
        before = cpu_seconds(pid)
        time.sleep(window)
        calm = calm + 1 if (cpu_seconds(pid) - before) / window < below else 0
    return time.monotonic() - started


# --- the server under test ----------------------------------------------------------------


def server_env(folder: Path, redis_url: str) -> dict[str, str]:
    """Production-like settings: DEBUG off, Redis cache, layer and room store, SQLite file."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))}
    for name in ("DATABASE_URL", "MONGODB_URI", "MONGODB_NAME", "PAYMENTS_BACKEND", "LOG_LEVEL"):
        keep.pop(name, None)
    keep.update(
        DJANGO_SETTINGS_MODULE="liveshop.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-room-fanout-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(folder / "media"),
        REDIS_URL=redis_url,
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    return keep


def server_command(kind: str, port: int, app: str) -> list[str]:
    """The command line of one server process. daphne as the Dockerfile runs it; uvicorn
    with uvloop and httptools (what `uvicorn[standard]` picks) and one WebSocket
    implementation. Both keep their default WebSocket pings (20 s)."""
    if kind == "daphne":
        return [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1"] + [
            "-p",
            str(port),
            app,
        ]
    if kind in UVICORN_WS:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            UVICORN_WS[kind],
            "--lifespan",
            "off",  # Channels' ProtocolTypeRouter has no lifespan handler
            app,
        ]
    raise ValueError(f"unknown server {kind!r}; known: {', '.join(SERVER_KINDS)}")


def check_servers(servers: list[str]) -> str | None:
    """An error message when a server cannot be run here, else None."""
    unknown = set(servers) - set(SERVER_KINDS)
    if unknown:
        return f"unknown server: {', '.join(sorted(unknown))} (known: {', '.join(SERVER_KINDS)})"
    if any(kind in UVICORN_WS for kind in servers):
        try:
            import uvicorn  # noqa: F401
            import uvloop  # noqa: F401
        except ImportError:
            return "uvicorn is not installed: .venv/bin/pip install -r requirements-dev.txt"
        if "uvicorn-wsproto" in servers:
            try:
                import wsproto  # noqa: F401
            except ImportError:
                return "wsproto is not installed: .venv/bin/pip install -r requirements-dev.txt"
    return None


class PinnedServer(WebServer):
    """tests/helpers.py's WebServer (`python -m liveshop.serve`, restartable, its output in
    `log` when given), pinned to `cpu` as soon as it is started: before it starts threads,
    which inherit the pinning (pinning once it listens could miss some)."""

    def __init__(self, env: dict[str, str], cpu: int | None = None, log: Path | None = None):
        super().__init__(env, log=log)
        self.cpu = cpu

    def spawn(self) -> None:
        super().spawn()
        pin(self.process.pid, self.cpu)


class Server(PinnedServer):
    """One server process of `kind` (daphne or uvicorn: `server_command`) serving the product
    and the baseline route (`bench.baseline_app:application` is the product's ASGI app plus
    one socket route)."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        cpu: int | None,
        app: str = "bench.baseline_app:application",
        log: Path | None = None,
        options: tuple[str, ...] = (),
    ):
        super().__init__(env, cpu, log)
        self.kind, self.app, self.options = kind, app, options

    def command(self) -> list[str]:
        return server_command(self.kind, self.port, self.app) + list(self.options)


# --- the setup step (runs in the server's environment) -------------------------------------


def run_setup(env: dict[str, str], *, rooms: int, senders: int, products: int = 0) -> dict:
    """Migrate the database, then make the bench data, with the server's settings. Returns
    {"rooms": [room ids], "tokens": [one access JWT per sender], "seller_token": the rooms'
    seller's JWT, "products": [per room, the names of its products]}. Raises RuntimeError on
    failure."""
    migrate(env)
    config = {"rooms": rooms, "senders": senders, "products": products}
    setup = run_python([__file__, "_setup", json.dumps(config)], env)
    if setup.returncode:
        raise RuntimeError(f"the setup step failed:\n{setup.stderr}")
    return json.loads(setup.stdout.strip().splitlines()[-1])


def migrate(env: dict[str, str]) -> None:
    result = run_python(["manage.py", "migrate", "--noinput"], env)
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{result.stderr}")


def run_python(
    argv: list[str], env: dict[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess:
    """`python ARGV` in the project folder with `env` (the server's settings), its output
    captured as text."""
    return subprocess.run(
        [sys.executable, *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_step(script: str, argv: list[str], env: dict[str, str], timeout: float) -> dict:
    """`python SCRIPT ARGV` in `env` (a step of a benchmark run with the server's settings);
    returns the JSON object on the last line of its output. Exits when it fails."""
    result = run_python([script, *argv], env, timeout)
    if result.returncode != 0:
        raise SystemExit(f"step {argv} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def setup_main(config: dict) -> None:
    """Create a seller, `rooms` live rooms (each with `products` products named
    "burst <n>") and `senders` buyers; print their ids and tokens as one JSON line."""
    import django

    django.setup()
    from django.conf import settings

    # Bench data only: nobody logs in with these passwords (senders use JWTs), so a cheap
    # hasher keeps creating hundreds of users from taking minutes. Not the product's setting.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from decimal import Decimal

    from django.utils import timezone

    from accounts import services as accounts
    from accounts.tokens import RevocableRefreshToken
    from catalog import services as catalog
    from rooms import services as room_services

    def person(username: str):
        return accounts.user_register(
            username=username, email=f"{username}@bench.test", password="x-Bench-Secret-99"
        )

    def token(user) -> str:
        return str(RevocableRefreshToken.for_user(user).access_token)

    seller = person("bench_seller")
    accounts.user_become_seller(user=seller, shop_name="Bench shop")
    category = catalog.category_create(name="Bench") if config["products"] else None
    room_ids, product_names = [], []
    for number in range(config["rooms"]):
        names = [f"burst {n}" for n in range(config["products"])]
        products = [
            catalog.product_create(
                seller=seller, name=name, price=Decimal("10.00"), category=category, stock=100
            )
            for name in names
        ]
        room = room_services.room_create(
            seller=seller,
            title=f"Bench room {number}",
            scheduled_start=timezone.now(),
            products=products,
        )
        room_services.room_go_live(room=room, actor=seller)
        room_ids.append(str(room.pk))
        product_names.append([{"id": str(p.pk), "name": p.name} for p in products])
    tokens = [token(person(f"bench_sender_{n}")) for n in range(config["senders"])]
    print(
        json.dumps(
            {
                "rooms": room_ids,
                "tokens": tokens,
                "seller_token": token(seller),
                "products": product_names,
            }
        )
    )


# --- the viewers' side (runs in the load processes) --------------------------------------


async def open_viewers(
    url: str,
    origin: str,
    count: int,
    concurrency: int,
    *,
    tries: int = 3,
    progress: str = "",
) -> tuple[list, int]:
    """Open `count` anonymous viewer sockets (the `websockets` client, an allowed Origin),
    `concurrency` handshakes at a time, each given `tries` attempts; a socket counts once
    its first message (`room-state`) arrived. Returns (open sockets, sockets that failed).
    With `progress`, says on stderr every 15 s how many have joined (long joins)."""
    import websockets

    limit = asyncio.Semaphore(concurrency)
    sockets: list = []
    failed = 0

    async def report() -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(15)
            print(
                f"{progress}: {len(sockets)}/{count} joined, {failed} failed after "
                f"{time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    async def open_one() -> None:
        nonlocal failed
        async with limit:
            for _attempt in range(tries):
                ws = None
                try:
                    ws = await websockets.connect(
                        url,
                        origin=origin,
                        open_timeout=60,
                        max_queue=None,  # never stall the server's writes on our side
                        ping_interval=None,
                        compression=None,
                    )
                    await asyncio.wait_for(ws.recv(), 60)  # room-state
                except (OSError, TimeoutError, websockets.WebSocketException):
                    if ws is not None:
                        ws.transport.abort()
                    await asyncio.sleep(0.5)
                    continue
                sockets.append(ws)
                return
            failed += 1

    reporter = asyncio.create_task(report()) if progress else None
    await asyncio.gather(*(open_one() for _ in range(count)))
    if reporter is not None:
        reporter.cancel()
    return sockets, failed


async def join_signed_in(url: str, token: str):
    """A signed-in socket (JWT on the handshake, as mobile apps do) that has had its
    `room-state`. Whoever holds it reads everything it is sent (viewer counts, echoes)."""
    import websockets

    ws = await websockets.connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=60,
        max_queue=None,
        ping_interval=None,
        compression=None,
    )
    await asyncio.wait_for(ws.recv(), 60)  # room-state
    return ws


# --- the controller (room_fanout.py, room_burst.py, connect_storm.py) ---------------------


def add_phase_arguments(parser: argparse.ArgumentParser) -> None:
    """--servers, --apps, --repeat: which phases a run has (checked by check_phase_arguments)."""
    parser.add_argument(
        "--servers", default="daphne", help=f"comma-separated, of: {', '.join(SERVER_KINDS)}"
    )
    parser.add_argument("--apps", default="product,baseline")
    parser.add_argument("--repeat", type=int, default=1, help="runs per (server, N, app)")


def add_run_arguments(
    parser: argparse.ArgumentParser, *, server_log: bool = True, profile: str = ""
) -> None:
    """--redis-url, --no-pin, --server-log (with `server_log`), --profile (when given its
    help), --out, --json: where a run's servers, output and figures go."""
    parser.add_argument("--redis-url", default="", help="default: $REDIS_URL, else our own")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    if server_log:
        parser.add_argument(
            "--server-log", default="", help="folder for each server's output (default: dropped)"
        )
    if profile:
        parser.add_argument("--profile", default="", help=profile)
    parser.add_argument("--out", default="", help="markdown table (default bench/results/)")
    parser.add_argument("--json", default="", help="append each phase's figures here (JSON lines)")


def check_phase_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Split --servers and --apps into lists, refuse unknown or empty ones, and pin only on a
    machine with two cores or more."""
    args.servers = [s for s in args.servers.split(",") if s]
    args.apps = [a for a in args.apps.split(",") if a]
    unknown = set(args.apps) - {"product", "baseline"}
    if unknown or not args.apps:
        parser.error(f"--apps takes product and/or baseline, not {', '.join(sorted(unknown))}")
    problem = check_servers(args.servers) if args.servers else "--servers is empty"
    if problem:
        parser.error(problem)
    args.pin = args.pin and (os.cpu_count() or 1) >= 2


def phase_plan(args: argparse.Namespace, sizes: list) -> list[tuple]:
    """(server, run, size, app) for every phase, in the order they run."""
    return [
        (server, repeat, size, app)
        for server in args.servers
        for repeat in range(args.repeat)
        for size in sizes
        for app in args.apps
    ]


@contextlib.contextmanager
def bench_environment(name: str, redis_url: str, pinned: bool) -> Iterator[tuple]:
    """A run's surroundings: a work folder, a redis-server of our own unless `redis_url` names
    one, and the servers' settings; with `pinned`, this process and our redis-server on
    CPU 1 (the servers get CPU 0). Yields (work folder, server env, our redis-server's pid or
    None); stops our redis-server and removes the folder at the end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    other_cpu = 1 if pinned else None
    if pinned:
        pin(os.getpid(), other_cpu)
    try:
        with contextlib.ExitStack() as cleanup:
            redis_pid = None
            if not redis_url:
                redis_url, redis_process = cleanup.enter_context(private_redis_server())
                redis_pid = redis_process.pid
                pin(redis_pid, other_cpu)
            yield workdir, server_env(workdir, redis_url), redis_pid
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def run_and_report(
    name: str,
    phases: list,
    args: argparse.Namespace,
    env: dict[str, str],
    *,
    size: str,
    measure: Callable[[object, Server], Awaitable[None]],
    progress: Callable[[object], str],
    summarise: Callable[[list, argparse.Namespace], str],
) -> int:
    """Run each phase on a server of its own (restarted, so that its RSS is the phase's):
    `await measure(phase, server)`, then append the phase to --json (a cut-short run keeps
    what it measured) and say `progress(phase)` on stderr. Then print and write the table
    `summarise(phases, args)` (write_table). `size` names the phases' N. Returns 0."""
    if getattr(args, "profile", "") and phases:
        # Once: the product at the largest N, first server, first run.
        largest = max(getattr(phase, size) for phase in phases)
        for phase in phases:
            if phase.app == "product" and getattr(phase, size) == largest:
                phase.figures["profile"] = True
                break
    for phase in phases:
        log = None
        if getattr(args, "server_log", ""):
            Path(args.server_log).mkdir(parents=True, exist_ok=True)
            log = Path(args.server_log) / (
                f"{phase.server}-{phase.app}-{getattr(phase, size)}-{phase.repeat + 1}.log"
            )
        server = Server(phase.server, env, 0 if args.pin else None, log=log)
        server.start()
        try:
            await measure(phase, server)
        finally:
            server.stop()
        if args.json:
            with open(args.json, "a") as jsonl:
                jsonl.write(json.dumps({**phase.__dict__}, default=str) + "\n")
        print(progress(phase), file=sys.stderr, flush=True)
    write_table(name, summarise(phases, args), args)
    return 0


def socket_path(phase) -> str:
    """The phase's room socket: the product's room, or the baseline's route with a group of
    its own even on a shared Redis (another run's baseline must not leak in)."""
    if phase.app == "baseline":
        return f"/ws/bench-baseline/{phase.room_id}-{os.getpid()}-{id(phase)}/"
    return f"/ws/rooms/{phase.room_id}/"


def spread(total: int, processes: int) -> list[int]:
    """How many of `total` sockets each load process opens: the first ones take the most,
    none takes 0 (so there may be fewer than `processes`)."""
    per_process = math.ceil(total / processes)
    counts = [min(per_process, total - i * per_process) for i in range(processes)]
    return [count for count in counts if count > 0]


async def start_load(script: str, word: str, config: dict, cpu: int | None):
    """One load process, `python SCRIPT WORD '<config>'`: told what to do on its stdin,
    answering on its stdout, pinned to `cpu`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        word,
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        limit=64 * 1024 * 1024,  # the RESULT line carries every latency or receive time
    )
    pin(process.pid, cpu)
    return process


class CpuWindow:
    """CPU time from now on: of our own processes (this one and `pids`, Nones left out: the
    server, the load processes, our redis-server) and of the machine's other tenants."""

    def __init__(self, *pids: int | None):
        self.start = {pid: cpu_seconds(pid) for pid in (os.getpid(), *pids) if pid}
        self.busy_start = machine_busy_seconds()

    def read(self) -> tuple[dict[int, float], float]:
        """(CPU seconds per process of ours, CPU seconds of everyone else) so far."""
        used = {pid: cpu_seconds(pid) - start for pid, start in self.start.items()}
        others = machine_busy_seconds() - self.busy_start - sum(used.values())
        return used, max(0.0, others)


def write_table(name: str, table: str, args: argparse.Namespace) -> None:
    """Print the run's table, headed by its command line and followed by the top of the
    --profile profile when one was taken, and write it to --out (default
    bench/results/NAME-<time>.md)."""
    command = f"python bench/{name}.py " + " ".join(sys.argv[1:])
    table = f"`{command}`\n\n" + table
    profile = getattr(args, "profile", "")
    if profile and Path(f"{profile}.txt").exists():
        top = profile_top(Path(f"{profile}.txt"))
        Path(f"{profile}-top.md").write_text(top)
        table += f"\nProfile of the product server ({profile}.txt):\n\n" + top
    print(table)
    out = Path(args.out) if args.out else None
    if out is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        out = PROJECT_ROOT / "bench" / "results" / f"{name}-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)


def bench_main(
    load_word: str,
    load_main: Callable[[dict], Awaitable[None]],
    parse_args: Callable[[list[str]], argparse.Namespace],
    controller: Callable[[argparse.Namespace], Awaitable[int]],
) -> int:
    """A socket benchmark's entry point: `SCRIPT LOAD_WORD '<config>'` is a load process,
    anything else the controller."""
    raise_open_files_limit()  # thousands of sockets; the server and load processes inherit it
    if len(sys.argv) > 1 and sys.argv[1] == load_word:
        asyncio.run(load_main(json.loads(sys.argv[2])))
        return 0
    # Stopped with SIGTERM: unwind, so the server and our redis-server are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(sys.argv[1:])
    return asyncio.run(controller(args))


def start_profiler(
    pid: int, prefix: str, cpu: int | None, seconds: float | None = None
) -> subprocess.Popen:
    """py-spy on the server (raw collapsed stacks in PREFIX.txt), pinned to `cpu`: for
    `seconds`, or until sent SIGINT (then it writes its file and exits)."""
    duration = ["--duration", str(int(seconds))] if seconds is not None else []
    profiler = subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), *duration]
        + ["--format", "raw", "--output", f"{prefix}.txt", "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pin(profiler.pid, cpu)
    return profiler


def profile_top(path: Path, limit: int = 15) -> str:
    """Top frames of a py-spy raw (collapsed) profile: self and inclusive share of samples."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return "(no samples)\n"
    out = [f"{total} samples", "", "| self | function |", "| ---: | --- |"]
    for frame, n in sorted(own.items(), key=lambda item: -item[1])[:limit]:
        out.append(f"| {100 * n / total:.1f}% | `{frame}` |")
    out += ["", "| inclusive | function |", "| ---: | --- |"]
    for frame, n in sorted(inclusive.items(), key=lambda item: -item[1])[: limit * 2]:
        out.append(f"| {100 * n / total:.1f}% | `{frame}` |")
    return "\n".join(out) + "\n"


# --- table helpers ------------------------------------------------------------------------


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, in ms."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return (bucket + 0.5) * LATENCY_BUCKET_US / 1000
    return None


def quantile_of(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of a list (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt(value, spec: str = ".1f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def median(values: list):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def in_table_order(phases: list, size: str) -> list:
    """By server, N, run, and the product before its baseline."""
    order = {"product": 0, "baseline": 1}
    return sorted(phases, key=lambda p: (p.server, getattr(p, size), p.repeat, order[p.app]))


def ratio_rows(phases: list, size: str, names: list[str]) -> list[str]:
    """A table row per product phase that has a baseline of the same server, N and run:
    server, N, run, then product / baseline of each figure in `names`."""
    rows = []
    for p in phases:
        if p.app != "product":
            continue
        key = (p.server, getattr(p, size), p.repeat)
        for b in phases:
            if b.app == "baseline" and (b.server, getattr(b, size), b.repeat) == key:
                ratios = " | ".join(ratio(p.figures, b.figures, name) for name in names)
                rows.append(f"| {p.server} | {key[1]} | {p.repeat + 1} | {ratios} |")
                break
    return rows


def ratio_table(caption: str, header: str, rows: list[str]) -> list[str]:
    """The lines of the product / baseline table (none without rows): the first column
    left-aligned, the others right."""
    if not rows:
        return []
    columns = header.count("|") - 1
    return ["", caption, "", header, "| --- " + "| ---: " * (columns - 1) + "|", *rows]


def ratio(product: dict, baseline: dict, name: str) -> str:
    a, b = product.get(name), baseline.get(name)
    return f"{a / b:.2f}x" if a and b else "-"


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "_setup":
    setup_main(json.loads(sys.argv[2]))
