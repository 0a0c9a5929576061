"""Smoke test of bench/sg: a small logistic regression, NUTS and the splitting scheme, end to end."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_sg_runs_and_reports(tmp_path):
    out, reference = tmp_path / "results.json", tmp_path / "reference.json"
    done = subprocess.run([sys.executable, "bench/sg/run.py", "--rows", "4000", "--quick", "--no-bias",
                           "--methods", "nuts", "splitting", "--out", out, "--reference", reference],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "| splitting |" in done.stdout and "| nuts |" in done.stdout
    speed = {row["method"]: row for row in json.loads(out.read_text())["speed"]}
    for row in speed.values():
        assert row["min_ess_bulk"] > 100 and row["time_to_1000_ess_s"] > 0
    assert speed["splitting"]["mean_error_sd"] < 0.5  # against a short NUTS reference: a loose check
    assert speed["nuts"]["gradients"] > 0 and speed["splitting"]["batch_size"] < 4000
