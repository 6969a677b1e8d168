"""Fuzzing the live API with schemathesis: a real server process on loopback serving the demo
data, its own /api/schema/ as the contract, every operation and method, as a visitor, as a
buyer and as a seller (Bearer tokens from POST /api/v1/auth/token/).

Checks: no 5xx (not_a_server_error); every answer's status is documented
(status_code_conformance), with the documented Content-Type (content_type_conformance),
headers (response_headers_conformance) and body (response_schema_conformance); data that
breaks the schema is refused (negative_data_rejection: a 4xx, never a 2xx); an operation
whose schema requires credentials refuses a request without them or with a bad token
(ignored_auth: probed again without the Bearer token and with an invalid one).

The run is schemathesis's own CLI in a subprocess (isolated from this pytest process and its
Django settings), with a fixed seed so that a failure in CI replays the same way locally:

    .venv/bin/pytest tests/test_schemathesis.py -q

Accepted failures are listed, each with its reason, in tests/schemathesis_hooks.py; those
that occur are reported as warnings. Throttling is off for this server (high rates), or the
fuzzer would only meet 429s; the failed-login counters (accounts/login_throttle.py) stay on,
so POST /auth/token/ soon answers its documented 429 for every guess."""

import json
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from tests.helpers import child_env, manage, site_env, web_server
from tests.schemathesis_hooks import ACCEPTED

pytestmark = pytest.mark.slow

SEED = 20261124
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
    ]
)
# Per operation and phase: enough to meet each field's edge cases (the coverage phase
# walks them all regardless) while the three runs stay within about three minutes on two
# cores.
MAX_EXAMPLES = 5
DEMO_PASSWORD = "liveshop-demo"  # catalog/management/commands/seed_demo.py
UNTHROTTLED = {
    f"API_THROTTLE_{scope}": "1000000/min" for scope in ("ANON", "USER", "WRITE", "AUTH")
}


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """The served demo site and the demo accounts' access tokens (15 minutes), taken before
    any fuzzing: the fuzzer's wrong passwords soon lock logins from this address."""
    env = site_env(tmp_path_factory.mktemp("schemathesis-site"), **UNTHROTTLED)
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr
    with web_server(env) as base_url:
        tokens = {user: access_token(base_url, user) for user in ("demo_buyer", "demo_seller")}
        yield base_url, tokens


def access_token(base_url: str, username: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/token/",
        data=json.dumps({"username": username, "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access"]


def run_schemathesis(base_url: str, folder: Path, *extra: str, config: str = "") -> tuple[int, str]:
    accepted_log = folder / "accepted.jsonl"
    config_file = folder / "schemathesis.toml"
    config_file.write_text(config)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        f"--config-file={config_file}",
        "run",
        f"{base_url}/api/schema/",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        # One worker: hypothesis describes strategies with ast.parse, which is not
        # thread-safe on Python 3.11 (a SystemError now and then with several workers).
        "--workers=1",
        "--request-timeout=15",
        "--generation-database=none",  # every run starts from the seed alone
        "--no-color",
        "--output-truncate=false",
        *extra,
    ]
    env = child_env(
        SCHEMATHESIS_HOOKS="tests.schemathesis_hooks",
        LIVESHOP_ACCEPTED_FAILURES=str(accepted_log),
        PYTHONPATH=str(PROJECT_ROOT),
    )
    result = subprocess.run(
        command,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    output = result.stdout + result.stderr
    (folder / "schemathesis.txt").write_text(output)
    report_accepted(accepted_log)
    return result.returncode, output


def report_accepted(log: Path) -> None:
    if not log.exists():
        return
    seen: dict[int, set[str]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        seen.setdefault(entry["entry"], set()).add(
            f"{entry['operation']} -> {entry['status']} ({entry['code']} {entry['title']})"
        )
    for number, failures in sorted(seen.items()):
        warnings.warn(
            f"schemathesis: accepted failure: {ACCEPTED[number].reason}\n  "
            + "\n  ".join(sorted(failures)),
            stacklevel=1,
        )


def failures_of(output: str) -> str:
    """The report's FAILURES and ERRORS sections (the whole output when it has neither)."""
    start = min(
        (output.find(marker) for marker in (" FAILURES ", " ERRORS ") if marker in output),
        default=0,
    )
    return output[max(0, start - 40) :][:30_000]


# The seller's run walks the catalog, the rooms and the seller's orders edge case by edge
# case; a buyer only meets their permission refusals there, which the random phases reach.
BUYER_CONFIG = """
[[operations]]
include-path-regex = "^/api/v1/(products|categories|rooms|seller)/"
phases.coverage.enabled = false
"""


@pytest.mark.parametrize(
    ("identity", "phases", "config"),
    [
        # A visitor meets the same validation as a signed-in user, walked through edge case
        # by edge case in the buyer's and the seller's coverage phase; for a visitor the
        # random phases suffice (and keep the whole run near three minutes).
        ("visitor", "examples,fuzzing,stateful", ""),
        ("demo_buyer", "examples,coverage,fuzzing,stateful", BUYER_CONFIG),
        ("demo_seller", "examples,coverage,fuzzing,stateful", ""),
    ],
    ids=["visitor", "buyer", "seller"],
)
def test_every_operation_answers_as_its_schema_says(demo_site, identity, phases, config, tmp_path):
    base_url, tokens = demo_site
    options = [f"--phases={phases}"]
    if identity in tokens:
        options += ["--header", f"Authorization: Bearer {tokens[identity]}"]

    returncode, output = run_schemathesis(base_url, tmp_path, *options, config=config)

    assert "Operations:" in output and "selected" in output, output[-3000:]
    assert returncode == 0, failures_of(output)
