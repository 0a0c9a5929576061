"""End to end through the CLI: fit -> netCDF -> ArviZ; bad models exit 1 with a located message."""

import subprocess
import sys
from pathlib import Path

import arviz as az

ROOT = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "probdsl"]


def run(*args, cwd=ROOT):
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_fit_writes_inference_data(tmp_path):
    out = tmp_path / "es.nc"
    result = run("fit", "examples/eight_schools/eight_schools.pdl", "examples/eight_schools/eight_schools.json",
                 "--chains", 2, "--warmup", 200, "--draws", 200, "--seed", 3, "--out", out, "--quiet")
    assert result.returncode in (0, 3), result.stderr
    idata = az.from_netcdf(out)
    for group in ("posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"):
        assert group in idata.groups(), group
    assert list(idata.posterior["theta"].coords["J"].values) == list(range(1, 9))
    assert idata.attrs["seed"] == 3 and "model_source" in idata.attrs
    assert "mu" in result.stdout


def test_bad_model_exits_1_with_location(tmp_path):
    bad = tmp_path / "bad.pdl"
    bad.write_text("param real mu ~ normal(0, 1);\ny ~ normal(mu, sigmaa);\n")
    result = run("check", bad)
    assert result.returncode == 1
    assert f"{bad}:2:1" in result.stderr or f"{bad}:2:" in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_emit_python():
    result = run("compile", "examples/eight_schools/eight_schools.pdl", "--emit", "python")
    assert result.returncode == 0, result.stderr
    assert "def model(data, predict=False, from_prior=False):" in result.stdout
    compile(result.stdout, "emitted", "exec")


def test_fit_vi_prints_the_khat_verdict_and_plots_the_elbo(tmp_path):
    out = tmp_path / "lr.nc"
    result = run("fit", "examples/logistic_regression/logistic_regression.pdl",
                 "examples/logistic_regression/logistic_regression.csv", "--method", "vi", "--guide", "fullrank",
                 "--draws", 250, "--seed", 3, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "r_hat" in result.stdout and "vi (fullrank guide): k̂ = " in result.stderr
    idata = az.from_netcdf(out)
    assert {"log_likelihood", "posterior_predictive"} <= set(idata.groups())
    assert "elbo_trace" in idata.sample_stats
    plotted = run("plot", out, "--kind", "elbo")
    assert plotted.returncode == 0, plotted.stderr
    assert (tmp_path / "lr.elbo.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_pathfinder_then_elbo_plot_is_refused(tmp_path):
    out = tmp_path / "es.nc"
    result = run("fit", "examples/eight_schools/eight_schools.pdl", "examples/eight_schools/eight_schools.json",
                 "--method", "pathfinder", "--draws", 250, "--seed", 3, "--out", out, "--quiet")
    assert result.returncode in (0, 3), result.stderr
    assert "pathfinder (4 paths): k̂ = " in result.stderr
    refused = run("plot", out, "--kind", "elbo")
    assert refused.returncode == 2 and "needs the ELBO trace" in refused.stderr and "Traceback" not in refused.stderr
