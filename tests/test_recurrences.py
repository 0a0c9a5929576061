"""Recurrences (loop-carried definitions) compile to `lax.scan` and match plain NumPy loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import logsumexp

import probdsl.api as api
import recurrence_scan


def joint(model_text, data, params):
    bound = api.compile(model_text).bind(data)
    return bound, float(log_density(bound.numpyro_model, (bound.data,), {}, params)[0])


def emitted_joint(bound, params):
    namespace: dict = {}
    exec(compile(bound.compiled.python_source(), "emitted", "exec"), namespace)  # our generated code
    return float(log_density(namespace["model"], (bound.data,), {}, params)[0])


GARCH = """
data vector[T] y;
data real<lower=0> sigma1;
param real mu ~ normal(0, 10);
param real<lower=0> alpha0 ~ normal(0, 10);
param real<lower=0, upper=1> alpha1 ~ uniform(0, 1);
param real<lower=0, upper=1> beta1 ~ uniform(0, 1);
sigma[1] = sigma1;
for (t in 2:T)
    sigma[t] = sqrt(alpha0 + alpha1 * square(y[t - 1] - mu) + beta1 * square(sigma[t - 1]));
y ~ normal(mu, sigma);
"""


def test_garch_recurrence_matches_a_python_loop():
    y = np.random.default_rng(0).normal(size=40)
    p = dict(mu=0.3, alpha0=0.5, alpha1=0.2, beta1=0.4)
    bound, lp = joint(GARCH, {"y": y, "sigma1": 1.0}, {k: jnp.asarray(v) for k, v in p.items()})
    sigma = [1.0]
    for t in range(1, len(y)):
        sigma.append(np.sqrt(p["alpha0"] + p["alpha1"] * (y[t - 1] - p["mu"]) ** 2 + p["beta1"] * sigma[-1] ** 2))
    expected = (stats.norm.logpdf(y, p["mu"], sigma).sum() + stats.norm.logpdf(p["mu"], 0, 10)
                + stats.norm.logpdf(p["alpha0"], 0, 10))  # restricted to alpha0 > 0 without normalizing, as Stan
    assert lp == pytest.approx(expected, rel=1e-5)
    assert emitted_joint(bound, {k: jnp.asarray(v) for k, v in p.items()}) == pytest.approx(lp, rel=1e-6)
    assert "jax.lax.scan" in bound.compiled.python_source()


STOCHASTIC_VOLATILITY = recurrence_scan.MODEL  # the model bench/recurrence_scan.py times


def sv_reference(y, mu, phi, sigma, h_std):
    h = [mu + sigma * h_std[0] / np.sqrt(1 - phi ** 2)]
    for t in range(1, len(y)):
        h.append(mu + phi * (h[-1] - mu) + sigma * h_std[t])
    return stats.norm.logpdf(y, 0, np.exp(np.array(h) / 2)).sum()


def test_latent_recurrence_density_and_gradient():
    rng = np.random.default_rng(1)
    y, h_std = rng.normal(size=30), rng.normal(size=30)
    bound = api.compile(STOCHASTIC_VOLATILITY).bind({"y": y})
    params = {"mu": jnp.asarray(-0.5), "phi": jnp.asarray(0.9), "sigma": jnp.asarray(0.3), "h_std": jnp.asarray(h_std)}
    ll = bound.log_likelihood({k: v[None] for k, v in params.items()})["y"].sum()
    assert float(ll) == pytest.approx(sv_reference(y, -0.5, 0.9, 0.3, h_std), rel=1e-5)
    # the gradient through the scan agrees with central differences
    grad = jax.grad(lambda m: bound.log_likelihood({**{k: v[None] for k, v in params.items()}, "mu": m[None]})["y"].sum())(
        jnp.asarray(-0.5))
    eps = 1e-4
    numeric = (sv_reference(y, -0.5 + eps, 0.9, 0.3, h_std) - sv_reference(y, -0.5 - eps, 0.9, 0.3, h_std)) / (2 * eps)
    assert float(grad) == pytest.approx(numeric, rel=1e-3)


HAND_FORWARD = """
data vector[T] y;
data int<lower=1> K;
param simplex[K] pi0 ~ dirichlet(rep_vector(1, K));
param array[K] simplex[K] Gamma ~ dirichlet(rep_vector(1, K));
param ordered[K] mu ~ normal(0, 5);
for (k in 1:K) alpha[1, k] = log(pi0[k]) + normal_lpdf(y[1] | mu[k], 1);
for (t in 2:T)
    for (k in 1:K)
        alpha[t, k] = log_sum_exp(to_vector(alpha[t - 1]) + log(to_vector(Gamma[:, k]))) + normal_lpdf(y[t] | mu[k], 1);
