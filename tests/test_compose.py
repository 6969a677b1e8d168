"""docker-compose.yml cannot be started here (no Docker engine), so its structure is checked
with a YAML parser, and its web environment is proven sufficient for production settings."""

import json
import re
import secrets

import pytest
import yaml

from conftest import PROJECT_ROOT
from tests.helpers import child_env, manage

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_has_mongodb_redis_web_scheduler_and_coturn():
    assert {"mongo", "redis", "web", "scheduler", "coturn"} <= set(SERVICES)


def test_mongodb_runs_as_a_replica_set_with_a_healthcheck_that_initiates_it():
    mongo = SERVICES["mongo"]
    assert "--replSet" in mongo["command"]
    health = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in health and "rs.status" in health


@pytest.mark.parametrize("name", ["mongo", "redis", "web", "coturn"])
def test_every_service_has_a_healthcheck(name):
    check = SERVICES[name]["healthcheck"]
    assert check["test"] and check["interval"] and check["retries"] >= 3


def test_web_waits_for_healthy_databases_and_runs_the_production_server():
    web = SERVICES["web"]
    assert web["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    # liveshop/serve.py, the one command the tests' servers and `make run` use too.
    assert "exec python -m liveshop.serve --host 0.0.0.0 --port 8000" in " ".join(web["command"])
    assert "migrate" in " ".join(web["command"])
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r'^CMD \["python", "-m", "liveshop.serve"', dockerfile, re.MULTILINE)
    # Several workers share rooms through Redis, which compose always gives them.
    env = _service_env("web", OPERATOR)
    assert int(env["WEB_WORKERS"]) > 1 and env["REDIS_URL"]
    assert env["WEB_FORWARDED_ALLOW_IPS"] == OPERATOR["WEB_FORWARDED_ALLOW_IPS"]
    assert "requirements.txt" in dockerfile


def test_web_environment_points_at_the_compose_services():
    env = SERVICES["web"]["environment"]
    assert env["DJANGO_DEBUG"] == "0"
    assert env["MONGODB_URI"].startswith("mongodb://mongo:27017/")
    assert "replicaSet=rs0" in env["MONGODB_URI"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    # Secrets come from the operator, never from the file.
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert env["DJANGO_ALLOWED_HOSTS"].startswith("${DJANGO_ALLOWED_HOSTS:?")


def _substitute(value: str, given: dict[str, str]) -> str:
    """Resolve compose's ${NAME:?msg} / ${NAME:-default} the way compose would."""

    def resolve(match: re.Match) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        if op == ":-":
            return rest
        raise KeyError(name)

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", resolve, value)


OPERATOR = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "STRIPE_SECRET_KEY": "sk_live_from_operator",
    "STRIPE_WEBHOOK_SECRET": "whsec_from_operator",
    "TURN_HOST": "turn.example.com",
    "TURN_PASSWORD": secrets.token_hex(16),
    "WEB_FORWARDED_ALLOW_IPS": "10.0.0.2",
}


def _service_env(name: str, given: dict[str, str]) -> dict[str, str]:
    return {
        key: _substitute(str(value), given) for key, value in SERVICES[name]["environment"].items()
    }


def test_web_environment_passes_the_production_deploy_check():
    env = _service_env("web", OPERATOR)
    env["MONGODB_URI"] += "&serverSelectionTimeoutMS=100"  # `check` never connects anyway
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=child_env(**env))
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_environment_variable_the_settings_read():
    settings_source = (PROJECT_ROOT / "liveshop" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z_]+)"', settings_source))
    readme = (PROJECT_ROOT / "README.md").read_text()
    undocumented = sorted(name for name in read if f"`{name}`" not in readme)
    assert read and not undocumented, f"README lacks: {undocumented}"


# --- the scheduler: expire_orders every minute -------------------------------------------


