"""Issue 8, benchmark 5: how fast the busiest pages answer, on daphne and uvicorn side by
side, and how many SQL queries and Redis round trips each page costs.

    .venv/bin/python bench/http_pages.py                       # 50 clients, 10 s per page, 3 runs
    .venv/bin/python bench/http_pages.py --seconds 3 --runs 1 --clients 10   # a smoke run
    .venv/bin/python bench/http_pages.py --page-cache 0        # without the anonymous page cache

What it does, all on loopback in a temporary folder:
1. migrates a fresh SQLite database (or the PostgreSQL one `--database-url` names: it must be
   empty, it is migrated and filled), runs `manage.py seed_demo` (12 products, 2 rooms);
2. counts the SQL queries and the Redis commands and round trips of every page with Django's
   test client (anonymous visitor), **at two data sizes**: the demo data, then after adding
   `--products` products and `--rooms` rooms (live and upcoming, with up to 8 products each)
   from a few more sellers. The counts must not grow with the items shown;
3. starts one process of each server in `--servers` with production settings (DEBUG off,
   collected static files, a private redis-server for cache, sessions, room store and channel
   layer; HTTPS redirect off because there is no TLS proxy on loopback; API rate limits
   raised so the throttle is not what is measured), pinned to CPU 0, and for each page in
   turn and each server in turn, `--clients` concurrent keep-alive clients (bench/http_load.py,
   run from this process, pinned to CPU 1) request it as fast as it answers for `--seconds`.

The clients send no cookie: they are anonymous first-time visitors, who get the shared page
of liveshop/pagecache.py where the page has one (home, product list, room list). Pages:
home, product list with filters (category, in stock, ordering), room list, a live room's
page, the product API (first page). Reports requests/s, p50/p99 latency, answers by status
and the server's CPU (medians of `--runs`), prints markdown tables and writes them to `--out`
(default `bench/results/http_pages-<date>-<time>.md`).
wrk is not installed on the development machines, so the load comes from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

UNTHROTTLED = {
    f"API_THROTTLE_{scope}": "100000000/min" for scope in ("ANON", "USER", "WRITE", "AUTH")
}
TARGET_PAGES = ("product list (filtered)", "room list")  # issue 8: >= 300 req/s, p99 < 100 ms
TARGET_RPS, TARGET_P99_MS = 300, 100


# --- steps run inside the server's environment ---------------------------------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pages_step() -> dict[str, str]:
    """The URLs measured, named. The room is the live room listing the most products."""
    from django.db.models import Count

    from catalog.models import Category
    from rooms.models import ShoppingRoom

    category = Category.objects.order_by("pk").first()
    room = (
        ShoppingRoom.objects.filter(status=ShoppingRoom.Status.LIVE)
        .annotate(n=Count("products"))
        .order_by("-n", "pk")
        .first()
    )
    return {
        "home": "/",
        "product list (filtered)": (
            f"/products/?category={category.slug}&in_stock=true&ordering=price"
        ),
        "room list": "/rooms/",
        "room page": f"/rooms/{room.pk}/",
        "product API": "/api/v1/products/",
    }


def count_step() -> dict:
    """SQL queries, Redis commands and Redis round trips per page for an anonymous visitor,
    and how many items the pages hold."""
    _django()
    from asgiref.sync import sync_to_async

    async def in_a_server_like_thread() -> dict:
        # As under a server, the page's reads of the room store (async_to_sync) run on one
        # long-lived event loop, so they reuse one Redis connection: what is counted is the
        # page's own round trips, not a connection set up and torn down per request.
        return await sync_to_async(_count_pages)()

    return asyncio.run(in_a_server_like_thread())


def _count_pages() -> dict:
    import redis
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Product
    from rooms.models import ShoppingRoom

    # One connection for the counters. Redis counts the commands it ran (INFO commandstats)
    # and the reads it served (total_reads_processed): one read per request, or per
    # pipelined batch, i.e. the round trips.
    server = redis.Redis.from_url(os.environ["REDIS_URL"])

    def counters() -> tuple[int, int]:
        commands = sum(entry["calls"] for entry in server.info("commandstats").values())
        return commands, server.info("stats")["total_reads_processed"]

    client = Client()
    counts = {}
    for name, url in pages_step().items():
        client.get(url)  # caches (e.g. the room store's first read) are not what is counted
        commands, reads = counters()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, HTTP_ACCEPT="text/html,application/json")
        commands_after, reads_after = counters()
        counts[name] = {
            "status": response.status_code,
            "queries": len(queries),
            # Per-item costs on Redis too (room store, cache), minus the counters' own INFOs.
            "redis_commands": commands_after - commands - 2,
            "redis_round_trips": reads_after - reads - 2,
        }
    return {
        "products": Product.objects.count(),
        "rooms": ShoppingRoom.objects.count(),
        "live_rooms": ShoppingRoom.objects.filter(status=ShoppingRoom.Status.LIVE).count(),
        "counts": counts,
    }


def grow_step(products: int, rooms: int) -> dict:
    """More sellers, products and rooms, so per-item costs show."""
    _django()
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts import services as accounts
    from catalog import services as catalog
    from catalog.models import Category
    from rooms import services as room_services

    categories = list(Category.objects.order_by("pk"))
    sellers = []
    for index in range(5):
        seller = accounts.user_register(
            username=f"bench_seller{index}",
            email=f"bench_seller{index}@example.test",
            password="x-Secret-99",
        )
        accounts.user_become_seller(user=seller, shop_name=f"Bench shop {index}")
        sellers.append(seller)
    by_seller: dict[int, list] = {s.pk: [] for s in sellers}
    for index in range(products):
        seller = sellers[index % len(sellers)]
        product = catalog.product_create(
            seller=seller,
            name=f"Bench product {index}",
            price=Decimal("5.00") + index,
            stock=(index * 7) % 50,
            category=categories[index % len(categories)],
            description="A product made by bench/http_pages.py.",
        )
        by_seller[seller.pk].append(product)
    for index in range(rooms):
        seller = sellers[index % len(sellers)]
        listed = by_seller[seller.pk][index % 5 : index % 5 + 8]
        live = index % 3 != 2  # two live rooms in three, the rest upcoming
        room = room_services.room_create(
            seller=seller,
            title=f"Bench room {index}",
            scheduled_start=timezone.now() + timedelta(minutes=-5 if live else 60 + index),
            products=listed,
        )
        if live:
            room_services.room_go_live(room=room, actor=seller)
            if listed:
                room_services.room_spotlight(room=room, actor=seller, product_id=listed[0].pk)
    return {"products": products, "rooms": rooms}


# --- from outside --------------------------------------------------------------------------


def step(args: list[str], env: dict[str, str], timeout: float = 600) -> dict:
    from common import run_step

    return run_step(__file__, args, env, timeout)


async def hammer(base_url: str, path: str, clients: int, seconds: float) -> dict:
    """`clients` keep-alive clients request `path` back to back for `seconds`."""
    from http_load import HttpConnection, Latencies

    host, port = base_url.removeprefix("http://").split(":")
    latencies = Latencies()
    accept = "application/json" if path.startswith("/api/") else "text/html"
    headers = {"Accept": accept, "Accept-Encoding": "identity"}
    deadline = 0.0

    async def client() -> None:
        connection = HttpConnection(host, int(port), timeout=30)
        try:
            while time.perf_counter() < deadline:
                try:
                    response = await connection.request("GET", path, headers=headers)
                except (TimeoutError, OSError, ConnectionError, ValueError) as exc:
                    latencies.add(f"failed: {type(exc).__name__}", None)
                    await connection.close()
                    continue
                latencies.add(response.status, response.seconds)
        finally:
            await connection.close()

    # Warm-up: a second of the same load, not counted.
    deadline = time.perf_counter() + 1.0
    await asyncio.gather(*(client() for _ in range(clients)))
    latencies = Latencies()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    answered = len(latencies.seconds)
    return {
        "requests": answered,
        "requests_per_s": round(answered / elapsed, 1),
        "p50_ms": latencies.percentile_ms(0.50),
        "p99_ms": latencies.percentile_ms(0.99),
        "statuses": dict(sorted(latencies.statuses.items())),
        "server_errors": sum(
            n for status, n in latencies.statuses.items() if not status.isdigit() or status >= "500"
        ),
        "seconds": elapsed,
    }


def measure(server, path: str, args: argparse.Namespace) -> dict:
    """One window: the load, the server's CPU and what the machine's other tenants took."""
    from common import cpu_seconds, machine_busy_seconds

    ours = [server.process.pid, os.getpid()]
    cpu_before = [cpu_seconds(pid) for pid in ours]
    busy_before = machine_busy_seconds()
    result = asyncio.run(
        hammer(f"http://127.0.0.1:{server.port}", path, args.clients, args.seconds)
    )
    # The warm-up second is in these CPU figures too: seconds + 1.
    window = result.pop("seconds") + 1.0
    spent = [cpu_seconds(pid) - before for pid, before in zip(ours, cpu_before, strict=True)]
    result["server_cpu"] = round(spent[0] / window, 2)
    result["load_cpu"] = round(spent[1] / window, 2)
    others = (machine_busy_seconds() - busy_before - sum(spent)) / window
    result["other_tenants_cpu"] = round(max(0.0, others), 2)
    return result


def production_env(folder: Path, base: dict[str, str], page_cache: int | None) -> dict[str, str]:
    env = dict(base)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(folder / "static"),
        # No TLS proxy on loopback; behind one, the redirect never reaches the server either.
        DJANGO_SECURE_SSL_REDIRECT="false",
        # Required by production settings; no payment is made by reading pages.
        PAYMENTS_BACKEND="stripe",
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
    )
    if page_cache is not None:
        env["PAGE_CACHE_SECONDS"] = str(page_cache)
    return env


@contextlib.contextmanager
def servers(kinds: list[str], env: dict[str, str], pin: bool):
    """One process of each kind, all on CPU 0 (one is loaded at a time)."""
    from common import Server

    started = []
    try:
        for kind in kinds:
            server = Server(kind, env, 0 if pin else None, app="liveshop.asgi:application")
            server.start()
            started.append(server)
        yield dict(zip(kinds, started, strict=True))
    finally:
        for server in started:
            server.stop()


def run(args: argparse.Namespace) -> dict:
    from common import pin

    from conftest import private_redis_server
    from tests.helpers import manage, site_env

    with (
        tempfile.TemporaryDirectory(prefix="http_pages-") as tmp,
        private_redis_server() as (redis, _process),
    ):
        folder = Path(tmp)
        env = site_env(folder, REDIS_URL=redis, **UNTHROTTLED)
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        for command in (["migrate", "--noinput"], ["seed_demo"]):
            done = manage(*command, env=env, timeout=300)
            if done.returncode != 0:
                raise SystemExit(f"{command}: {done.stderr[-4000:]}")
        small = step(["--count"], env)
        step(["--grow", str(args.products), str(args.rooms)], env)
        large = step(["--count"], env)
        prod = production_env(folder, env, args.page_cache)
        done = manage("collectstatic", "--noinput", env=prod, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"collectstatic: {done.stderr[-4000:]}")
        pages = step(["--pages"], env)
        runs = []
        with servers(args.servers, prod, not args.no_pin) as running:
            if not args.no_pin:
                pin(os.getpid(), 1)  # the load generator on the other core
            for index in range(args.runs):
                # Servers alternate page by page, so both meet the same neighbours.
                results: dict[str, dict] = {kind: {} for kind in args.servers}
                for name, path in pages.items():
                    for kind, server in running.items():
                        results[kind][name] = measure(server, path, args)
                print(f"# run {index + 1}: {json.dumps(results)}", file=sys.stderr)
                runs.append(results)
    return {"pages": pages, "small": small, "large": large, "runs": runs}


def tables(report: dict, args: argparse.Namespace) -> str:
    from http_load import median

    small, large = report["small"], report["large"]
    lines = [
        f"| server | page | URL | req/s | p50 ms | p99 ms | requests (each run) "
        f"| answers by status | server CPU | load CPU | other tenants CPU "
        f"| SQL queries at {small['products']} products / {small['rooms']} rooms "
        f"| at {large['products']} / {large['rooms']} "
        f"| Redis commands at {small['live_rooms']} live rooms | at {large['live_rooms']} "
        f"| Redis round trips at {small['live_rooms']} | at {large['live_rooms']} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[tuple[str, str], dict] = {}
    for name, url in report["pages"].items():
        for kind in args.servers:
            runs = [run[kind][name] for run in report["runs"]]
            statuses: dict[str, int] = {}
            for run in runs:
                for status, n in run["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + n
            row = {
                key: median([r[key] for r in runs])
                for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu", "load_cpu")
            }
            row["other_tenants_cpu"] = median([r["other_tenants_cpu"] for r in runs])
            summary[kind, name] = row
            s, g = small["counts"][name], large["counts"][name]
            lines.append(
                f"| {kind} | {name} | `{url}` | {row['requests_per_s']} | {row['p50_ms']} "
                f"| {row['p99_ms']} | {'/'.join(str(r['requests']) for r in runs)} "
                f"| {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} "
                f"| {row['server_cpu']} | {row['load_cpu']} | {row['other_tenants_cpu']} "
                f"| {s['queries']} | {g['queries']} | {s['redis_commands']} "
                f"| {g['redis_commands']} | {s['redis_round_trips']} | {g['redis_round_trips']} |"
            )
    text = "\n".join(lines) + (
        f"\n\n{args.clients} concurrent clients, {args.seconds} s per page per server per run; "
        f"medians of {args.runs} run(s). CPU in cores over each window.\n"
    )
    if len(args.servers) > 1:
        first, *others = args.servers
        text += (
            f"\nSide by side (each against {first}, same pages, same runs):\n\n"
            "| server | page | req/s | p99 |\n|---|---|---|---|\n"
        )
        for kind in others:
            for name in report["pages"]:
                a, b = summary[kind, name], summary[first, name]
                text += (
                    f"| {kind} / {first} | {name} "
                    f"| {_ratio(a['requests_per_s'], b['requests_per_s'])} "
                    f"| {_ratio(a['p99_ms'], b['p99_ms'])} |\n"
                )
    text += "\nTarget (issue 8): product list and room list >= 300 req/s with p99 < 100 ms:\n\n"
    for kind in args.servers:
        for name in TARGET_PAGES:
            row = summary[kind, name]
            met = (row["requests_per_s"] or 0) >= TARGET_RPS and (
                row["p99_ms"] is not None and row["p99_ms"] < TARGET_P99_MS
            )
            text += (
                f"- {'MET' if met else 'MISSED'}: {kind}, {name}: {row['requests_per_s']} req/s, "
                f"p99 {row['p99_ms']} ms\n"
            )
    return text


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--products", type=int, default=200, help="products added")
    parser.add_argument("--rooms", type=int, default=30, help="rooms added")
    parser.add_argument(
        "--servers",
        default="daphne,uvicorn",
        help="comma-separated: daphne, uvicorn (uvloop + httptools); first is the reference",
    )
    parser.add_argument(
        "--page-cache",
        type=int,
        help="PAGE_CACHE_SECONDS for the servers (default: production's, 1; 0 turns it off)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and load")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default SQLite)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grow", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pages", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.count:
        print(json.dumps(count_step()))
        return
    if args.grow:
        print(json.dumps(grow_step(*args.grow)))
        return
    if args.pages:
        _django()
        print(json.dumps(pages_step()))
        return
    if args.clients < 1 or args.seconds <= 0 or args.runs < 1:
        parser.error("--clients and --runs must be at least 1, --seconds above 0")
    if args.page_cache is not None and args.page_cache < 0:
        parser.error("--page-cache must be 0 (off) or more seconds")
    from common import check_servers

    args.servers = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    problem = check_servers(args.servers) if args.servers else "--servers names no server"
    if problem is None and len(set(args.servers)) != len(args.servers):
        problem = "--servers names a server twice"
    if problem:
        parser.error(problem)

    report = run(args)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["bench/http_pages.py", *sys.argv[1:]])
    text = f"http_pages {now}, {platform.node()} ({os.cpu_count()} CPUs), `{command}`\n\n" + tables(
        report, args
    )
    print(text)
    print(json.dumps(report))
    # Date and time in the name: a second run the same day must not overwrite the first.
    stamp = now[:16].replace(" ", "-").replace(":", "")
    out = args.out or PROJECT_ROOT / "bench" / "results" / f"http_pages-{stamp}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n```json\n" + json.dumps(report, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
