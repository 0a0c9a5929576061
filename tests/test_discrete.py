"""Finite discrete parameters: summed out exactly (enumeration, forward algorithm) and drawn back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import Predictive
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import logsumexp

import probdsl.api as api

MIXTURE = """
data vector[N] y;
param simplex[2] w ~ dirichlet([1, 1]');
param ordered[2] mu ~ normal(0, 10);
param real<lower=0> sigma ~ lognormal(0, 2);
param array[N] int<lower=1, upper=2> z ~ categorical(w);
y ~ normal(mu[z], sigma);
"""

HMM = """
data vector[T] y;
param simplex[2] pi0 ~ dirichlet([1, 1]');
param array[2] simplex[2] Gamma ~ dirichlet([1, 1]');
param ordered[2] mu ~ normal(0, 5);
param array[T] int<lower=1, upper=2> z;
z[1] ~ categorical(pi0);
for (t in 2:T) z[t] ~ categorical(Gamma[z[t - 1]]);
for (t in 1:T) y[t] ~ normal(mu[z[t]], 1);
"""

CHANGEPOINT = """
data array[T] int counts;
param real<lower=0> early ~ exponential(1);
param real<lower=0> late ~ exponential(1);
param int<lower=1, upper=T> s ~ discrete_range(1, T);
for (t in 1:T) counts[t] ~ poisson(t < s ? early : late);
"""

rng = np.random.default_rng(0)
Y_MIX = np.concatenate([rng.normal(-2, 1, 30), rng.normal(3, 1, 20)])
Y_HMM = np.concatenate([rng.normal(-1, 1, 12), rng.normal(2, 1, 8), rng.normal(-1, 1, 10)])
MIX_PARAMS = {"w": np.array([0.6, 0.4]), "mu": np.array([-1.5, 2.5]), "sigma": np.array(1.2)}
HMM_PARAMS = {"pi0": np.array([0.7, 0.3]), "Gamma": np.array([[0.9, 0.1], [0.25, 0.75]]), "mu": np.array([-1.2, 1.8])}


def both_log_densities(text, data, params):
    bound = api.compile(text).bind(data)
    params = {k: jnp.asarray(v) for k, v in params.items()}
    namespace: dict = {}
    exec(compile(bound.compiled.python_source(), "emitted", "exec"), namespace)  # our generated code
    in_process = float(log_density(bound.numpyro_model, (bound.data,), {}, params)[0])
    emitted = float(log_density(namespace["model"], (bound.data,), {}, params)[0])
    return bound, in_process, emitted


def test_independent_elements_are_enumerated():
    p = MIX_PARAMS
    _, lp, emitted = both_log_densities(MIXTURE, {"y": Y_MIX}, p)
    per_row = logsumexp(np.log(p["w"])[:, None] + stats.norm.logpdf(Y_MIX, p["mu"][:, None], p["sigma"]), axis=0)
    prior = (stats.dirichlet.logpdf(p["w"], [1, 1]) + stats.norm.logpdf(p["mu"], 0, 10).sum()
             + stats.lognorm.logpdf(p["sigma"], 2))
    assert lp == pytest.approx(per_row.sum() + prior, rel=1e-5)
    assert emitted == pytest.approx(lp, rel=1e-6)


def forward_backward(y, p):
    emission = stats.norm.logpdf(y[:, None], p["mu"][None], 1)
    log_gamma = np.log(p["Gamma"])
    alpha = [np.log(p["pi0"]) + emission[0]]
    for t in range(1, len(y)):
        alpha.append(logsumexp(alpha[-1][:, None] + log_gamma, axis=0) + emission[t])
    beta = [np.zeros(2)]
    for t in range(len(y) - 1, 0, -1):
        beta.insert(0, logsumexp(log_gamma + emission[t] + beta[0], axis=1))
    posterior = np.exp(np.array(alpha) + np.array(beta) - logsumexp(alpha[-1]))
    return logsumexp(alpha[-1]), posterior


def test_markov_chain_uses_the_forward_algorithm():
    p = HMM_PARAMS
    _, lp, emitted = both_log_densities(HMM, {"y": Y_HMM}, p)
    marginal, _ = forward_backward(Y_HMM, p)
    prior = (stats.dirichlet.logpdf(p["pi0"], [1, 1]) + sum(stats.dirichlet.logpdf(g, [1, 1]) for g in p["Gamma"])
             + stats.norm.logpdf(p["mu"], 0, 5).sum())
    assert lp == pytest.approx(marginal + prior, rel=1e-5)
    assert emitted == pytest.approx(lp, rel=1e-6)


def test_scalar_discrete_parameter():
    counts = np.array([4, 5, 3, 6, 4, 1, 0, 2, 1, 1])
    p = {"early": np.array(4.0), "late": np.array(1.0)}
    _, lp, emitted = both_log_densities(CHANGEPOINT, {"counts": counts}, p)
    t = np.arange(1, 11)
    per_s = [stats.poisson.logpmf(counts, np.where(t < s, 4.0, 1.0)).sum() - np.log(10) for s in range(1, 11)]
    assert lp == pytest.approx(logsumexp(per_s) - 4.0 - 1.0, rel=1e-5)
    assert emitted == pytest.approx(lp, rel=1e-6)


def draws_of_z(text, data, params, n=4000):
    bound = api.compile(text).bind(data)
    samples = {k: jnp.broadcast_to(jnp.asarray(v), (n,) + np.shape(v)) for k, v in params.items()}
    out = Predictive(bound.numpyro_model, posterior_samples=samples, return_sites=["z"])(
        jax.random.PRNGKey(1), bound.data, predict=True)
    return np.asarray(out["z"])


def test_draws_follow_the_exact_conditional_posterior():
    """Frequencies of the drawn states agree with the exact posterior within 5 binomial standard errors."""
    p = MIX_PARAMS
    z = draws_of_z(MIXTURE, {"y": Y_MIX}, p)
    joint = np.log(p["w"])[:, None] + stats.norm.logpdf(Y_MIX, p["mu"][:, None], p["sigma"])
    exact = np.exp(joint[0] - logsumexp(joint, axis=0))
    se = np.sqrt(exact * (1 - exact) / len(z)) + 1e-3
    assert np.all(np.abs((z == 1).mean(axis=0) - exact) < 5 * se)

    z = draws_of_z(HMM, {"y": Y_HMM}, HMM_PARAMS)
    _, smoothed = forward_backward(Y_HMM, HMM_PARAMS)
    se = np.sqrt(smoothed[:, 0] * (1 - smoothed[:, 0]) / len(z)) + 1e-3
    assert np.all(np.abs((z == 1).mean(axis=0) - smoothed[:, 0]) < 5 * se)
    # a chain drawn jointly keeps its persistence: consecutive states agree more often than independent draws would
    assert (z[:, 1:] == z[:, :-1]).mean() > 0.8


def test_fit_reports_the_discrete_parameter():
    idata = api.fit(api.compile(MIXTURE), {"y": Y_MIX}, chains=1, warmup=200, draws=200, seed=2, progress=False)
    z = idata.posterior["z"].values
    assert z.shape == (1, 200, 50) and set(np.unique(z)) <= {1, 2}
    assert (z[0, :, :30] == 1).mean() > 0.9 and (z[0, :, 30:] == 2).mean() > 0.9
    assert idata.log_likelihood["y"].shape == (1, 200, 50)
    mu = idata.posterior["mu"].values.reshape(-1, 2).mean(axis=0)
    assert mu[0] == pytest.approx(-2, abs=0.5) and mu[1] == pytest.approx(3, abs=0.6)
