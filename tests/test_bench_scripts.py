"""The benchmark scripts still run: a short smoke run of each, not a measurement."""

import json
import re
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT


@pytest.mark.slow
def test_media_relay_benchmark_runs_and_reports_delivered_frames(tmp_path):
    out = tmp_path / "media_relay.md"
    command = [sys.executable, "bench/media_relay.py", "--quick", "--seconds", "3"]
    command += ["--relay", "ours", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    table = out.read_text()
    assert table in result.stdout  # what was printed is what was written
    rows = [line for line in table.splitlines() if line.startswith("| ForwardingUnit |")]
    header = next(line for line in table.splitlines() if line.startswith("| relay |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    delivered = columns.index("frames delivered median")
    by_n = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        by_n[cells[1]] = cells
    assert set(by_n) == {"1", "10"}, table
    share = re.fullmatch(r"([\d.]+)%", by_n["1"][delivered])
    assert share and float(share.group(1)) > 0, table


@pytest.mark.slow
@pytest.mark.redis
def test_room_fanout_benchmark_reports_product_and_baseline_without_gaps(tmp_path):
    out = tmp_path / "room_fanout.md"
    command = [sys.executable, "bench/room_fanout.py", "--quick", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    table = out.read_text()
    assert table in result.stdout  # what was printed is what was written
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| server | app |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == len(columns) and cells[1] in {"product", "baseline"}:
            rows[cells[1]] = dict(zip(columns, cells, strict=True))
    assert set(rows) == {"product", "baseline"}, table
    for row in rows.values():
        assert int(row["delivered"]) > 0, table
        assert row["gaps"] == "0 [0]", table
        assert row["out-of-order"] == "0", table
    assert "| daphne | 5 |" in table  # the side-by-side ratio row


def _last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.redis
def test_checkout_race_benchmark_sells_exactly_the_units_and_never_oversells(tmp_path):
    out = tmp_path / "checkout_race.md"
    command = [sys.executable, "bench/checkout_race.py", "--buyers", "20", "--units", "5"]
    command += ["--databases", "sqlite", "--runs", "1", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-4000:]
    [run] = _last_json_line(result.stdout)["runs"]
    assert run["oversold"] == 0, run
    assert run["orders"] == 5 and run["units_sold"] == 5 and run["final_stock"] == 0, run
    # Every buyer has an answer: an order, or a clear refusal because the stock ran out.
    assert run["statuses"] == {"201": 5, "409 out_of_stock": 15}, run
    assert "| sqlite | 20 | 5 | 5 | 0 | 0 |" in out.read_text()


@pytest.mark.slow
@pytest.mark.redis
def test_http_pages_benchmark_answers_every_page_and_counts_constant_queries(tmp_path):
    out = tmp_path / "http_pages.md"
    command = [sys.executable, "bench/http_pages.py", "--seconds", "3", "--runs", "1"]
    command += ["--clients", "5", "--products", "15", "--rooms", "4", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    report = _last_json_line(result.stdout)
    [run] = report["runs"]
    assert set(run) == {"home", "product list (filtered)", "room list", "room page", "product API"}
    for name, page in run.items():
        assert page["requests"] > 0, (name, page)
        assert page["server_errors"] == 0 and set(page["statuses"]) == {"200"}, (name, page)
        small = report["small"]["counts"][name]
        large = report["large"]["counts"][name]
        assert small["status"] == large["status"] == 200, (name, small, large)
        assert small["queries"] == large["queries"], (name, small, large)
    assert report["large"]["products"] > report["small"]["products"]
