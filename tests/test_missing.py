"""Missing values: data on the left of a `~` with absent entries gets them imputed as parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.util import log_density
from scipy import stats

import probdsl
from probdsl.errors import DataError

REGRESSION = """
data vector[N] x;
data vector<lower=0>[N] y;
param real mu_x ~ normal(0, 5);
param real<lower=0> s_x ~ exponential(1);
param real a ~ normal(0, 5);
param real b ~ normal(0, 5);
param real<lower=0> s ~ exponential(1);
x ~ normal(mu_x, s_x);
x2 = square(x);
y ~ normal(a + b * x2, s) T[0, ];
"""
DATA = {"x": [0.5, None, 1.5, 2.0, None], "y": [1.0, 2.0, None, 3.5, 4.0]}


@pytest.fixture(scope="module")
def bound():
    return probdsl.compile(REGRESSION).bind(DATA)


def test_sites_coords_and_observed_data(bound):
    site = {s.name: s for s in bound.sites}
    assert site["x_missing"].role == "param" and site["x_missing"].imputed and site["x_missing"].shape == (2,)
    assert bound.coords["x_missing_row"] == [2, 5] and bound.coords["y_missing_row"] == [3]
    assert site["y"].dims == ("y_observed_row",) and bound.coords["y_observed_row"] == [1, 2, 4, 5]
    np.testing.assert_allclose(bound.observed_data()["x"], [0.5, 1.5, 2.0])
    assert "x2" not in bound.data  # computed from the imputed x in the model


def test_log_density_matches_scipy_and_the_emitted_program(bound):
    params = {"mu_x": 0.3, "s_x": 1.4, "a": 0.5, "b": 1.2, "s": 0.8, "x_missing": jnp.array([1.0, -0.5]),
              "y_missing": jnp.array([2.5])}
    x = np.array([0.5, 1.0, 1.5, 2.0, -0.5])
    y = np.array([1.0, 2.0, 2.5, 3.5, 4.0])
    mean = 0.5 + 1.2 * x**2
    expected = (stats.norm(0, 5).logpdf([0.3, 0.5, 1.2]).sum() + stats.expon.logpdf([1.4, 0.8]).sum()
                + stats.norm(0.3, 1.4).logpdf(x).sum()
                + (stats.norm(mean, 0.8).logpdf(y) - stats.norm(mean, 0.8).logsf(0)).sum())
    namespace: dict = {}
    exec(compile(bound.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    inproc = log_density(bound.numpyro_model, (bound.data,), {}, params)[0]
    emitted = log_density(namespace["model"], (bound.data,), {}, params)[0]
    np.testing.assert_allclose(inproc, expected, rtol=1e-5)
    np.testing.assert_allclose(emitted, inproc, rtol=1e-6)
    ll = bound.log_likelihood({k: jnp.asarray(v)[None] for k, v in params.items()})
    assert ll["x"].shape == (1, 3) and ll["y"].shape == (1, 4)


def test_prior_draws_respect_the_declared_support(bound):
    draws = bound.sample_prior(jax.random.PRNGKey(0), 200)
    assert draws["x_missing"].shape == (200, 2) and draws["y_missing"].shape == (200, 1)
    assert draws["y_missing"].min() >= 0


def test_imputation_recovers_the_missing_values():
    rng = np.random.default_rng(1)
    n = 40
    x = rng.normal(1.0, 1.0, n)
    y = 0.5 + 2.0 * x + rng.normal(0, 0.3, n)
    gone_x, gone_y = [3, 11, 25], [7, 30]
    data = {"x": [None if i in gone_x else v for i, v in enumerate(x)],
            "y": [None if i in gone_y else v for i, v in enumerate(y)]}
    model = probdsl.compile("""
data vector[N] x;
data vector[N] y;
param real mu_x ~ normal(0, 5);
param real<lower=0> s_x ~ exponential(1);
param real a ~ normal(0, 5);
param real b ~ normal(0, 5);
param real<lower=0> s ~ exponential(1);
x ~ normal(mu_x, s_x);
y ~ normal(a + b * x, s);
""")
    idata = probdsl.fit(model, data, chains=1, warmup=300, draws=300, seed=3, progress=False)
    imputed_x = idata.posterior["x_missing"].mean(("chain", "draw")).values
    imputed_y = idata.posterior["y_missing"].mean(("chain", "draw")).values
    np.testing.assert_allclose(imputed_x, x[gone_x], atol=0.3)  # y pins x down: sd(x | y) is about 0.15
    np.testing.assert_allclose(imputed_y, 0.5 + 2.0 * x[gone_y], atol=0.6)
    assert list(idata.posterior["x_missing"].coords["x_missing_row"].values) == [4, 12, 26]
    assert idata.log_likelihood["x"].shape == (1, 300, n - 3)
    assert idata.posterior_predictive["y"].shape == (1, 300, n - 2)
    assert idata.observed_data["y"].shape == (n - 2,)


def test_csv_rows_and_errors_for_predictors_without_a_model(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,z,y\n1.0,2,0.5\n,3,0.7\n2.0,,\n")
    model = probdsl.compile("data vector[N] x; data vector[N] z; data vector[N] y; param real b ~ normal(0, 1);"
                            "x ~ normal(0, 1); y ~ normal(b * x + z, 1);")
    with pytest.raises(DataError) as info:
        model.bind(str(path))
    text = str(info.value)
    assert "error[E303]: column `z` of" in text and "row 3 (line 4): missing value" in text
    assert "only data on the left of a `~` may have missing values" in text and "column `x`" not in text
    path.write_text("x,z,y\n1.0,2,0.5\n,3,0.7\n2.0,1,\n")
    bound = model.bind(str(path))
    assert bound.coords["x_missing_row"] == [2] and bound.coords["y_missing_row"] == [3]


@pytest.mark.parametrize("source, data, expected", [
    ("data array[N] int y; param real<lower=0> l ~ exponential(1); y ~ poisson(l);", {"y": [1, None, 3]},
     "in integer data: its missing entries would be discrete parameters"),
    ("data vector[N] y; param real m ~ normal(0, 1); y ~ normal(m, 1); y ~ student_t(3, m, 1);",
     {"y": [1.0, None]}, "`y` is on the left of two `~` statements"),
    ("data vector[N] y; param real m ~ normal(0, 1); for (n in 2:N) y[n] ~ normal(m * y[n - 1], 1);",
     {"y": [1.0, None, 2.0]}, "this `~` covers only part of `y`"),
    ("data vector[N] y; param real m ~ normal(0, 1); y ~ normal(m * mean(y), 1);", {"y": [1.0, None, 2.0]},
     "the distribution of `y` depends on `y` itself"),
])
def test_missing_values_that_cannot_be_imputed(source, data, expected):
    with pytest.raises(DataError) as info:
        probdsl.compile(source).bind(data)
    assert expected in str(info.value) and "error[E316]" in str(info.value)


def test_predicting_new_rows_with_a_missing_predictor():
    model = probdsl.compile("data vector[N] x; data vector[N] y; param real mu_x ~ normal(0, 5);"
                            "param real b ~ normal(0, 5); x ~ normal(mu_x, 1); y ~ normal(b * x, 1);")
    idata = probdsl.fit(model, {"x": [1.0, None, 2.0], "y": [2.0, 1.0, 4.0]}, chains=1, warmup=50, draws=20,
                        seed=1, progress=False)
    predicted = probdsl.api.predict(idata, {"x": [None, 1.0, 0.5, None]}, seed=2)
    assert predicted.predictions["y"].shape == (1, 20, 4)
