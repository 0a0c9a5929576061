"""The benchmark models written by hand in NumPyro, as a NumPyro user would write them."""

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist


def eight_schools(J, y, sigma):
    mu = numpyro.sample("mu", dist.Normal(0, 5))
    tau = numpyro.sample("tau", dist.HalfCauchy(5))
    with numpyro.plate("J", J):
        eta = numpyro.sample("eta", dist.Normal(0, 1))
        theta = numpyro.deterministic("theta", mu + tau * eta)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def logistic(N, D, X, y):
    alpha = numpyro.sample("alpha", dist.Normal(0, 2.5))
    beta = numpyro.sample("beta", dist.Normal(0, 1).expand([D]).to_event(1))
    with numpyro.plate("N", N):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + X @ beta), obs=y)


def radon(N, J, county, floor, u, log_radon):
    mu_a = numpyro.sample("mu_a", dist.Normal(0, 10))
    g = numpyro.sample("g", dist.Normal(0, 1))
    sigma_a = numpyro.sample("sigma_a", dist.HalfNormal(1))
    with numpyro.plate("J", J):
        a = numpyro.sample("a", dist.Normal(mu_a + g * u, sigma_a))
    b = numpyro.sample("b", dist.Normal(0, 1))
    sigma_y = numpyro.sample("sigma_y", dist.Exponential(1))
    with numpyro.plate("N", N):
        numpyro.sample("log_radon", dist.Normal(a[county - 1] + b * floor, sigma_y), obs=log_radon)


def stochastic_volatility(T, y):
    mu = numpyro.sample("mu", dist.Cauchy(0, 10))
    phi = numpyro.sample("phi", dist.Uniform(-1, 1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(5))
    with numpyro.plate("T", T):
        h_std = numpyro.sample("h_std", dist.Normal(0, 1))

    def step(previous, noise):
        h = mu + phi * (previous - mu) + sigma * noise
        return h, h

    h1 = mu + sigma * h_std[0] / jnp.sqrt(1 - phi**2)
    _, rest = jax.lax.scan(step, h1, h_std[1:])
    h = numpyro.deterministic("h", jnp.concatenate([h1[None], rest]))
    with numpyro.plate("T", T):
        numpyro.sample("y", dist.Normal(0, jnp.exp(h / 2)), obs=y)


def arrays(data: dict) -> dict:
    """JSON data as arrays: integers stay integers."""
    return {k: jnp.asarray(v) if isinstance(v, list) else v for k, v in data.items()}
