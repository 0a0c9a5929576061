"""Smoke test of the NUTS speed benchmark (bench/nuts/): one model, two tools, few draws."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "nuts"


def test_benchmark_runs_and_reports_every_measure(tmp_path):
    out = tmp_path / "results.json"
    command = [sys.executable, str(BENCH / "run.py"), "--models", "eight_schools", "--tools", "probdsl", "numpyro",
               "--seeds", "1", "--chains", "2", "--warmup", "100", "--draws", "100",
               "--data-dir", str(tmp_path / "data"), "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "| eight_schools | probdsl | 1 |" in done.stdout and "ESS/s vs NumPyro" in done.stdout
    results = json.loads(out.read_text())
    assert [r["tool"] for r in results["runs"]] == ["probdsl", "numpyro"]
    for run in results["runs"]:
        assert "error" not in run, run
        assert run["draws"] == 200 and run["min_ess_bulk"] > 20
        assert 0 < run["compile_s"] < run["end_to_end_s"] and run["sampling_s"] > 0
        assert run["steps_per_draw"] >= 1 and run["peak_rss_mb"] > 0
    assert results["targets"][0]["ess_per_s_vs_numpyro"] > 0
