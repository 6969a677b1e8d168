"""The benchmark scripts still run: a short smoke run of each, not a measurement."""

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
