"""Truncation `T[L, U]` and `censored(...)`: densities against SciPy, draws, emitted source, data checks."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import log_density
from scipy import stats

import probdsl
from probdsl.errors import DataError
from probdsl.stdlib import distributions
from probdsl.syntax.parser import grammar_path, parse
from probdsl.syntax.printer import format_program


def densities(source: str, data: dict, params: dict) -> tuple[float, float]:
    """Log density at constrained ``params`` from the in-process model and from the emitted program."""
    bound = probdsl.compile(source).bind(data)
    namespace: dict = {}
    exec(compile(bound.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    params = {k: jnp.asarray(v, dtype=float) for k, v in params.items()}
    inproc = float(log_density(bound.numpyro_model, (bound.data,), {}, params)[0])
    emitted = float(log_density(namespace["model"], (bound.data,), {}, params)[0])
    return inproc, emitted


def check(source, data, params, expected):
    inproc, emitted = densities(source, data, params)
    np.testing.assert_allclose(inproc, expected, rtol=1e-5)
    np.testing.assert_allclose(emitted, inproc, rtol=1e-6)


def test_cdf_list_matches_numpyro():
    """`has_cdf` is true exactly for the distributions whose NumPyro form implements `cdf`."""
    values = {"real": 0.4, "int": 5, "vector": jnp.array([0.2, 0.3, 0.5]), "matrix": jnp.eye(3)}
    for spec in distributions.DISTRIBUTIONS.values():
        if spec.make is None:
            assert not spec.has_cdf
            continue
        args = [values[a.kind] for a in spec.args] + [3 if i == "dim" else 10 for i in spec.implicit]
        if spec.name in ("uniform", "discrete_range"):
            args = [0, 2]
        d = spec.make(*args)
        try:
            d.cdf(d.support.feasible_like(jnp.zeros(d.batch_shape + d.event_shape)))
            has = True
        except NotImplementedError:
            has = False
        assert spec.has_cdf == has, spec.name
        assert not (spec.has_cdf and spec.offset), spec.name  # bounds need no shift to NumPyro's values


Y = [0.3, 1.2, 2.5, 0.8]


def test_truncated_normal_likelihood_matches_scipy():
    source = "data vector[N] y; param real mu ~ normal(0, 5); param real<lower=0> sigma ~ exponential(1);" \
             "y ~ normal(mu, sigma) T[0, 3];"
    mu, sigma = 0.5, 1.3
    a, b = (0 - mu) / sigma, (3 - mu) / sigma
    expected = (stats.norm(0, 5).logpdf(mu) + stats.expon.logpdf(sigma)
                + stats.truncnorm(a, b, mu, sigma).logpdf(Y).sum())
    check(source, {"y": Y}, {"mu": mu, "sigma": sigma}, expected)


def test_vector_bounds_in_a_loop_and_one_sided():
    source = "data vector[N] y; data vector[N] L; param real mu ~ normal(0, 5);" \
             "for (n in 1:N) y[n] ~ normal(mu, 2) T[L[n], ];"
    lower = [0.0, -1.0, 2.0, 0.5]
    expected = stats.norm(0, 5).logpdf(0.2) + stats.truncnorm((np.array(lower) - 0.2) / 2, np.inf, 0.2, 2).logpdf(Y).sum()
    check(source, {"y": Y, "L": lower}, {"mu": 0.2}, expected)


def test_truncated_poisson_by_hand():
    source = "data array[N] int y; param real<lower=0> lambda ~ exponential(1);" \
             "y ~ poisson(lambda) T[1, ]; y2 ~ poisson(lambda) T[2, 6]; data array[M] int y2;"
    y, y2, lam = np.array([1, 3, 2, 7]), np.array([2, 6, 4]), 2.2
    p = stats.poisson(lam)
    expected = (stats.expon.logpdf(lam) + (p.logpmf(y) - np.log(1 - p.pmf(0))).sum()
                + (p.logpmf(y2) - np.log(p.cdf(6) - p.cdf(1))).sum())
    check(source, {"y": y.tolist(), "y2": y2.tolist()}, {"lambda": lam}, expected)


def test_truncated_prior_is_normalized_within_the_declared_support():
    source = "param real<lower=0> s ~ normal(1, 2) T[0, ]; param real<lower=0, upper=4> t ~ gamma(2, 1) T[, 4];"
    expected = (stats.truncnorm(-0.5, np.inf, 1, 2).logpdf(0.7)
                + stats.gamma(2).logpdf(1.5) - stats.gamma(2).logcdf(4))
    check(source, {}, {"s": 0.7, "t": 1.5}, expected)
    draws = probdsl.compile(source).bind({}).sample_prior(jax.random.PRNGKey(0), 2000)
    assert draws["s"].min() > 0 and 0 < draws["t"].min() and draws["t"].max() < 4
    np.testing.assert_allclose(draws["s"].mean(), stats.truncnorm(-0.5, np.inf, 1, 2).mean(), atol=0.1)


def test_truncated_density_term_of_parameters():
    source = "param real<lower=0> s ~ exponential(1); log(s) ~ normal(0, 1) T[, 1];"
    expected = stats.expon.logpdf(2.0) + stats.norm.logpdf(np.log(2.0)) - stats.norm.logcdf(1)
    check(source, {}, {"s": 2.0}, expected)


def test_censored_normal_matches_scipy():
    source = """data vector[N] y; data array[N] int l; data array[N] int r; data array[N] int i; data vector[N] y2;