def test_the_scheduler_runs_expire_orders_every_minute_from_the_web_image():
    scheduler = SERVICES["scheduler"]
    assert scheduler["build"] == SERVICES["web"]["build"]  # the same Dockerfile, same code
    shell, flag, loop = scheduler["command"]
    assert (shell, flag) == ("sh", "-c")
    # Forever, one run a minute; a failed run (no `set -e`, no `&&`) does not end the loop.
    assert loop == "while true; do python manage.py expire_orders; sleep 60; done"
    assert scheduler["init"] is True  # stops at once on `docker compose stop`
    assert scheduler["restart"] == "unless-stopped"
    # After the databases are up and web has migrated them.
    assert scheduler["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert scheduler["depends_on"]["redis"]["condition"] == "service_healthy"
    assert scheduler["depends_on"]["web"]["condition"] == "service_healthy"
    assert "ports" not in scheduler


def test_the_scheduler_uses_the_web_services_database_redis_and_secrets():
    scheduler, web = _service_env("scheduler", OPERATOR), _service_env("web", OPERATOR)
    shared = (
        "DJANGO_DEBUG",
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "MONGODB_URI",
        "MONGODB_NAME",
        "REDIS_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
    )
    assert {name: scheduler[name] for name in shared} == {name: web[name] for name in shared}
    for secret in ("DJANGO_SECRET_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        assert SERVICES["scheduler"]["environment"][secret].startswith(f"${{{secret}:?")


OVERDUE_ORDER = """
from datetime import timedelta
from django.utils import timezone
from accounts import services as accounts
from catalog import services as catalog
from orders import services
from orders.models import Order
seller = accounts.user_register(username="s", email="s@example.test", password="x-Secret-99")
accounts.user_become_seller(user=seller, shop_name="Shop")
product = catalog.product_create(
    seller=seller, name="Hat", price="9.00", stock=3, category=catalog.category_create(name="Hats")
)
buyer = accounts.user_register(username="b", email="b@example.test", password="x-Secret-99")
services.cart_add(cart=services.cart_for_user(user=buyer), product=product, quantity=2)
order = services.checkout_create_order(user=buyer)
Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
"""


def test_one_turn_of_the_schedulers_loop_expires_an_overdue_order(tmp_path):
    """With the scheduler's own environment (production settings), except that MongoDB cannot
    run here: SQLite instead."""
    env = _service_env("scheduler", OPERATOR)
    del env["MONGODB_URI"], env["MONGODB_NAME"], env["REDIS_URL"]
    env = child_env(**env, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert manage("migrate", "--noinput", env=env).returncode == 0
    made = manage("shell", "-c", OVERDUE_ORDER, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    loop = SERVICES["scheduler"]["command"][2]
    one_turn = loop.removeprefix("while true; do ").removesuffix("; sleep 60; done")
    program, script, *args = one_turn.split()
    assert (program, script) == ("python", "manage.py")

    result = manage(*args, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "Expired 1 order."


# --- live video: coturn and ICE_SERVERS -----------------------------------------------------


def test_coturn_relays_with_the_credentials_web_hands_out():
    coturn = SERVICES["coturn"]
    assert coturn["image"].startswith("coturn/coturn:")
    # Host networking: coturn sees the machine's addresses, no docker-proxy per relay port.
    assert coturn["network_mode"] == "host"
    command = " ".join(coturn["command"])
    assert command.startswith("exec turnserver ")
    for flag in ("--listening-port=3478", "--lt-cred-mech", "--fingerprint", "--no-cli"):
        assert flag in command
    # Never relay to the host itself or to link-local (cloud metadata) addresses.
    assert "--denied-peer-ip=127.0.0.0-127.255.255.255" in command
    assert "--denied-peer-ip=169.254.0.0-169.254.255.255" in command
    # The shell in the container expands these ($$ is compose's escape for $).
    assert '--user="$$TURN_USERNAME:$$TURN_PASSWORD"' in command
    assert "--min-port=$$TURN_MIN_PORT --max-port=$$TURN_MAX_PORT" in command

    turn_env = _service_env("coturn", OPERATOR)
    assert int(turn_env["TURN_MIN_PORT"]) < int(turn_env["TURN_MAX_PORT"])
    assert turn_env["TURN_REALM"] == OPERATOR["TURN_HOST"]
    # The password is the operator's, never a default in the file.
    assert SERVICES["coturn"]["environment"]["TURN_PASSWORD"].startswith("${TURN_PASSWORD:?")
    with pytest.raises(KeyError):
        _service_env("coturn", {k: v for k, v in OPERATOR.items() if k != "TURN_PASSWORD"})

    web_env = _service_env("web", OPERATOR)
    servers = json.loads(web_env["ICE_SERVERS"])
    turn = [s for s in servers if any(u.startswith("turn:") for u in s["urls"])]
    assert len(turn) == 1
    assert "turn:turn.example.com:3478?transport=udp" in turn[0]["urls"]
    assert "turn:turn.example.com:3478?transport=tcp" in turn[0]["urls"]
    assert turn[0]["username"] == turn_env["TURN_USERNAME"]
    assert turn[0]["credential"] == turn_env["TURN_PASSWORD"] == OPERATOR["TURN_PASSWORD"]
    assert SERVICES["web"]["depends_on"]["coturn"]


def test_web_ice_servers_are_what_the_settings_accept():
    env = _service_env("web", OPERATOR)
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; import json; print(json.dumps(settings.ICE_SERVERS))",
        env=child_env(
            **{**env, "MONGODB_URI": env["MONGODB_URI"] + "&serverSelectionTimeoutMS=100"}
        ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == json.loads(env["ICE_SERVERS"])


@pytest.mark.redis
async def test_a_redis_restart_keeps_bans_and_recent_chat(tmp_path):
    """Bans, mutes, queues and recent chat live only in Redis: compose's Redis, run here with
    its own command line, must still have them after a restart (docker stops with SIGTERM)."""
    import shutil
    import subprocess

    from conftest import free_port, wait_for_port
    from rooms.store import RedisRoomStore

    service = SERVICES["redis"]
    assert "redis-data:/data" in service["volumes"]  # the file outlives the container
    port = free_port()
    command = [shutil.which("redis-server"), *service["command"][1:]]
    command += ["--dir", str(tmp_path), "--bind", "127.0.0.1", "--port", str(port)]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port)
        return process

    url = f"redis://127.0.0.1:{port}/0"
    redis_process = start()
    try:
        store = RedisRoomStore(url)
        await store.ban("7", "42")
        await store.chat_post(
            "7", "5", {"id": "m1", "text": "still here?"}, limit=5, window=10.0, staff=False
        )
        await store.redis.aclose()
        redis_process.terminate()
        redis_process.wait(timeout=10)
        redis_process = start()
        store = RedisRoomStore(url)
        assert await store.is_banned("7", "42")
        assert [line["text"] for line in await store.chat_recent("7", 50)] == ["still here?"]
        await store.redis.aclose()
    finally:
        redis_process.terminate()
        redis_process.wait(timeout=10)
