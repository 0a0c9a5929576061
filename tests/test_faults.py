"""Faults during a fit: signals stop it at once and leave no output, a disk too full is found before
sampling, failed chains are named, and a seed gives bit-identical draws."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import probdsl
from fake_model import fabricated_fit
from probdsl.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, app
from probdsl.results.summary import diagnose

ROOT = Path(__file__).parent.parent
EIGHT_SCHOOLS = (ROOT / "examples/eight_schools/eight_schools.pdl", ROOT / "examples/eight_schools/eight_schools.json")
LOGISTIC = (ROOT / "examples/logistic_regression/logistic_regression.pdl",
            ROOT / "examples/logistic_regression/logistic_regression.csv")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)])
def test_a_signal_during_sampling_stops_at_once_and_writes_nothing(tmp_path, signum, code):
    """Warmup and sampling run as one compiled loop (minutes here); the signal must not wait for it."""
    out = tmp_path / "fit.nc"
    fit = subprocess.Popen([sys.executable, "-m", "probdsl", "fit", *map(str, EIGHT_SCHOOLS), "--chains", "1",
                            "--warmup", "5000000", "--draws", "100", "--out", str(out), "--no-cache"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        seen = ""
        while "nuts:" not in seen and time.monotonic() - started < 300:  # the status line: compiling, then sampling
            seen += fit.stderr.read(1)
        assert "nuts:" in seen, seen
        time.sleep(5.0)  # into the compiled loop (5 million warmup iterations: minutes)
        sent = time.monotonic()
        fit.send_signal(signum)
        _, stderr = fit.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        fit.kill()
    assert fit.returncode == code, stderr
    assert stopped_after < 10, stopped_after
    assert "interrupted: no output written" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # neither the result nor a temporary file


def test_a_disk_too_full_is_reported_before_sampling(tmp_path, monkeypatch):
    import probdsl.results.io as io

    monkeypatch.setattr(io.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["fit", *map(str, EIGHT_SCHOOLS), "--out", str(tmp_path / "fit.nc")])
    assert result.exit_code == 2, result.output
    assert "error[E501]" in result.stderr and "only 1000 B is free there" in result.stderr
    assert time.perf_counter() - started < 30  # refused before compiling the sampler
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_output_is_reported_before_sampling(tmp_path):
    result = CliRunner().invoke(app, ["fit", *map(str, EIGHT_SCHOOLS), "--out", str(tmp_path / "absent" / "fit.nc")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_stuck_and_broken_chains_are_named():
    idata = fabricated_fit(chains=4, draws=50)
    posterior = idata.posterior
    posterior["mu"][1] = 2.0  # chain 2 never moves (every variable)
    for name in posterior.data_vars:
        posterior[name][1] = posterior[name][1][0]
    posterior["tau"][3, 7] = np.nan
    warnings = diagnose(idata)
    assert any(w.startswith("chain 2 never moved") for w in warnings), warnings
    assert any(w.startswith("chain 4 has non-finite draws") for w in warnings), warnings


def test_divergences_are_counted_per_chain():
    warnings = diagnose(fabricated_fit(chains=2, draws=50, divergences=3))
    assert any("(per chain: 3, 0)" in w for w in warnings), warnings


def _draws(idata) -> dict:
    return {name: idata.posterior[name].values for name in idata.posterior.data_vars}


@pytest.mark.parametrize("method, options", [("vi", {"max_steps": 300}), ("pathfinder", {"paths": 2}),
                                             ("sghmc", {"warmup": 100})])
def test_same_seed_same_draws_in_process(method, options):
    bound = probdsl.compile(LOGISTIC[0]).bind(LOGISTIC[1])
    first, second = (_draws(probdsl.api.fit_bound(bound, method, chains=2, draws=100, seed=11, progress=False,
                                                  **options)) for _ in range(2))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_same_seed_same_draws_across_processes(tmp_path):
    """NUTS with parallel chains, two separate processes: bit-identical draws."""
    import arviz as az

    outs = [tmp_path / f"run{i}.nc" for i in range(2)]
    for out in outs:
        result = subprocess.run([sys.executable, "-m", "probdsl", "fit", *map(str, EIGHT_SCHOOLS), "--chains", "2",
                                 "--warmup", "100", "--draws", "100", "--seed", "7", "--out", str(out), "--quiet"],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode in (0, 3), result.stderr
    first, second = (_draws(az.from_netcdf(out)) for out in outs)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
