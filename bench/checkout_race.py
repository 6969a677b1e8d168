"""Issue 8, benchmark 4: B buyers check out at the same instant over HTTP, against a real
server (uvicorn as in production, or daphne: `--servers`), for a product with U units. Every
buyer has their own account, access token and a cart holding one unit (made before the race);
then all send `POST /api/v1/checkout/` at once.

    .venv/bin/python bench/checkout_race.py    # 1000 buyers, 100 units, SQLite + PostgreSQL, 3 runs
    .venv/bin/python bench/checkout_race.py --buyers 20 --units 5 --databases sqlite --runs 1
    .venv/bin/python bench/checkout_race.py --postgres-url postgres://user@host:5432/postgres

Reports, per database (median of the runs): orders, units sold, final stock, oversold (units
sold beyond U, or stock that does not add up: must be 0), answers by status (and error code),
checkouts/s (answers per second of the race), orders/s, p50/p99 latency, the CPU the server
and the machine's other tenants took during the race, and the floor: B requests at once to a
404 on the same server (the HTTP stack alone). Prints a markdown table and writes it (plus the
raw runs as JSON) to `--out`.

`--profile PREFIX` records the server with py-spy during each database's first race
(`PREFIX-<db>.txt`, collapsed stacks of the thread holding the GIL). `--admission 0,4` runs,
side by side, an experiment that is not the product: at most N requests inside Django at once
(`admitted_application`).

Settings: DEBUG on, because the dummy payment backend (no Stripe on a benchmark machine)
refuses to run with DEBUG off; a private redis-server (cache, sessions, throttle counters,
channel layer) as in production; API rate limits raised so the race measures checkout and
not the throttle. Each run gets a fresh database (a new SQLite file, or a new PostgreSQL
database on the server `--postgres-url` names, dropped afterwards).

`--setup` and `--inspect` are the script's own steps that run in the server's environment
(Django set up on the same database); they are not for direct use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

PASSWORD = "x-Secret-99"
DEFAULT_POSTGRES = "postgres://postgres:postgres@127.0.0.1:5432/postgres"
# Rate limits far above what one race sends: the throttle is not what is measured.
UNTHROTTLED = {
    f"API_THROTTLE_{scope}": "1000000/min" for scope in ("ANON", "USER", "WRITE", "AUTH")
}


# --- steps run inside the server's environment ---------------------------------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    import django

    django.setup()
    from django.conf import settings

    # PBKDF2 would make 1,000 accounts take minutes; the hash is not what is measured.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def setup_step(buyers: int, units: int) -> dict:
    """One seller, one product with `units` units, `buyers` buyers with one unit each in
    their cart and an access token each."""
    _django()
    from accounts import services as accounts
    from accounts.tokens import RevocableRefreshToken
    from catalog import services as catalog
    from orders import services as orders

    seller = accounts.user_register(
        username="race_seller", email="race_seller@example.test", password=PASSWORD
    )
    accounts.user_become_seller(user=seller, shop_name="Race shop")
    category = catalog.category_create(name="Limited drops")
    product = catalog.product_create(
        seller=seller, name="Limited sneaker", price="25.00", stock=units, category=category
    )
    tokens = []
    for index in range(buyers):
        buyer = accounts.user_register(
            username=f"buyer{index}", email=f"buyer{index}@example.test", password=PASSWORD
        )
        orders.cart_add(cart=orders.cart_for_user(user=buyer), product=product, quantity=1)
        tokens.append(str(RevocableRefreshToken.for_user(buyer).access_token))
    return {"product": product.pk, "tokens": tokens}


def inspect_step(product_id: int) -> dict:
    """What the database holds after the race."""
    _django()
    from django.db.models import Count, Sum

    from catalog.models import Product
    from orders.models import Order, OrderItem

    product = Product.objects.get(pk=product_id)
    items = OrderItem.objects.filter(product=product)
    per_buyer = (
        Order.objects.filter(items__product=product)
        .values("buyer")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    return {
        "orders": Order.objects.filter(items__product=product).distinct().count(),
        "units_sold": items.aggregate(n=Sum("quantity"))["n"] or 0,
        "final_stock": product.stock,
        "orders_per_buyer_max": per_buyer["n"] if per_buyer else 0,
    }


# --- the race, from outside ----------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    """A redis-server of our own, so no other process's keys (throttle counters, sessions)
    meet ours: its URL and pid."""
    from conftest import private_redis_server

    with private_redis_server() as (url, process):
        yield url, process.pid


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'db.sqlite3'}"
        return
    import psycopg

    name = f"liveshop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def step(args: list[str], env: dict[str, str], timeout: float = 900) -> dict:
    from common import run_step

    return run_step(__file__, args, env, timeout)


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    return tree


# The floor: a request that goes through the whole HTTP stack (the server, every middleware, the
# URL resolver) and does nothing: the API's JSON 404 for an unknown path.
FLOOR_PATH = "/api/v1/checkout-race-floor/"


async def race(
    base_url: str,
    tokens: list[str | None],
    *,
    method: str = "POST",
    path: str = "/api/v1/checkout/",
    server_pid: int | None = None,
    redis_pid: int | None = None,
    at_once: bool = True,
) -> dict:
    """Every client sends its request at the same instant (one connection and one token
    each; None: no credentials); or, not `at_once`, one request after another on one
    connection (the server's time per request, without contention). With `server_pid`, also
    the CPU the server, our load side and redis took, and the rest of the machine's busy
    time (other tenants)."""
    from common import cpu_seconds, machine_busy_seconds
    from http_load import HttpConnection, Latencies, median

    host, port = base_url.removeprefix("http://").split(":")
    connections = [
        HttpConnection(host, int(port), timeout=300) for _ in (tokens if at_once else [0])
    ]
    # Every connection is open before anyone checks out: the race is the checkouts, not the
    # TCP handshakes (the server's listen backlog would serialise those).
    for connection in connections:
        await connection.connect()
    # Warm-up: the first requests import the URL conf, views and serializers lazily.
    warm = HttpConnection(host, int(port), timeout=60)
    for _ in range(3):
        await warm.request("GET", "/api/v1/products/", headers={"Accept": "application/json"})
    await warm.close()
    go = asyncio.Event()
    latencies = Latencies()
    by_status: dict[str, list[float]] = {}
    finished: list[float] = []

    async def buyer(connection: HttpConnection, token: str | None) -> None:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        await go.wait()
        try:
            response = await connection.request(method, path, headers=headers)
        except (TimeoutError, OSError, ConnectionError, ValueError) as exc:
            latencies.add(f"failed: {type(exc).__name__}", None)
            return
        finally:
            finished.append(time.perf_counter())
        label = str(response.status)
        if response.status >= 400:
            try:
                label += f" {json.loads(response.body)['error']['code']}"
            except (ValueError, KeyError, TypeError):  # not the API's error shape (e.g. a 500 page)
                pass
        latencies.add(label, response.seconds)
        by_status.setdefault(label, []).append(response.seconds)

    if at_once:
        tasks = [asyncio.create_task(buyer(c, t)) for c, t in zip(connections, tokens, strict=True)]
        await asyncio.sleep(0.2)  # every task is waiting on the start line
    # The server's CPU is its whole process tree's (uvicorn --workers: a supervisor and its
    # worker processes), then redis's.
    server_pids = process_tree(server_pid) if server_pid else []
    pids = [*server_pids, *([redis_pid] if redis_pid else [])]
    cpu_before = [cpu_seconds(pid) for pid in pids], time.process_time(), machine_busy_seconds()
    started = time.perf_counter()
    go.set()
    if at_once:
        await asyncio.gather(*tasks)
    else:
        for token in tokens:
            await buyer(connections[0], token)
    seconds = max(finished) - started
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before[0], strict=True)]
    load_cpu = time.process_time() - cpu_before[1]
    busy = machine_busy_seconds() - cpu_before[2]
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    cores = {}
    if server_pid:
        cores = {
            "server_cpu": round(sum(cpu[: len(server_pids)]) / elapsed, 2),
            "load_cpu": round(load_cpu / elapsed, 2),
            "other_cpu": round(max(0.0, busy - sum(cpu) - load_cpu) / elapsed, 2),
        }
    return {
        "seconds": round(seconds, 3),
        **cores,
        "statuses": dict(sorted(latencies.statuses.items())),
        "p50_ms_by_status": {
            label: round(median(values) * 1000, 1) for label, values in sorted(by_status.items())
        },
        "p50_ms": latencies.percentile_ms(0.50),
        "p99_ms": latencies.percentile_ms(0.99),
        "max_ms": latencies.percentile_ms(1.0),
    }


@contextlib.contextmanager
def serve(
    kind: str, env: dict[str, str], log: Path | None, admission: int = 0, workers: int = 1
) -> Iterator:
    """One server process of `kind` (bench/common.py `server_command`: daphne, or uvicorn with
    uvloop and httptools as liveshop/serve.py runs it) on a free port, its output kept in
    `log` when given: the tracebacks of any 500 are there. `admission`: the experiment below."""
    from common import Server

    env = dict(env)
    app = "liveshop.asgi:application"
    if admission:
        app = "bench.checkout_race:admitted_application"
        env[ADMISSION_VARIABLE] = str(admission)
    options = ("--workers", str(workers)) if workers > 1 else ()  # uvicorn only (main checks)
    server = Server(kind, env, None, app=app, log=log, options=options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- an experiment, not the product: bound the requests inside Django ----------------------

ADMISSION_VARIABLE = "CHECKOUT_RACE_ADMISSION"
_admitted: tuple | None = None


async def admitted_application(scope, receive, send) -> None:
    """The product's ASGI app behind an asyncio.Semaphore of `--admission N`: at most N HTTP
    requests inside Django at once, the others wait in the event loop (no thread, no
    middleware yet). What a bound in front of Django (liveshop/asgi.py) would give; served
    only with `--admission`."""
    global _admitted
    if _admitted is None:  # in the server's event loop, at the first request (the warm-up)
        from liveshop.asgi import application

        _admitted = application, asyncio.Semaphore(int(os.environ[ADMISSION_VARIABLE]))
    application, slots = _admitted
    if scope["type"] != "http":
        await application(scope, receive, send)
        return
    async with slots:
        await application(scope, receive, send)


@contextlib.contextmanager
def profiling(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy samples the server while the block runs (`out`: collapsed stacks), without
    pausing it (--nonblocking). Needs `.venv/bin/pip install py-spy` (not a requirement)."""
    if out is None:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--format", "raw", "--nonblocking", "--gil"]
    recorder = subprocess.Popen(
        [*command, "--rate", "100", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has and stops
        recorder.wait(timeout=120)


def one_run(
    kind: str,
    server_kind: str,
    buyers: int,
    units: int,
    postgres_url: str,
    server_log: Path | None = None,
    profile: Path | None = None,
    admission: int = 0,
    at_once: bool = True,
    workers: int = 1,
) -> dict:
    from tests.helpers import manage, site_env

    with (
        tempfile.TemporaryDirectory(prefix="checkout_race-") as tmp,
        private_redis() as (redis_url, redis_pid),
        fresh_database(kind, Path(tmp), postgres_url) as database_url,
    ):
        env = site_env(Path(tmp), REDIS_URL=redis_url, PAYMENTS_BACKEND="dummy", **UNTHROTTLED)
        env["DATABASE_URL"] = database_url
        migrated = manage("migrate", "--noinput", env=env, timeout=300)
        if migrated.returncode != 0:
            raise SystemExit(migrated.stderr[-4000:])
        prepared = step(["--setup", "--buyers", str(buyers), "--units", str(units)], env)
        with serve(server_kind, env, server_log, admission, workers) as server:
            pid = server.process.pid
            # Profiled from the first connection to the last answer (warm-up included).
            with profiling(pid, profile):
                outcome = asyncio.run(
                    race(
                        server.base_url,
                        prepared["tokens"],
                        server_pid=pid,
                        redis_pid=redis_pid,
                        at_once=at_once,
                    )
                )
            # The floor, on the same server right after: as many requests (at once, or one
            # at a time), each through the whole HTTP stack to a 404 that does no work.
            floor = asyncio.run(
                race(
                    server.base_url,
                    [None] * buyers,
                    method="GET",
                    path=FLOOR_PATH,
                    at_once=at_once,
                )
            )
        after = step(["--inspect", str(prepared["product"])], env)
    orders = after["orders"]
    sold = after["units_sold"]
    # Oversold: units sold beyond the stock, or a final stock that does not add up.
    oversold = max(0, sold - units) + abs(units - sold - after["final_stock"])
    return {
        "server": server_kind + (f" x{workers} workers" if workers > 1 else ""),
        "database": kind
        + (f", admission {admission}" if admission else "")
        + ("" if at_once else ", one at a time"),
        "buyers": buyers,
        "units": units,
        **after,
        "oversold": oversold,
        "checkouts_per_s": round(buyers / outcome["seconds"], 1),
        "orders_per_s": round(orders / outcome["seconds"], 1),
        **outcome,
        "floor_p50_ms": floor["p50_ms"],
        "floor_p99_ms": floor["p99_ms"],
        "floor_statuses": floor["statuses"],
    }


def median_row(runs: list[dict]) -> dict:
    from http_load import median

    row = dict(runs[-1])
    for key in (
        "seconds",
        "checkouts_per_s",
        "orders_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "server_cpu",
        "other_cpu",
        "floor_p50_ms",
        "floor_p99_ms",
    ):
        row[key] = median([run[key] for run in runs])
    # Correctness figures are the worst run's, never a median.
    row["orders"] = sorted({run["orders"] for run in runs})
    row["oversold"] = max(run["oversold"] for run in runs)
    row["final_stock"] = sorted({run["final_stock"] for run in runs})
    row["statuses"] = [run["statuses"] for run in runs]
    row["p50_by_status"] = [run["p50_ms_by_status"] for run in runs]
    return row


def table(rows: list[dict], runs: int) -> str:
    head = (
        "| server | database | buyers | units | orders | oversold | final stock | checkouts/s "
        "| orders/s | p50 ms | p99 ms | max ms | race s | server CPU | other tenants CPU "
        "| floor p50 / p99 ms | answers by status (each run) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:

        def fmt(value):
            return "/".join(str(v) for v in value) if isinstance(value, list) else str(value)

        statuses = "; ".join(
            ", ".join(f"{k}: {v} (p50 {p50[k]} ms)" for k, v in run.items())
            for run, p50 in zip(row["statuses"], row["p50_by_status"], strict=True)
        )
        lines.append(
            f"| {row['server']} | {row['database']} | {row['buyers']} | {row['units']} "
            f"| {fmt(row['orders'])} "
            f"| {row['oversold']} | {fmt(row['final_stock'])} | {row['checkouts_per_s']} "
            f"| {row['orders_per_s']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} "
            f"| {row['seconds']} | {row['server_cpu']} | {row['other_cpu']} "
            f"| {row['floor_p50_ms']} / {row['floor_p99_ms']} | {statuses} |"
        )
    note = (
        f"\nMedians of {runs} run(s); orders, oversold and final stock over every run. CPU in "
        "cores during the race (other tenants: the machine's busy time minus the server, "
        "redis and the load side). Floor: as many requests at once to a 404 through the same "
        "server and middleware, right after the race.\n"
    )
    return head + "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--servers",
        default="uvicorn",
        help="comma-separated: uvicorn (uvloop + httptools, the production server), daphne",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="uvicorn worker processes (WEB_WORKERS); a list runs them side by side: 1,2",
    )
    parser.add_argument("--server-log", type=Path, help="append the server's stderr to this file")
    parser.add_argument(
        "--profile",
        help="py-spy the product server during each server's and database's first race: "
        "PREFIX-<server>-<db>.txt",
    )
    parser.add_argument(
        "--admission",
        default="0",
        help="experiment: also (or only) with at most N requests inside Django at once "
        "(admitted_application): a list, 0 is the product as it is; e.g. 0,4",
    )
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="no race: the same requests one after another (the server's time per request)",
    )
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inspect", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.setup:
        print(json.dumps(setup_step(args.buyers, args.units)))
        return
    if args.inspect is not None:
        print(json.dumps(inspect_step(args.inspect)))
        return

    kinds = [kind.strip() for kind in args.databases.split(",") if kind.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    if args.buyers < 1 or args.units < 0 or args.runs < 1:
        parser.error("--buyers and --runs must be at least 1, --units at least 0")
    try:
        admissions = [int(value) for value in args.admission.split(",")]
    except ValueError:
        parser.error("--admission takes whole numbers, e.g. 0,4")
    if not admissions or min(admissions) < 0:
        parser.error("--admission takes whole numbers from 0 (0: the product as it is)")
    from common import check_servers

    servers = [server.strip() for server in args.servers.split(",") if server.strip()]
    problem = check_servers(servers) if servers else "--servers names no server"
    try:
        workers = [int(value) for value in args.workers.split(",")]
    except ValueError:
        workers = []
    if not problem and (not workers or min(workers) < 1):
        problem = "--workers takes whole numbers from 1, e.g. 1,2"
    if not problem and max(workers) > 1 and set(servers) - {"uvicorn"}:
        problem = "--workers above 1 needs --servers uvicorn"
    if problem:
        parser.error(problem)
    variants = [
        (server, admission, count)
        for server in servers
        for admission in admissions
        for count in workers
    ]
    rows, raw = [], []
    for kind in kinds:
        runs: dict[tuple[str, int, int], list[dict]] = {variant: [] for variant in variants}
        for index in range(args.runs):
            for server, admission, count in variants:  # side by side, run after run
                profile = None
                if args.profile and not index and not admission and count == 1:
                    profile = Path(f"{args.profile}-{server}-{kind}.txt")
                result = one_run(
                    kind,
                    server,
                    args.buyers,
                    args.units,
                    args.postgres_url,
                    args.server_log,
                    profile,
                    admission,
                    not args.one_at_a_time,
                    count,
                )
                print(f"# {kind} run {index + 1}: {json.dumps(result)}", file=sys.stderr)
                runs[server, admission, count].append(result)
        for variant_runs in runs.values():
            raw.extend(variant_runs)
            rows.append(median_row(variant_runs))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["bench/checkout_race.py", *sys.argv[1:]])
    text = (
        f"checkout_race {now}, {platform.node()} ({os.cpu_count()} CPUs), `{command}`\n\n"
        + table(rows, args.runs)
    )
    print(text)
    print(json.dumps({"rows": rows, "runs": raw}))
    out = args.out or PROJECT_ROOT / "bench" / "results" / f"checkout_race-{now[:10]}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n```json\n" + json.dumps(raw, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
