"""Issue 8, benchmark 4: B buyers check out at the same instant over HTTP, against a real
daphne, for a product with U units. Every buyer has their own account, access token and a
cart holding one unit (made before the race); then all send `POST /api/v1/checkout/` at once.

    .venv/bin/python bench/checkout_race.py    # 1000 buyers, 100 units, SQLite + PostgreSQL, 3 runs
    .venv/bin/python bench/checkout_race.py --buyers 20 --units 5 --databases sqlite --runs 1
    .venv/bin/python bench/checkout_race.py --postgres-url postgres://user@host:5432/postgres

Reports, per database (median of the runs): orders, units sold, final stock, oversold (units
sold beyond U, or stock that does not add up: must be 0), answers by status (and error code),
checkouts/s (answers per second of the race), orders/s, p50/p99 latency. Prints a markdown
table and writes it (plus the raw runs as JSON) to `--out`.

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
def private_redis() -> Iterator[str]:
    """A redis-server of our own, so no other process's keys (throttle counters, sessions)
    meet ours."""
    from conftest import private_redis_server

    with private_redis_server() as (url, _process):
        yield url


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


async def race(base_url: str, tokens: list[str]) -> dict:
    from http_load import HttpConnection, Latencies

    host, port = base_url.removeprefix("http://").split(":")
    connections = [HttpConnection(host, int(port), timeout=300) for _ in tokens]
    # Every connection is open before anyone checks out: the race is the checkouts, not the
    # TCP handshakes (daphne's listen backlog would serialise those).
    for connection in connections:
        await connection.connect()
    # Warm-up: the first requests import the URL conf, views and serializers lazily.
    warm = HttpConnection(host, int(port), timeout=60)
    for _ in range(3):
        await warm.request("GET", "/api/v1/products/", headers={"Accept": "application/json"})
    await warm.close()
    go = asyncio.Event()
    latencies = Latencies()
    finished: list[float] = []

    async def buyer(connection: HttpConnection, token: str) -> None:
        await go.wait()
        try:
            response = await connection.request(
                "POST",
                "/api/v1/checkout/",
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
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

    tasks = [asyncio.create_task(buyer(c, t)) for c, t in zip(connections, tokens, strict=True)]
    await asyncio.sleep(0.2)  # every task is waiting on the start line
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    seconds = max(finished) - started
    for connection in connections:
        await connection.close()
    return {
        "seconds": round(seconds, 3),
        "statuses": dict(sorted(latencies.statuses.items())),
        "p50_ms": latencies.percentile_ms(0.50),
        "p99_ms": latencies.percentile_ms(0.99),
        "max_ms": latencies.percentile_ms(1.0),
    }


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path | None) -> Iterator[str]:
    """daphne on a free port (tests/helpers.py), its stderr kept in `log` when given: the
    tracebacks of any 500 are there."""
    from tests.helpers import Daphne, daphne_server

    if log is None:
        with daphne_server(env) as base_url:
            yield base_url
        return
    from conftest import wait_for_port

    server = Daphne(dict(env))
    with log.open("ab") as stderr:
        server.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1"]
            + ["-p", str(server.port), "liveshop.asgi:application"],
            cwd=PROJECT_ROOT,
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_for_port(server.port, timeout=30)
            yield server.base_url
        finally:
            server.stop()


def one_run(
    kind: str, buyers: int, units: int, postgres_url: str, server_log: Path | None = None
) -> dict:
    from tests.helpers import manage, site_env

    with (
        tempfile.TemporaryDirectory(prefix="checkout_race-") as tmp,
        private_redis() as redis_url,
        fresh_database(kind, Path(tmp), postgres_url) as database_url,
    ):
        env = site_env(Path(tmp), REDIS_URL=redis_url, PAYMENTS_BACKEND="dummy", **UNTHROTTLED)
        env["DATABASE_URL"] = database_url
        migrated = manage("migrate", "--noinput", env=env, timeout=300)
        if migrated.returncode != 0:
            raise SystemExit(migrated.stderr[-4000:])
        prepared = step(["--setup", "--buyers", str(buyers), "--units", str(units)], env)
        with serve(env, server_log) as base_url:
            outcome = asyncio.run(race(base_url, prepared["tokens"]))
        after = step(["--inspect", str(prepared["product"])], env)
    orders = after["orders"]
    sold = after["units_sold"]
    # Oversold: units sold beyond the stock, or a final stock that does not add up.
    oversold = max(0, sold - units) + abs(units - sold - after["final_stock"])
    return {
        "database": kind,
        "buyers": buyers,
        "units": units,
        **after,
        "oversold": oversold,
        "checkouts_per_s": round(buyers / outcome["seconds"], 1),
        "orders_per_s": round(orders / outcome["seconds"], 1),
        **outcome,
    }


def median_row(runs: list[dict]) -> dict:
    from http_load import median

    row = dict(runs[-1])
    for key in ("seconds", "checkouts_per_s", "orders_per_s", "p50_ms", "p99_ms", "max_ms"):
        row[key] = median([run[key] for run in runs])
    # Correctness figures are the worst run's, never a median.
    row["orders"] = sorted({run["orders"] for run in runs})
    row["oversold"] = max(run["oversold"] for run in runs)
    row["final_stock"] = sorted({run["final_stock"] for run in runs})
    row["statuses"] = [run["statuses"] for run in runs]
    return row


def table(rows: list[dict], runs: int) -> str:
    head = (
        "| database | buyers | units | orders | oversold | final stock | checkouts/s | orders/s "
        "| p50 ms | p99 ms | max ms | race s | answers by status (each run) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:

        def fmt(value):
            return "/".join(str(v) for v in value) if isinstance(value, list) else str(value)

        statuses = "; ".join(
            ", ".join(f"{k}: {v}" for k, v in run.items()) for run in row["statuses"]
        )
        lines.append(
            f"| {row['database']} | {row['buyers']} | {row['units']} | {fmt(row['orders'])} "
            f"| {row['oversold']} | {fmt(row['final_stock'])} | {row['checkouts_per_s']} "
            f"| {row['orders_per_s']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} "
            f"| {row['seconds']} | {statuses} |"
        )
    note = f"\nMedians of {runs} run(s); orders, oversold and final stock over every run.\n"
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
    parser.add_argument("--server-log", type=Path, help="append daphne's stderr to this file")
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
    rows, raw = [], []
    for kind in kinds:
        runs = []
        for index in range(args.runs):
            result = one_run(kind, args.buyers, args.units, args.postgres_url, args.server_log)
            print(f"# {kind} run {index + 1}: {json.dumps(result)}", file=sys.stderr)
            runs.append(result)
        raw.extend(runs)
        rows.append(median_row(runs))
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
