"""The NUTS backend on hand-written NumPyro models (tests/fake_model.py)."""

import json

import arviz as az
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from fake_model import SCHOOLS, ExplainingFakeModel, eight_schools, normal_normal
from probdsl.backends.nuts import NutsConfig, fit_nuts, fit_prior, predict, resolve_seed
from probdsl.errors import ModelError, RuntimeModelError, UsageError
from probdsl.model_interface import OBSERVED, PARAM, SiteInfo

SAMPLE_STATS = {"diverging", "energy", "step_size", "tree_depth", "n_steps", "lp", "acceptance_rate"}


@pytest.fixture(scope="module")
def eight():
    model = eight_schools()
    return model, fit_nuts(model, NutsConfig(chains=2, warmup=200, draws=200, seed=11, progress=False))


def test_groups_and_sample_stats(eight):
    _, idata = eight
    assert set(idata.groups()) == {"posterior", "sample_stats", "log_likelihood", "posterior_predictive",
                                   "observed_data", "constant_data"}
    assert set(idata.sample_stats.data_vars) == SAMPLE_STATS
    stats = idata.sample_stats
    assert stats.diverging.dtype == bool
    n_steps, depth = stats.n_steps.values, stats.tree_depth.values
    assert np.all((2 ** (depth - 1) <= n_steps) & (n_steps < 2**depth))
    assert np.all(np.isfinite(stats.lp.values)) and np.all(stats.lp.values < 0)
    assert np.all((stats.acceptance_rate.values >= 0) & (stats.acceptance_rate.values <= 1))


def test_posterior_has_params_deterministic_and_generated_with_named_coords(eight):
    _, idata = eight
    post = idata.posterior
    assert list(post.data_vars) == ["mu", "tau", "eta", "theta", "theta_max"]
    assert post.eta.dims == ("chain", "draw", "school")
    assert list(post.school.values) == SCHOOLS
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 200
    np.testing.assert_allclose(post.theta, post.mu + post.tau * post.eta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(post.theta_max, post.theta.max("school"), rtol=1e-6)
    assert idata.posterior_predictive.y.dims == ("chain", "draw", "school")
    assert idata.observed_data.y.dims == ("school",)
    assert set(idata.constant_data.data_vars) == {"J", "sigma"}


def test_log_likelihood_is_pointwise_normal_density(eight):
    model, idata = eight
    theta = idata.posterior.theta.values
    y, sigma = model.data["y"], model.data["sigma"]
    expected = -0.5 * ((y - theta) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    assert list(idata.log_likelihood.data_vars) == ["y"]
    np.testing.assert_allclose(idata.log_likelihood.y.values, expected, rtol=1e-4, atol=1e-4)


def test_provenance_attrs(eight):
    model, idata = eight
    attrs = idata.attrs
    assert attrs["seed"] == 11
    config = json.loads(attrs["config"])
    assert config["seed"] == 11 and config["chains"] == 2 and config["method"] == "nuts"
    assert config["chain_method"] in {"parallel", "vectorized"}
    assert attrs["model_source"] == model.source
    assert attrs["data_hash"] == model.data_hash()
    assert set(json.loads(attrs["versions"])) == {"numpyro", "jax", "arviz", "numpy"}
    assert attrs["probdsl_version"] and attrs["created_at"]


def test_predict_recomputes_observed_and_generated_sites(eight):
    model, idata = eight
    result = predict(model, idata, seed=5)
    assert {"posterior", "predictions", "predictions_constant_data"} <= set(result.groups())
    assert {"y", "theta", "theta_max"} == set(result.predictions.data_vars)
    assert result.predictions.y.dims == ("chain", "draw", "school")
    assert result.attrs["seed"] == 5


def test_normal_normal_posterior_matches_closed_form():
    rng = np.random.default_rng(0)
    y = rng.normal(1.5, 1.0, size=20)
    prior_sd = 10.0
    precision = 1 / prior_sd**2 + len(y)
    exact_mean, exact_sd = y.sum() / precision, precision**-0.5
    idata = fit_nuts(normal_normal(y, prior_sd), NutsConfig(chains=2, warmup=300, draws=1000, seed=3, progress=False))
    mu = idata.posterior.mu
    mcse_mean = exact_sd / np.sqrt(az.ess(mu.values, method="mean"))
    mcse_sd = exact_sd / np.sqrt(2 * az.ess(mu.values, method="sd"))
    assert abs(float(mu.mean()) - exact_mean) < 4 * mcse_mean
    assert abs(float(mu.std()) - exact_sd) < 4 * mcse_sd


def test_nonfinite_initial_density_names_the_statement():
    def broken(data, predict=False):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.factor("bad", -np.inf * (mu * 0 + 1))

    seen = {}

    def explain(params):
        seen.update(params)
        return "model.pdl:3:1: `target += ...` is -inf"

    model = ExplainingFakeModel("broken", "", [SiteInfo("mu", PARAM, (), ())], {}, {}, broken, observed=(),
                                explain=explain)
    with pytest.raises(RuntimeModelError) as err:
        fit_nuts(model, NutsConfig(chains=1, warmup=10, draws=10, seed=0, progress=False))
    assert "not finite" in str(err.value) and "model.pdl:3:1" in str(err.value)
    assert set(seen) == {"mu"}


@pytest.mark.parametrize("config, fragment", [
    (NutsConfig(chains=0), "--chains"),
    (NutsConfig(adapt_delta=1.0), "--adapt-delta"),
    (NutsConfig(init=-1.0), "radius"),
    (NutsConfig(init={"nope": 1.0}), "nope"),
    (NutsConfig(seed=2**32), "seed"),
])
def test_bad_configuration_is_a_usage_error(config, fragment):
    with pytest.raises(UsageError, match=fragment):
        fit_nuts(eight_schools(), config)


def test_prior_groups_and_recorded_random_seed_reproduces_the_draws():
    idata = fit_prior(eight_schools(), draws=50, seed=None)
    assert {"prior", "prior_predictive", "observed_data", "constant_data"} == set(idata.groups())
    assert list(idata.prior.data_vars) == ["mu", "tau", "eta", "theta", "theta_max"]
    assert idata.prior_predictive.y.shape == (1, 50, 8)
    seed = idata.attrs["seed"]
    assert isinstance(seed, int) and json.loads(idata.attrs["config"])["seed"] == seed
    again = fit_prior(eight_schools(), draws=50, seed=seed)
    np.testing.assert_array_equal(idata.prior.eta.values, again.prior.eta.values)


def test_prior_refused_for_flat_priors():
    model = eight_schools()
    model.sites = [SiteInfo(s.name, s.role, s.shape, s.dims, flat_prior=s.name == "mu") for s in model.sites]
    with pytest.raises(ModelError, match="`mu`"):
        fit_prior(model, draws=10, seed=0)


def test_resolve_seed():
    assert 0 <= resolve_seed(None) < 2**31
    assert resolve_seed(42) == 42
    with pytest.raises(UsageError):
        resolve_seed(-1)


def test_observed_roles_only_in_log_likelihood(eight):
    model, idata = eight
    assert set(idata.log_likelihood.data_vars) == {s.name for s in model.sites if s.role == OBSERVED}
