"""docker-compose.yml cannot be started here (no Docker engine), so its structure is checked
with a YAML parser, and its web environment is proven sufficient for production settings."""

import re
import secrets

import pytest
import yaml

from conftest import PROJECT_ROOT
from tests.helpers import child_env, manage

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_has_mongodb_redis_and_web():
    assert {"mongo", "redis", "web"} <= set(SERVICES)


def test_mongodb_runs_as_a_replica_set_with_a_healthcheck_that_initiates_it():
    mongo = SERVICES["mongo"]
    assert "--replSet" in mongo["command"]
    health = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in health and "rs.status" in health


@pytest.mark.parametrize("name", ["mongo", "redis", "web"])
def test_every_service_has_a_healthcheck(name):
    check = SERVICES[name]["healthcheck"]
    assert check["test"] and check["interval"] and check["retries"] >= 3


def test_web_waits_for_healthy_databases_and_runs_daphne():
    web = SERVICES["web"]
    assert web["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "daphne" in " ".join(web["command"])
    assert "migrate" in " ".join(web["command"])
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^CMD .*daphne", dockerfile, re.MULTILINE)
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


def test_web_environment_passes_the_production_deploy_check():
    operator = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
        "STRIPE_SECRET_KEY": "sk_live_from_operator",
        "STRIPE_WEBHOOK_SECRET": "whsec_from_operator",
    }
    env = {
        name: _substitute(str(value), operator)
        for name, value in SERVICES["web"]["environment"].items()
    }
    env["MONGODB_URI"] += "&serverSelectionTimeoutMS=100"  # `check` never connects anyway
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=child_env(**env))
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_environment_variable_the_settings_read():
    settings_source = (PROJECT_ROOT / "liveshop" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z_]+)"', settings_source))
    readme = (PROJECT_ROOT / "README.md").read_text()
    undocumented = sorted(name for name in read if f"`{name}`" not in readme)
    assert read and not undocumented, f"README lacks: {undocumented}"
