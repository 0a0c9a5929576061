"""The stochastic-gradient backend: its gradient estimators, its agreement with NUTS, the CLI."""

import subprocess
import sys
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import probdsl
from probdsl.backends.sg import SgConfig, fit_sg
from probdsl.backends.sg.sampler import _whitened_gradient
from probdsl.backends.sg.target import Target
from probdsl.errors import ModelError, RuntimeModelError
from probdsl.results.summary import diagnose

ROOT = Path(__file__).parent.parent
LOGISTIC = """
data int<lower=0> N;
data int<lower=1> D;
data matrix[N, D] X;
data array[N] int<lower=0, upper=1> y;
param real alpha ~ normal(0, 2.5);
param vector[D] beta ~ normal(0, 1);
y ~ bernoulli_logit(alpha + X * beta);
"""


def logistic_data(rows: int, dim: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    beta = np.linspace(-1.0, 1.0, dim)
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(0.3 + x @ beta))))
    return {"N": rows, "D": dim, "X": x, "y": y}


@pytest.fixture(scope="module")
def small_logistic():
    return probdsl.compile(LOGISTIC).bind(logistic_data(997))


@pytest.mark.parametrize("control_variates", [False, True])
def test_gradient_estimates_are_unbiased(small_logistic, control_variates):
    target = Target(small_logistic, jax.random.PRNGKey(0))
    mode = jnp.full(target.dim, 0.1)
    scale = jnp.full(target.dim, 0.5)
    anchor = target.full_value_and_grad(mode)[1] if control_variates else None
    grad_z = _whitened_gradient(target, mode, scale, 10, anchor)
    z = jnp.linspace(-1.0, 1.0, target.dim)
    estimates = jax.jit(jax.vmap(grad_z, (None, 0, None)))(z, jax.random.split(jax.random.PRNGKey(1), 4000),
                                                            target.arrays)
    exact = scale * target.full_value_and_grad(mode + scale * z)[1]
    standard_error = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - exact) < 4 * standard_error + 1e-4 * np.abs(exact))
    assert np.all(standard_error > 0)  # they are estimates: each batch differs


@pytest.mark.parametrize("control_variates", [False, True])
def test_the_gradient_sees_only_the_batch(small_logistic, control_variates):
    """No value of the 997 rows' size is computed per step: only the batch of 10 is gathered and used."""
    target = Target(small_logistic, jax.random.PRNGKey(0))
    mode, scale = jnp.zeros(target.dim), jnp.ones(target.dim)
    anchor = jnp.zeros(target.dim) if control_variates else None
    grad_z = _whitened_gradient(target, mode, scale, 10, anchor)
    jaxpr = jax.make_jaxpr(grad_z)(jnp.zeros(target.dim), jax.random.PRNGKey(0), target.arrays)
    shapes = [v.aval.shape for eqn in _equations(jaxpr.jaxpr) for v in eqn.outvars]
    assert shapes and not [s for s in shapes if 997 in s]
    assert any(s[:1] == (10,) for s in shapes)


def _equations(jaxpr):
    """Every equation of ``jaxpr``, those of nested jaxprs (jit, custom derivatives, scans) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _equations(inner)


@pytest.fixture(scope="module")
def nuts_reference():
    bound = probdsl.compile(LOGISTIC).bind(logistic_data(2000, seed=3))
    idata = probdsl.fit(probdsl.compile(LOGISTIC), logistic_data(2000, seed=3), chains=4, warmup=500, draws=1000,
                        seed=11, progress=False)
    return bound, idata


@pytest.mark.parametrize("integrator", ["splitting", "baoab"])
def test_logistic_regression_agrees_with_nuts(nuts_reference, integrator):
    bound, reference = nuts_reference
    fit = fit_sg(bound, SgConfig(integrator=integrator, chains=4, warmup=500, draws=1000, thin=5, seed=5,
                                 progress=False))
    for name in ("alpha", "beta"):
        ref_mean = reference.posterior[name].mean(("chain", "draw")).values
        ref_sd = reference.posterior[name].std(("chain", "draw")).values
        mean = fit.posterior[name].mean(("chain", "draw")).values
        sd = fit.posterior[name].std(("chain", "draw")).values
        # Monte Carlo error of the difference of the means is about 0.025 sd for these ESS
        np.testing.assert_array_less(np.abs(mean - ref_mean) / ref_sd, 0.1)
        np.testing.assert_array_less(np.abs(sd / ref_sd - 1), 0.1)
    assert float(fit.sample_stats["noise_ratio"].median()) < 0.5
    assert not diagnose(fit)


def test_noise_dominated_fit_is_flagged():
    bound = probdsl.compile(LOGISTIC).bind(logistic_data(5000, seed=4))
    fit = fit_sg(bound, SgConfig(chains=2, warmup=100, draws=100, thin=2, batch_size=4, control_variates=False,
                                 seed=2, progress=False))
    assert float(fit.sample_stats["noise_ratio"].median()) > 1
    assert any("minibatch gradient noise dominates" in w for w in diagnose(fit))


def test_models_with_a_parameter_per_row_are_refused():
    model = probdsl.compile(ROOT / "examples/eight_schools/eight_schools.pdl")
    with pytest.raises(ModelError, match="one value per row"):
        probdsl.fit(model, ROOT / "examples/eight_schools/eight_schools.json", method="sghmc", progress=False)


def test_an_initial_point_outside_the_support_is_e401():
    """A negative scale at the initial point: E401, as NUTS reports it, not NumPyro's ValueError."""
    bound = probdsl.compile("data vector[N] y; param real<upper=0> s ~ normal(0, 1); y ~ normal(0, s);").bind(
        {"y": [0.5, -0.2, 1.1]})
    with pytest.raises(RuntimeModelError, match=r"error\[E401\]"):
        Target(bound, jax.random.PRNGKey(0))


def test_cli_fits_a_csv_with_sghmc(tmp_path):
    data = logistic_data(3000, seed=6)
    frame = pd.DataFrame(data["X"], columns=[f"X.{j + 1}" for j in range(data["D"])]).assign(y=data["y"])
    frame.to_csv(tmp_path / "big.csv", index=False)
    (tmp_path / "model.pdl").write_text(LOGISTIC.replace("data int<lower=1> D;", "data int<lower=1> D;  // columns"))
    out = tmp_path / "fit.nc"
    result = subprocess.run([sys.executable, "-m", "probdsl", "fit", tmp_path / "model.pdl", tmp_path / "big.csv",
                             "--method", "sghmc", "--chains", "2", "--warmup", "200", "--draws", "200", "--seed", "1",
                             "--out", out], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode in (0, 3), result.stderr
    assert "tuned in" in result.stderr and "beta[1]" in result.stdout
    idata = az.from_netcdf(out)
    assert {"posterior", "sample_stats", "log_likelihood", "posterior_predictive", "observed_data"} <= set(idata.groups())
    assert idata.log_likelihood["y"].shape == (2, 200, 3000)
    assert {"step_size", "noise_ratio", "gradient_noise"} <= set(idata.sample_stats.data_vars)
    assert '"method": "sghmc"' in idata.attrs["config"]
