"""Issue 8, benchmark 5: how fast the busiest pages answer, and how many SQL queries each costs.

    .venv/bin/python bench/http_pages.py                       # 50 clients, 10 s per page, 3 runs
    .venv/bin/python bench/http_pages.py --seconds 3 --runs 1 --clients 10   # a smoke run

What it does, all on loopback in a temporary folder:
1. migrates a fresh SQLite database (or the PostgreSQL one `--database-url` names: it must be
   empty, it is migrated and filled), runs `manage.py seed_demo` (12 products, 2 rooms);
2. counts the SQL queries of every page with Django's test client and
   `CaptureQueriesContext` (anonymous visitor), **at two data sizes**: the demo data, then
   after adding `--products` products and `--rooms` rooms (live and upcoming, with up to 8
   products each) from a few more sellers. The count must not grow with the items shown;
3. starts daphne with production settings (DEBUG off, collected static files, a private
   redis-server for cache, sessions and the channel layer; HTTPS redirect off because there
   is no TLS proxy on loopback; API rate limits raised so the throttle is not what is
   measured) and, for each page in turn, `--clients` concurrent keep-alive clients
   (bench/http_load.py) request it as fast as it answers for `--seconds` seconds.

Pages: home, product list with filters (category, in stock, ordering), room list, a live room's
page, the product API (first page). Reports requests/s, p50/p99 latency and answers by status
(median of `--runs`), prints a markdown table and writes it to `--out`. wrk is not installed
on the development machines, so the load comes from this script.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import subprocess
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


def redis_commands() -> int:
    """Commands the (private) Redis server has run so far, from INFO commandstats."""
    import redis

    stats = redis.Redis.from_url(os.environ["REDIS_URL"]).info("commandstats")
    return sum(entry["calls"] for entry in stats.values())


def count_step() -> dict:
    """SQL queries per page for an anonymous visitor, and how many items the page holds."""
    _django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Product
    from rooms.models import ShoppingRoom

    client = Client()
    counts = {}
    for name, url in pages_step().items():
        client.get(url)  # caches (e.g. the room store's first read) are not what is counted
        before = redis_commands()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, HTTP_ACCEPT="text/html,application/json")
        counts[name] = {
            "status": response.status_code,
            "queries": len(queries),
            # Redis round trips (room store, cache) are per-item costs too.
            "redis_commands": redis_commands() - before - 1,  # minus the INFO itself
        }
    return {
        "products": Product.objects.count(),
        "rooms": ShoppingRoom.objects.count(),
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
    result = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SystemExit(f"step {args} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    }


def production_env(folder: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(folder / "static"),
        # No TLS proxy on loopback; behind one, the redirect never reaches daphne either.
        DJANGO_SECURE_SSL_REDIRECT="false",
        # Required by production settings; no payment is made by reading pages.
        PAYMENTS_BACKEND="stripe",
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET="whsec_bench",
    )
    return env


def run(args: argparse.Namespace) -> dict:
    from checkout_race import private_redis

    from tests.helpers import daphne_server, manage, site_env

    with tempfile.TemporaryDirectory(prefix="http_pages-") as tmp, private_redis() as redis:
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
        prod = production_env(folder, env)
        done = manage("collectstatic", "--noinput", env=prod, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"collectstatic: {done.stderr[-4000:]}")
        pages = step(["--pages"], env)
        runs = []
        with daphne_server(prod) as base_url:
            for index in range(args.runs):
                results = {}
                for name, path in pages.items():
                    results[name] = asyncio.run(hammer(base_url, path, args.clients, args.seconds))
                print(f"# run {index + 1}: {json.dumps(results)}", file=sys.stderr)
                runs.append(results)
    return {"pages": pages, "small": small, "large": large, "runs": runs}


def table(report: dict, args: argparse.Namespace) -> str:
    from http_load import median

    small, large = report["small"], report["large"]
    lines = [
        f"| page | URL | req/s | p50 ms | p99 ms | requests (each run) | answers by status "
        f"| SQL queries at {small['products']} products / {small['rooms']} rooms "
        f"| at {large['products']} / {large['rooms']} "
        f"| Redis commands at {small['rooms']} rooms | at {large['rooms']} |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, url in report["pages"].items():
        runs = [run[name] for run in report["runs"]]
        statuses: dict[str, int] = {}
        for run in runs:
            for status, n in run["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        lines.append(
            f"| {name} | `{url}` | {median([r['requests_per_s'] for r in runs])} "
            f"| {median([r['p50_ms'] for r in runs])} | {median([r['p99_ms'] for r in runs])} "
            f"| {'/'.join(str(r['requests']) for r in runs)} "
            f"| {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} "
            f"| {small['counts'][name]['queries']} | {large['counts'][name]['queries']} "
            f"| {small['counts'][name]['redis_commands']} "
            f"| {large['counts'][name]['redis_commands']} |"
        )
    return (
        "\n".join(lines)
        + f"\n\n{args.clients} concurrent clients, {args.seconds} s per page per run; "
        f"medians of {args.runs} run(s).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--products", type=int, default=200, help="products added")
    parser.add_argument("--rooms", type=int, default=30, help="rooms added")
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

    report = run(args)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["bench/http_pages.py", *sys.argv[1:]])
    text = f"http_pages {now}, {platform.node()} ({os.cpu_count()} CPUs), `{command}`\n\n" + table(
        report, args
    )
    print(text)
    print(json.dumps(report))
    out = args.out or PROJECT_ROOT / "bench" / "results" / f"http_pages-{now[:10]}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n```json\n" + json.dumps(report, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()