param real mu ~ normal(0, 5);
y ~ normal(mu, 1.5) censored(left = l, right = r, interval = i, upper = y2);"""
    data = {"y": Y, "l": [1, 0, 0, 0], "r": [0, 1, 0, 0], "i": [0, 0, 1, 0], "y2": [0, 0, 3.0, 0]}
    d = stats.norm(0.4, 1.5)
    rows = [d.logcdf(0.3), d.logsf(1.2), np.log(d.cdf(3.0) - d.cdf(2.5)), d.logpdf(0.8)]
    check(source, data, {"mu": 0.4}, stats.norm(0, 5).logpdf(0.4) + sum(rows))
    bound = probdsl.compile(source).bind(data)
    pointwise = bound.log_likelihood({"mu": jnp.array([0.4])})["y"][0]
    np.testing.assert_allclose(pointwise, rows, rtol=1e-5)


def test_censored_counts_include_the_bound_and_combine_with_truncation():
    source = "data array[N] int y; data array[N] int c; param real<lower=0> lambda ~ exponential(1);" \
             "y ~ poisson(lambda) T[1, ] censored(right = c);"
    p = stats.poisson(3.0)
    z = 1 - p.pmf(0)
    expected = stats.expon.logpdf(3.0) + p.logpmf(2) - np.log(z) + np.log(p.sf(4 - 1) / z)  # 4 or more
    check(source, {"y": [2, 4], "c": [0, 1]}, {"lambda": 3.0}, expected)


@pytest.mark.parametrize("model, value, expected", [
    ("y ~ normal(mu, 1) censored(right = c);", 10.0, stats.norm.logsf(10)),
    ("y ~ weibull(1.1, exp(mu - 2)) censored(right = c);", 3.0, stats.weibull_min(1.1, scale=np.exp(-2)).logsf(3)),
    ("y ~ normal(mu, 1) T[10, ];", 10.5, stats.truncnorm(10, np.inf).logpdf(10.5)),
])
def test_tails_keep_their_precision(model, value, expected):
    source = "data vector[N] y; data array[N] int c; param real mu ~ normal(0, 1);" + model
    inproc, _ = densities(source, {"y": [value], "c": [1]}, {"mu": 0.0})
    np.testing.assert_allclose(inproc, stats.norm.logpdf(0) + expected, rtol=1e-5)


@pytest.mark.parametrize("model, low, high", [
    ("y ~ normal(mu, 1) T[0, 1.5];", 0, 1.5),
    ("y ~ gamma(2, 1 + mu * mu) T[0.5, 2];", 0.5, 2),  # no inverse CDF in NumPyro: bisection
    ("y ~ student_t(3, mu, 1) T[, -1];", -np.inf, -1),
])
def test_predictive_draws_respect_the_truncation(model, low, high):
    bound = probdsl.compile("data vector[N] y; param real mu ~ normal(0, 1);" + model).bind({"y": [-1.0] * 3
                                                                                           if high < 0 else [1.0] * 3})
    draws = np.asarray(bound.sample_prior(jax.random.PRNGKey(1), 500)["y"])
    assert np.isfinite(draws).all() and draws.min() >= low and draws.max() <= high


def test_truncated_count_draws_have_the_right_frequencies():
    bound = probdsl.compile("data array[N] int y; y ~ poisson(2.5) T[1, 4];").bind({"y": [1]})
    draws = np.asarray(bound.sample_prior(jax.random.PRNGKey(2), 20000)["y"]).ravel()
    pmf = stats.poisson(2.5).pmf(np.arange(1, 5))
    np.testing.assert_allclose(np.bincount(draws, minlength=5)[1:] / draws.size, pmf / pmf.sum(), atol=0.015)


def test_minibatch_of_a_truncated_likelihood_is_unbiased():
    bound = probdsl.compile("data vector[N] y; data vector[N] L; param real mu ~ normal(0, 5);"
                            "y ~ normal(mu, 1) T[L, ];").bind({"y": Y, "L": [0.0, 1.0, -2.0, 0.5]})
    u = {"mu": jnp.asarray(0.3)}
    halves = [bound.minibatch_log_density(u, jnp.arange(0, 2)), bound.minibatch_log_density(u, jnp.arange(2, 4))]
    np.testing.assert_allclose(np.mean(halves), bound.log_density(u), rtol=1e-5)


@pytest.mark.parametrize("model, data, expected", [
    ("y ~ normal(mu, 1) T[0, ];", {"y": [1.0, -0.5]},
     ["error[E312]: `y[2]` = -0.5 is below its lower truncation bound 0", "1 value outside"]),
    ("y ~ normal(mu, 1) T[L, U];", {"y": [1.0, 2.0], "L": [0, 3], "U": [2, 2]},
     ["error[E313]: empty truncation at `y[2]`: the lower bound 3 is not below the upper bound 2"]),
    ("y ~ normal(mu, 1) censored(right = c);", {"y": [1.0, 2.0], "c": [0, 2]},
     ["error[E314]: `right = c` is 2 for `y[2]`"]),
    ("y ~ normal(mu, 1) censored(left = c, right = c);", {"y": [1.0, 2.0], "c": [0, 1]},
     ["error[E314]: `y[2]` is marked censored twice"]),
    ("y ~ normal(mu, 1) censored(interval = c, upper = U);", {"y": [1.0, 2.0], "c": [1, 1], "U": [2, 1]},
     ["error[E315]: the interval of `y[2]` is empty: `upper` = 1 is below the recorded value 2"]),
])
def test_data_errors(model, data, expected):
    source = ("data vector[N] y; data vector[N] L; data vector[N] U; data array[N] int c;"
              "param real mu ~ normal(0, 1);" + model)
    full = {"L": [0, 0], "U": [5, 5], "c": [0, 0], **data}
    with pytest.raises(DataError) as info:
        probdsl.compile(source).bind(full)
    text = str(info.value)
    for line in expected:
        assert line in text
    assert "^^^" in text


def test_syntax_round_trip_and_names():
    from lark import Lark
    Lark(grammar_path().read_text(), parser="lalr", strict=True)  # no conflicts
    text = "data int censored;\ny ~ normal(0, 1) T[0, ] censored(right = c, interval = d, upper = y2);\n"
    program = parse(text)
    assert format_program(program) == text and parse(format_program(program)) == program
    assert program.statements[1].censoring.arg("upper").name == "y2"


def test_runtime_censored_needs_no_numpyro_censored_class():
    """The runtime distributions agree with NumPyro's right-censored wrapper on continuous data."""
    from probdsl.codegen.runtime_dists import Censored
    base, flags, y = dist.Weibull(2.0, 1.5), jnp.array([0, 1, 1]), jnp.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(Censored(base, right=flags).log_prob(y),
                               dist.RightCensoredDistribution(base, flags).log_prob(y), rtol=1e-5)
