"""Inference is correct: closed-form posteriors and posteriordb reference posteriors.

Tolerances come from Monte Carlo error: closed-form means and sds within 4 MCSE;
reference posteriors by the rule in bench/posteriordb_reference.py (means within
max(0.1 reference sd, 4 MCSE), sds within 10%).
"""

import arviz as az
import numpy as np
import posteriordb_reference as reference  # bench/, on pytest's pythonpath
import pytest

import probdsl.api as api

SETTINGS = dict(chains=4, warmup=500, draws=1000, seed=20261124, progress=False)


def within_mcse(idata, name, mean, sd):
    draws = idata.posterior[name].values.ravel()
    ess = float(az.ess(idata, var_names=[name])[name])
    mcse_mean = sd / np.sqrt(ess)
    mcse_sd = sd / np.sqrt(2 * ess)
    assert abs(draws.mean() - mean) < 4 * mcse_mean, (draws.mean(), mean, mcse_mean)
    assert abs(draws.std() - sd) < 4 * mcse_sd + 0.01 * sd, (draws.std(), sd, mcse_sd)


def test_normal_normal_known_sigma():
    y = np.random.default_rng(1).normal(1.5, 2.0, size=30)
    idata = api.fit(api.compile("data vector[N] y; param real mu ~ normal(0, 3); y ~ normal(mu, 2);"),
                    {"y": y}, **SETTINGS)
    precision = 1 / 9 + len(y) / 4
    within_mcse(idata, "mu", (y.sum() / 4) / precision, np.sqrt(1 / precision))


def test_beta_binomial():
    idata = api.fit(api.compile("data int n; data int k; param real<lower=0, upper=1> p ~ beta(2, 3);"
                                "k ~ binomial(n, p);"), {"n": 40, "k": 13}, **SETTINGS)
    a, b = 2 + 13, 3 + 27
    within_mcse(idata, "p", a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))


def test_gamma_poisson():
    counts = np.array([3, 5, 2, 4, 6, 1, 3, 4])
    idata = api.fit(api.compile("data array[N] int y; param real<lower=0> lam ~ gamma(2, 0.5); y ~ poisson(lam);"),
                    {"y": counts}, **SETTINGS)
    shape, rate = 2 + counts.sum(), 0.5 + len(counts)
    within_mcse(idata, "lam", shape / rate, np.sqrt(shape) / rate)


# One port per feature family, fitted to the copies in tests/posteriordb: a long single chain
# (compilation, not sampling, is what costs here).  `-m slow` fits every port as bench/posteriordb.py does.
FAST = {
    "kidiq-kidscore_momiq": "linear regression, flat priors",
    "eight_schools-eight_schools_noncentered": "hierarchical, reference on a derived quantity",
    "low_dim_gauss_mix-low_dim_gauss_mix": "mixture, ordered vector",
    "arK-arK": "time series, loops",
    "garch-garch11": "recurrence (lax.scan), parameter-dependent bound",
    "hmm_example-hmm_example": "hidden Markov chain summed out (forward algorithm)",
}
FAST_SETTINGS = dict(chains=1, warmup=1000, draws=2000, seed=reference.DEFAULTS["seed"])


def assert_matches_reference(posterior: str, folder, settings: dict):
    idata = reference.fit(posterior, folder, **settings)
    failed = [(q.name, q.mean, q.ref_mean, q.sd, q.ref_sd, q.mcse) if q.found else (q.name, "not in the fit")
              for q in reference.compare(idata, reference.load_reference(folder)) if not q.ok]
    assert not failed, failed


@pytest.mark.parametrize("posterior", FAST)
def test_reference_posterior_fast(posterior):
    assert_matches_reference(posterior, reference.TEST_COPIES / posterior, FAST_SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("posterior", reference.ports())
def test_reference_posterior(posterior):
    folder = reference.find_data(posterior)
    if folder is None:
        pytest.skip(f"no data for {posterior}: neither {reference.SHARED / posterior} nor "
                    f"{reference.TEST_COPIES / posterior} has data.json and reference.json")
    assert_matches_reference(posterior, folder, reference.DEFAULTS)
