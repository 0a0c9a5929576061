"""The benchmark models written in PyMC, for nutpie."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt


def eight_schools(J, y, sigma):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfCauchy("tau", 5)
        eta = pm.Normal("eta", 0, 1, shape=J)
        theta = pm.Deterministic("theta", mu + tau * eta)
        pm.Normal("y", theta, np.asarray(sigma, float), observed=np.asarray(y, float))
    return model


def logistic(N, D, X, y):
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0, 2.5)
        beta = pm.Normal("beta", 0, 1, shape=D)
        pm.Bernoulli("y", logit_p=alpha + pt.dot(np.asarray(X), beta), observed=np.asarray(y))
    return model


def radon(N, J, county, floor, u, log_radon):
    index = np.asarray(county) - 1
    with pm.Model() as model:
        mu_a = pm.Normal("mu_a", 0, 10)
        g = pm.Normal("g", 0, 1)
        sigma_a = pm.HalfNormal("sigma_a", 1)
        a = pm.Normal("a", mu_a + g * np.asarray(u), sigma_a, shape=J)
        b = pm.Normal("b", 0, 1)
        sigma_y = pm.Exponential("sigma_y", 1)
        pm.Normal("log_radon", a[index] + b * np.asarray(floor, float), sigma_y, observed=np.asarray(log_radon))
    return model


def stochastic_volatility(T, y):
    with pm.Model() as model:
        mu = pm.Cauchy("mu", 0, 10)
        phi = pm.Uniform("phi", -1, 1)
        sigma = pm.HalfCauchy("sigma", 5)
        h_std = pm.Normal("h_std", 0, 1, shape=T)
        h1 = mu + sigma * h_std[0] / pt.sqrt(1 - phi**2)
        rest, _ = pytensor.scan(lambda noise, previous, mu, phi, sigma: mu + phi * (previous - mu) + sigma * noise,
                                sequences=[h_std[1:]], outputs_info=[h1], non_sequences=[mu, phi, sigma])
        h = pm.Deterministic("h", pt.concatenate([h1[None], rest]))
        pm.Normal("y", 0, pt.exp(h / 2), observed=np.asarray(y))
    return model