target += log_sum_exp(alpha[T]);
"""


def test_nested_loops_with_a_carried_outer_index():
    """The forward algorithm written by hand: an outer recurrence over t, vectorized over k."""
    rng = np.random.default_rng(2)
    y = np.concatenate([rng.normal(-2, 1, 15), rng.normal(2, 1, 15)])
    bound = api.compile(HAND_FORWARD).bind({"y": y, "K": 2})
    pi0, gamma, mu = np.array([0.6, 0.4]), np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([-1.5, 1.8])
    params = {"pi0": jnp.asarray(pi0), "Gamma": jnp.asarray(gamma), "mu": jnp.asarray(mu)}
    _, lp = joint(HAND_FORWARD, {"y": y, "K": 2}, params)
    alpha = np.log(pi0) + stats.norm.logpdf(y[0], mu, 1)
    for t in range(1, len(y)):
        alpha = logsumexp(alpha[:, None] + np.log(gamma), axis=0) + stats.norm.logpdf(y[t], mu, 1)
    prior = (stats.dirichlet.logpdf(pi0, [1, 1]) + sum(stats.dirichlet.logpdf(g, [1, 1]) for g in gamma)
             + stats.norm.logpdf(mu, 0, 5).sum())
    assert lp == pytest.approx(logsumexp(alpha) + prior, rel=1e-5)
    assert emitted_joint(bound, params) == pytest.approx(lp, rel=1e-6)


def test_recurrence_in_transformed_data_and_generated_quantities():
    text = """
    data vector[T] y;
    data int<lower=1> H;
    level[1] = y[1];
    for (t in 2:T) level[t] = 0.5 * level[t - 1] + 0.5 * y[t];      // transformed data
    param real<lower=0> s ~ exponential(1);
    y ~ normal(level, s);
    forecast[1] = normal_rng(level[T], s);
    for (h in 2:H) forecast[h] = normal_rng(forecast[h - 1], s);     // generated quantity
    """
    y = np.array([1.0, 2.0, 0.0, 4.0])
    level = [1.0]
    for t in range(1, 4):
        level.append(0.5 * level[-1] + 0.5 * y[t])
    bound = api.compile(text).bind({"y": y, "H": 5})
    np.testing.assert_allclose(bound.data["level"], level)
    idata = api.fit(api.compile(text), {"y": y, "H": 5}, chains=1, warmup=100, draws=50, seed=3, progress=False)
    forecast = idata.posterior["forecast"].values
    assert forecast.shape == (1, 50, 5) and np.isfinite(forecast).all()
    assert np.std(np.diff(forecast, axis=-1)) > 0  # each step draws afresh


def test_two_lags_and_a_fixed_element():
    """A window of the two previous elements is carried; `x[1]` is read from before the loop."""
    text = """
    data vector[T] y;
    param vector[2] phi ~ normal(0, 1);
    param vector[T] e ~ normal(0, 1);
    x[1] = e[1];
    x[2] = e[2];
    for (t in 3:T) x[t] = phi[1] * x[t - 1] + phi[2] * x[t - 2] + 0.1 * x[1] + e[t];
    y ~ normal(x, 1);
    """
    rng = np.random.default_rng(4)
    y, e, phi = rng.normal(size=12), rng.normal(size=12), np.array([0.5, -0.3])
    x = list(e[:2])
    for t in range(2, 12):
        x.append(phi[0] * x[-1] + phi[1] * x[-2] + 0.1 * x[0] + e[t])
    params = {"phi": jnp.asarray(phi), "e": jnp.asarray(e)}
    bound, lp = joint(text, {"y": y}, params)
    expected = stats.norm.logpdf(y, x, 1).sum() + stats.norm.logpdf(phi, 0, 1).sum() + stats.norm.logpdf(e, 0, 1).sum()
    assert lp == pytest.approx(expected, rel=1e-5)
    assert emitted_joint(bound, params) == pytest.approx(lp, rel=1e-6)
