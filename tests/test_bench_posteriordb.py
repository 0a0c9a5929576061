"""The posteriordb harness's bookkeeping: quantity lookup, the pass rule, and rows that fail or are missing."""

import json
from types import SimpleNamespace

import arviz as az
import numpy as np
import posteriordb as harness  # bench/posteriordb.py (bench/ is on pytest's pythonpath)
import posteriordb_reference as reference


def test_compare_finds_stan_style_names_and_reports_absent_ones():
    draws = np.random.default_rng(0).normal(size=(2, 500, 2, 3)) + np.arange(3)
    idata = az.from_dict(posterior={"beta": draws, "sigma": np.ones((2, 500)) + draws[..., 0, 0] * 0.01})
    ref = {"beta[1,3]": {"mean": 2.0, "sd": 1.0}, "beta[2,1]": {"mean": 0.5, "sd": 1.0},
           "beta[3,1]": {"mean": 0.0, "sd": 1.0}, "beta[1]": {"mean": 0.0, "sd": 1.0},
           "tau": {"mean": 1.0, "sd": 1.0}, "sigma": {"mean": 1.0, "sd": 0.01}}
    by_name = {q.name: q for q in reference.compare(idata, ref)}
    assert by_name["beta[1,3]"].ok and by_name["sigma"].ok
    assert by_name["beta[2,1]"].found and not by_name["beta[2,1]"].mean_ok  # 0.5 sd off
    assert [n for n, q in by_name.items() if not q.found] == ["beta[3,1]", "beta[1]", "tau"]
    assert harness.failure_note(list(by_name.values())) == "not in the fit: beta (2), tau; mean: beta[2,1]"


def run_args():
    return SimpleNamespace(chains=1, warmup=10, draws=10, seed=1, x64=False)


def test_a_model_that_does_not_compile_is_a_fail_row(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "PORTS", tmp_path)
    (tmp_path / "broken-broken.pdl").write_text("param real mu ~ normal(0, ;\n")
    folder = tmp_path / "data" / "broken-broken"
    folder.mkdir(parents=True)
    (folder / "data.json").write_text("{}")
    (folder / "reference.json").write_text(json.dumps({"params": {"mu": {"mean": 0, "sd": 1}}}))
    row = harness.run_one("broken-broken", (tmp_path / "data",), run_args())
    assert row["status"] == "FAIL" and row["note"].startswith("SyntaxErrorPdl: ") and "\n" not in row["note"]
    assert "broken-broken | 1 |" in harness.markdown([row])


def test_posteriors_without_a_port_or_data_are_rows_not_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "PORTS", tmp_path)
    (tmp_path / "nodata-nodata.pdl").write_text("param real mu ~ normal(0, 1);\n")
    (tmp_path / "INDEX.md").write_text("| posterior | #params |\n|---|---:|\n| later-model | 4 | 3,640 |\n")
    assert harness.indexed_posteriors((tmp_path,)) == {"later-model"}
    assert harness.run_one("later-model", (tmp_path,), run_args())["status"] == "missing"
    assert harness.run_one("nodata-nodata", (tmp_path,), run_args())["status"] == "no data"
