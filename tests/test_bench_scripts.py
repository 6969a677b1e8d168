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
    command = [sys.executable, "bench/http_pages.py", "--seconds", "2", "--runs", "1"]
    command += ["--clients", "5", "--products", "15", "--rooms", "6", "--out", str(out)]
    command += ["--servers", "daphne,uvicorn"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    report = _last_json_line(result.stdout)
    [run] = report["runs"]
    assert set(run) == {"daphne", "uvicorn"}
    pages = {"home", "product list (filtered)", "room list", "room page", "product API"}
    for server, measured in run.items():
        assert set(measured) == pages, server
        for name, page in measured.items():
            assert page["requests"] > 0, (server, name, page)
            assert page["server_errors"] == 0 and set(page["statuses"]) == {"200"}, page
    assert report["large"]["live_rooms"] > report["small"]["live_rooms"]
    for name in pages:
        small = report["small"]["counts"][name]
        large = report["large"]["counts"][name]
        assert small["status"] == large["status"] == 200, (name, small, large)
        # Neither SQL nor the room store is asked once per item shown.
        assert small["queries"] == large["queries"], (name, small, large)
        assert small["redis_round_trips"] == large["redis_round_trips"], (name, small, large)
    assert report["large"]["products"] > report["small"]["products"]
    assert "| uvicorn / daphne | room list |" in out.read_text()  # the side-by-side ratios


def _table_rows(table: str, header_start: str) -> list[dict]:
    """The rows of the markdown table whose header starts with `header_start`, as dicts."""
    lines = table.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    columns = [cell.strip() for cell in lines[at].strip("|").split("|")]
    rows = []
    for line in lines[at + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


@pytest.mark.slow
@pytest.mark.redis
def test_room_burst_benchmark_delivers_every_burst_to_every_socket(tmp_path):
    out = tmp_path / "room_burst.md"
    command = [sys.executable, "bench/room_burst.py", "--quick", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-4000:]
    table = out.read_text()
    assert table in result.stdout  # what was printed is what was written
    rows = {row["app"]: row for row in _table_rows(table, "| server | app | N |")}
    assert set(rows) == {"product", "baseline"}, table
    for row in rows.values():
        # The seller's spotlight (product) and a chat line (baseline) reached all 20 sockets
        # in the worst of the measured bursts.
        assert row["N"] == row["connected"] == row["delivered (worst burst)"] == "20", table
        assert row["last ms"] != "-", table
    assert "| daphne | 20 | 1 |" in table  # the side-by-side ratio row


@pytest.mark.slow
@pytest.mark.redis
def test_connect_storm_benchmark_accepts_every_socket_on_daphne_and_uvicorn(tmp_path):
    out = tmp_path / "connect_storm.md"
    command = [sys.executable, "bench/connect_storm.py", "--quick", "--servers", "daphne,uvicorn"]
    command += ["--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    table = out.read_text()
    assert table in result.stdout
    rows = _table_rows(table, "| server | app | N |")
    assert {(row["server"], row["app"]) for row in rows} == {
        (server, app) for server in ("daphne", "uvicorn") for app in ("product", "baseline")
    }, table
    for row in rows:
        assert row["accepted"] == row["N"] == "30" and row["failed"] == "0", table
        assert float(row["RSS idle MB"]) > 0, table
    assert "| uvicorn | 30 | 1 |" in table  # the side-by-side ratio row


@pytest.mark.slow
@pytest.mark.redis
def test_soak_runs_every_part_and_judges_every_condition(tmp_path):
    out = tmp_path / "soak.md"
    command = [sys.executable, "bench/soak.py", "--quick", "--out", str(out)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    table = out.read_text()
    assert table in result.stdout  # what was printed is what was written
    rows = _table_rows(table, "| part | condition |")
    parts = {row["part"].split(" ", 2)[1] for row in rows}
    assert parts == {"fan-out", "flash", "restart"}, table
    # Every condition holds, the viewer count after a killed server included (it heals).
    assert all(row["result"] == "pass" for row in rows), table
    by_condition = {row["condition"]: row["measured"] for row in rows}
    # --quick: 10 viewers x 2 s x 4 lines/s; 20 buyers for 5 units; 10 viewers restarted.
    assert by_condition["delivered == expected, 0 gaps, 0 out of order"].startswith("80 / 80")
    assert by_condition["exactly U orders, 0 oversold"].startswith("5 orders, 5 units sold")
    assert by_condition["all back (a room-state after the restart)"].startswith("10 / 10")
