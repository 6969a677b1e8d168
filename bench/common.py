"""What the socket benchmarks share (room_fanout.py, room_burst.py, connect_storm.py).

- the server under test (daphne or uvicorn, production settings, pinned to one core);
- the setup step that makes the bench data (a seller, live rooms with products, signed-in
  senders and their JWTs) in the server's own environment;
- readers of CPU time and RSS from /proc, CPU pinning, the file-descriptor limit;
- the table helpers (median, ratio, quantile of a latency histogram).

`python bench/common.py _setup '<json>'` is the setup step (run_setup calls it).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from conftest import free_port, wait_for_port  # noqa: E402

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


class Server:
    """One server process serving the product and the baseline route
    (`bench.baseline_app:application` is the product's ASGI app plus one socket route)."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        cpu: int | None,
        app: str = "bench.baseline_app:application",
        log: Path | None = None,
    ):
        self.kind, self.env, self.cpu, self.app, self.log = kind, env, cpu, app, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # The server's own output (errors, tracebacks) goes to `log` when one is given.
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                server_command(self.kind, self.port, self.app),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=output,
                stderr=output,
            )
        finally:
            if self.log:
                output.close()
        pin(self.process.pid, self.cpu)
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None


# --- the setup step (runs in the server's environment) -------------------------------------


def run_setup(env: dict[str, str], *, rooms: int, senders: int, products: int = 0) -> dict:
    """Make the bench data with the server's settings. Returns {"rooms": [room ids],
    "tokens": [one access JWT per sender], "seller_token": the rooms' seller's JWT,
    "products": [per room, the names of its products]}. Raises RuntimeError on failure."""
    config = {"rooms": rooms, "senders": senders, "products": products}
    setup = subprocess.run(
        [sys.executable, __file__, "_setup", json.dumps(config)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if setup.returncode:
        raise RuntimeError(f"the setup step failed:\n{setup.stderr}")
    return json.loads(setup.stdout.strip().splitlines()[-1])


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{result.stderr}")


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


def ratio(product: dict, baseline: dict, name: str) -> str:
    a, b = product.get(name), baseline.get(name)
    return f"{a / b:.2f}x" if a and b else "-"


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "_setup":
    setup_main(json.loads(sys.argv[2]))
