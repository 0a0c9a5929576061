"""Two-level surrogate MCMC (``--method twolevel``) on a linear-Gaussian inverse problem.

The fine model is ``y ~ normal(G * theta, sigma)`` with ``theta ~ normal(0, 1)``: its posterior is
Gaussian with a closed form.  The coarse level is deliberately wrong (forward map scaled by 1.15
and shifted by 0.3), so sampling it alone is visibly biased; delayed acceptance must still give the
exact posterior, and the two-level estimator an unbiased mean.  Tolerances are Monte Carlo
errors: ArviZ's MCSE for a chain's mean, the reported standard error for the estimator.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import probdsl
from probdsl.backends.twolevel import levels as levels_module
from probdsl.errors import ModelError

FINE = """
data int<lower=1> M;
data int<lower=1> D;
data matrix[M, D] G;
data vector[M] y;
data real<lower=0> sigma;
param vector[D] theta ~ normal(0, 1);
y ~ normal({forward}, sigma);
"""
WRONG = "1.15 * (G * theta) + 0.3"
IN_FILE = f"fine_coarse(G * theta, {WRONG})"
FAST = dict(chains=2, warmup=300, fine_warmup=50, draws=400, progress=False)


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """The data, the exact posterior mean and covariance, and model files."""
    rng = np.random.default_rng(1)
    m, d, sigma = 20, 3, 0.5
    g = rng.normal(size=(m, d))
    y = g @ rng.normal(size=d) + sigma * rng.normal(size=m)
    precision = g.T @ g / sigma**2 + np.eye(d)
    covariance = np.linalg.inv(precision)
    mean = covariance @ g.T @ y / sigma**2
    folder = tmp_path_factory.mktemp("twolevel")
    data = {"M": m, "D": d, "G": g.tolist(), "y": y.tolist(), "sigma": sigma}
    (folder / "data.json").write_text(json.dumps(data))
    for name, forward in (("fine", "G * theta"), ("coarse", WRONG), ("in_file", IN_FILE)):
        (folder / f"{name}.pdl").write_text(FINE.format(forward=forward))
    (folder / "named.pdl").write_text(FINE.format(forward="mu") + "mu = G * theta;\n")
    return {"folder": folder, "data": data, "mean": mean, "covariance": covariance}


def fit(problem, model: str = "fine", **options):
    folder = problem["folder"]
    options.setdefault("surrogate", str(folder / "coarse.pdl"))
    return probdsl.fit(str(folder / f"{model}.pdl"), str(folder / "data.json"), method="twolevel",
                       **{**FAST, **options})


def theta_draws(idata) -> np.ndarray:
    return idata.posterior["theta"].values.reshape(-1, 3)


def z_scores(idata, exact_mean) -> np.ndarray:
    """(posterior mean - exact) / MCSE, per component."""
    import arviz as az

    mcse = az.mcse(idata, var_names=["theta"])["theta"].values
    return (idata.posterior["theta"].mean(("chain", "draw")).values - exact_mean) / mcse


def test_delayed_acceptance_is_exact_with_a_wrong_coarse_level(problem):
    from probdsl.results.c2st import c2st

    idata = fit(problem, seed=3)
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)
    exact = np.random.default_rng(0).multivariate_normal(problem["mean"], problem["covariance"], 800)
    assert c2st(theta_draws(idata), exact) <= 0.6
    config = json.loads(idata.attrs["config"])
    assert config["method"] == "twolevel" and config["surrogate"] == "file"
    assert 0.3 < config["stage2_acceptance"] <= 1
    assert {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"} <= set(idata.groups())
    assert {"lp", "coarse_lp", "accepted", "subchain_acceptance"} <= set(idata.sample_stats.data_vars)


def test_the_coarse_level_alone_is_biased(problem):
    """NUTS on the coarse model: the bias the correction removes is far outside Monte Carlo error."""
    folder = problem["folder"]
    coarse = probdsl.fit(str(folder / "coarse.pdl"), str(folder / "data.json"), chains=2, warmup=300, draws=400,
                         seed=3, progress=False)
    assert np.max(np.abs(z_scores(coarse, problem["mean"]))) > 6


@pytest.mark.slow
def test_the_model_files_own_coarse_level(problem):
    """``fine_coarse(fine, coarse)`` in the model: the default surrogate; same exactness."""
    idata = fit(problem, "in_file", surrogate=None, seed=4)
    assert json.loads(idata.attrs["config"])["surrogate"] == "coarse"
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)


def test_command_line_with_a_gradient_free_base_chain(problem):
    """``probdsl fit --method twolevel`` end to end: the model's own coarse level, random-walk base chains,
    the cost accounting printed, a result file with exact draws."""
    import subprocess
    import sys

    import arviz as az

    folder = problem["folder"]
    out = folder / "cli.nc"
    result = subprocess.run(
        [sys.executable, "-m", "probdsl", "fit", folder / "in_file.pdl", folder / "data.json", "--method", "twolevel",
         "--base", "rwm", "--subchain", "10", "--chains", "2", "--warmup", "300", "--fine-warmup", "50", "--draws",
         "400", "--seed", "5", "--out", out, "--quiet"], capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 3), result.stderr
    assert "twolevel da: coarse level the model's coarse level; base chains rwm, 10 coarse steps" in result.stderr
    assert "stage-two acceptance" in result.stderr and "theta[1]" in result.stdout
    idata = az.from_netcdf(out)
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)


@pytest.mark.slow
def test_pcn_base_chain(problem):
    idata = fit(problem, base="pcn", subchain=10, seed=5)
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)


def test_the_fine_model_is_evaluated_once_per_iteration_only(problem, monkeypatch):
    """Count fine evaluations (a host callback in the fine density): one per chain per fine iteration,
    plus the initial points: the subchains never touch the fine model."""
    import jax

    calls = []
    original = levels_module.Levels.fine_with_locations
    original_fine = levels_module.Levels.fine

    def counted(method):
        def wrapper(self, theta):  # vmapped over chains, the callback sees them all at once
            jax.debug.callback(lambda t: calls.append(np.atleast_2d(t).shape[0]), theta)
            return method(self, theta)
        return wrapper

    monkeypatch.setattr(levels_module.Levels, "fine_with_locations", counted(original))
    monkeypatch.setattr(levels_module.Levels, "fine", counted(original_fine))
    idata = fit(problem, "in_file", surrogate=None, seed=6, draws=60, fine_warmup=20)  # the model's own level
    config = json.loads(idata.attrs["config"])
    assert config["surrogate"] == "coarse"
    assert sum(calls) == config["fine_solves"]
    chains = FAST["chains"]
    initial = config["fine_solves"] - chains * (1 + 20 + 60)
    assert 0 < initial and initial % chains == 0  # the tries for finite initial points
    assert config["fine_solves_sampling"] == chains * 60


@pytest.mark.slow
def test_error_model_raises_stage_two_acceptance(problem):
    on = json.loads(fit(problem, seed=7, draws=200).attrs["config"])
    off = json.loads(fit(problem, seed=7, draws=200, error_model=False).attrs["config"])
    assert on["error_model_sites"] == ["y"] and off["error_model_sites"] == []
    assert on["stage2_acceptance"] > off["stage2_acceptance"]


def test_estimator_mean_within_its_standard_error(problem):
    idata = fit(problem, mode="estimator", seed=8, draws=600)
    estimate = idata.twolevel_estimate
    z = (estimate["mean"].values - problem["mean"]) / estimate["standard_error"].values
    assert np.all(np.abs(z) < 4)
    level0 = (estimate["level0_mean"].values - problem["mean"]) / estimate["standard_error"].values
    assert np.max(np.abs(level0)) > 4  # the coarse level alone is off; the correction brings it back
    assert list(estimate["quantity"].values) == ["theta[1]", "theta[2]", "theta[3]"]


def test_no_coarse_level_is_a_located_choice(problem):
    with pytest.raises(ModelError) as error:
        fit(problem, surrogate=None)
    assert error.value.codes == ["E406"]
    assert "fine_coarse" in str(error.value)


def test_coarse_file_with_other_parameters_is_refused(problem, tmp_path):
    other = tmp_path / "other.pdl"
    other.write_text(FINE.format(forward="G * theta").replace("param vector[D] theta", "param vector[D] beta")
                     .replace("G * theta", "G * beta"))
    with pytest.raises(ModelError) as error:
        fit(problem, surrogate=str(other))
    assert error.value.codes == ["E407"]
    assert "`theta` is a parameter of `fine` only" in str(error.value)


@pytest.mark.slow
def test_neural_surrogate(problem):
    """A network emulating ``mu`` (trained on 300 fine solves, posterior-adapted): exact draws, the
    training solves counted among the fine solves, its validation error recorded."""
    idata = fit(problem, "named", surrogate="neural", emulate=["mu"], training=300, seed=9)
    config = json.loads(idata.attrs["config"])
    assert config["surrogate"] == "neural" and config["emulated"] == ["mu"] and config["emulator_inputs"] == ["theta"]
    assert config["training_solves"] == 300 and config["fine_solves"] > 300 + FAST["chains"] * FAST["draws"]
    assert config["validation_error"] < 0.05 and config["stage2_acceptance"] > 0.8
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)


def test_neural_surrogate_needs_something_to_emulate(problem):
    with pytest.raises(ModelError) as error:
        fit(problem, "named", surrogate="neural", emulate=["theta"])
    assert error.value.codes == ["E408"] and "emulate one of: mu" in str(error.value)


@pytest.mark.slow
def test_estimator_is_unbiased_across_replications(problem):
    """50 replications: the mean error is within 3 standard errors of the replications' mean."""
    estimates = np.array([fit(problem, mode="estimator", seed=100 + r, draws=400).twolevel_estimate["mean"].values
                          for r in range(50)])
    error = estimates.mean(0) - problem["mean"]
    standard_error = estimates.std(0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(np.abs(error) < 3 * standard_error)


@pytest.mark.slow
def test_pathfinder_initial_points(problem):
    idata = fit(problem, init="pathfinder", seed=10)
    assert np.all(np.abs(z_scores(idata, problem["mean"])) < 4)


@pytest.mark.slow
def test_lotka_volterra_example_matches_posteriordb():
    """The example (ODE at tolerance 1e-10, coarse level at 1e-6): means within 4 combined MCSE of
    posteriordb's reference (its 10,000 draws are nearly independent)."""
    from pathlib import Path

    import arviz as az

    root = Path(__file__).parent.parent
    reference = next((p for p in (root.parent / "shared/posteriordb", root / "tests/posteriordb")
                      if (p / "hudson_lynx_hare-lotka_volterra").exists()), None)
    if reference is None:
        pytest.skip("posteriordb reference not available")
    ref = json.loads((reference / "hudson_lynx_hare-lotka_volterra/reference.json").read_text())["params"]
    idata = probdsl.fit(str(root / "examples/twolevel/lotka_volterra.pdl"), str(root / "examples/twolevel/lynx_hare.json"),
                        method="twolevel", init="pathfinder", x64=True, chains=4, warmup=300, fine_warmup=50,
                        draws=300, seed=1, progress=False)
    summary = az.summary(idata, var_names=["theta", "z_init", "sigma"], round_to="none")
    for name, row in summary.iterrows():
        assert abs(row["mean"] - ref[name]["mean"]) < 4 * np.hypot(row["mcse_mean"], ref[name]["sd"] / 100), name
