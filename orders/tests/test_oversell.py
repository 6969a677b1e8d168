"""Overselling on SQLite: 40 buyers check out a product with 5 units at the same instant, in
threads with real commits on a SQLite file (tests/oversell_race.py, in its own process so the
threads share a real database). Exactly 5 get an order, 35 are told which product ran out,
stock ends at 0 and is never negative. The same race on PostgreSQL is in
tests/test_oversell_postgres.py and uses the checks below."""

import json
from collections import Counter

import pytest

from tests.helpers import manage, run_script, site_env

BUYERS, STOCK = 40, 5


def run_race(script: str, env: dict[str, str]) -> dict:
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    result = run_script(script, env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _outcomes(run: dict) -> Counter:
    errors = [r for r in run["results"] if r["outcome"] == "error"]
    assert not errors, errors[:3]  # a database error is not a clear refusal
    return Counter(r["outcome"] for r in run["results"])


def _refusals_name(run: dict, product: str) -> None:
    for refusal in (r for r in run["results"] if r["outcome"] == "out_of_stock"):
        assert f"“{product}” ran out" in refusal["message"]


def check_one_line(run: dict) -> None:
    assert _outcomes(run) == {"order": STOCK, "out_of_stock": BUYERS - STOCK}
    _refusals_name(run, "Limited sneaker")
    assert run["orders"] == STOCK
    assert run["orders_per_buyer_max"] == 1
    assert run["reserved"] == {"Limited sneaker": STOCK}
    assert run["stock"] == {"Limited sneaker": 0}
    assert run["lowest_stock_seen"]["Limited sneaker"] >= 0
    assert run["cart_lines_left"] == BUYERS - STOCK  # refused buyers keep their carts
    assert run["items_per_order"] == [1]


def check_two_lines(run: dict) -> None:
    """The scarce product is each cart's second line: a refused checkout keeps nothing of the
    first line reserved."""
    assert _outcomes(run) == {"order": STOCK, "out_of_stock": BUYERS - STOCK}
    _refusals_name(run, "Last vinyl")
    assert run["orders"] == STOCK
    assert run["reserved"] == {"Plain tee": STOCK, "Last vinyl": STOCK}
    assert run["stock"] == {"Plain tee": 100 - STOCK, "Last vinyl": 0}
    assert min(run["lowest_stock_seen"].values()) >= 0
    assert run["cart_lines_left"] == 2 * (BUYERS - STOCK)
    assert run["items_per_order"] == [2]


def check_crossed(run: dict) -> None:
    """Carts holding the same two products in opposite orders all check out."""
    assert _outcomes(run) == {"order": BUYERS}
    assert run["stock"] == {"Cap A": 100 - BUYERS, "Cap B": 100 - BUYERS}
    assert run["reserved"] == {"Cap A": BUYERS, "Cap B": BUYERS}
    assert run["cart_lines_left"] == 0


@pytest.fixture(scope="module")
def sqlite_race(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("oversell")
    return run_race("tests/oversell_race.py", site_env(folder))


def test_forty_buyers_for_five_units_get_exactly_five_on_sqlite(sqlite_race):
    check_one_line(sqlite_race["one_line"])


def test_a_refused_two_line_checkout_reserves_nothing_on_sqlite(sqlite_race):
    check_two_lines(sqlite_race["two_lines"])


def test_carts_in_opposite_orders_all_check_out_on_sqlite(sqlite_race):
    check_crossed(sqlite_race["crossed"])
