"""Stock and payment races on a real PostgreSQL, where rows are locked one by one (SQLite
locks the whole file): the oversell race of orders/tests/test_oversell.py, and concurrent
webhook deliveries of orders/tests/test_webhooks.py."""

import uuid
from collections.abc import Iterator

import pytest

from orders.tests.test_oversell import check_crossed, check_one_line, check_two_lines, run_race
from orders.tests.test_webhooks import STRIPE_ENV, check_webhook_race
from tests.helpers import child_env

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """One fresh database for the module (the races share it; each uses its own rows)."""
    import psycopg

    name = f"liveshop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def postgres_env(module_postgres_url, tmp_path_factory) -> dict[str, str]:
    media = tmp_path_factory.mktemp("media")
    return child_env(DATABASE_URL=module_postgres_url, DJANGO_MEDIA_ROOT=str(media), **STRIPE_ENV)


@pytest.fixture(scope="module")
def postgres_race(postgres_env) -> dict:
    return run_race("tests/oversell_race.py", postgres_env)


def test_forty_buyers_for_five_units_get_exactly_five_on_postgresql(postgres_race):
    check_one_line(postgres_race["one_line"])


def test_a_refused_two_line_checkout_reserves_nothing_on_postgresql(postgres_race):
    check_two_lines(postgres_race["two_lines"])


def test_carts_in_opposite_orders_do_not_deadlock_on_postgresql(postgres_race):
    check_crossed(postgres_race["crossed"])


def test_concurrent_webhook_deliveries_fulfil_once_on_postgresql(postgres_env):
    report = run_race("tests/webhook_race.py", postgres_env)
    # Row locks make the losing duplicate wait and then see the event recorded: both
    # deliveries are acknowledged.
    check_webhook_race(report, duplicate_always_acknowledged=True)
