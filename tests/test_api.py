"""The Python API through the real compiler: prediction on new rows, located runtime failures."""

import numpy as np
import pytest

import probdsl
import probdsl.api as api

REGRESSION = ("data vector[N] x; data vector[N] y; param real a ~ normal(0, 5); param real b ~ normal(0, 5);"
              "param real<lower=0> s ~ exponential(1); y ~ normal(a + b * x, s);")


def test_predict_on_new_rows_has_the_new_sizes():
    x = np.linspace(0, 1, 20)
    idata = api.fit(probdsl.compile(REGRESSION), {"x": x, "y": 1 + 2 * x}, chains=1, warmup=100, draws=50, seed=1,
                    progress=False)
    new = api.predict(idata, {"x": [0.5, 1.5, 2.0]}, seed=2)  # y, only observed, may be left out
    assert new.predictions["y"].shape == (1, 50, 3)
    # the new rows' predictions follow the fitted line (y = 1 + 2x, tiny noise): mean at x = 2 near 5
    assert abs(float(new.predictions["y"].values[..., 2].mean()) - 5.0) < 0.5


def test_predict_still_needs_the_predictors():
    x = np.linspace(0, 1, 20)
    idata = api.fit(probdsl.compile(REGRESSION), {"x": x, "y": 1 + 2 * x}, chains=1, warmup=50, draws=10, seed=1,
                    progress=False)
    with pytest.raises(probdsl.DataError, match="`x` is declared as data"):
        api.predict(idata, {"z": [1.0]}, seed=2)


def test_nonfinite_initial_density_names_the_statement():
    model = probdsl.compile("data vector[N] y; param real<lower=0> s ~ exponential(1); y ~ uniform(0, s);")
    with pytest.warns(UserWarning), pytest.raises(probdsl.RuntimeModelError) as info:
        api.fit(model, {"y": [-1.0, 2.0, 3.0]}, chains=1, warmup=10, draws=10, seed=1, progress=False)
    text = str(info.value)
    assert "<string>:1:59" in text and "`y`" in text


@pytest.mark.parametrize("source, data, expected", [
    ("data array[N] int y; param real<lower=0> l ~ exponential(1); y ~ poisson(l);", {"y": [1, -2, 3]},
     ["<string>:1:66: error[E311]: `y[2]` = -2 is outside the support of `poisson`",
      "= hint: `poisson` takes non-negative integers"]),
    ("data array[N] int y; param real<lower=0, upper=1> p ~ beta(1, 1); y ~ bernoulli(p);", {"y": [0, 1, 2]},
     ["<string>:1:71: error[E311]: `y[3]` = 2 is outside the support of `bernoulli`",
      "= hint: `bernoulli` takes values 0 and 1"]),
])
def test_observed_values_outside_the_support(source, data, expected):
    with pytest.raises(probdsl.DataError) as info:
        probdsl.compile(source).bind(data)
    text = str(info.value)
    for line in expected:
        assert line in text
    assert "^^^" in text


def test_values_from_a_dict_are_reported_at_their_declaration():
    model = probdsl.compile("data int K;\ndata simplex[K] w;\ndata vector<lower=0>[K] v;")
    with pytest.raises(probdsl.DataError) as info:
        model.bind({"K": 2, "w": [0.3, 0.3], "v": [-1, 2]})
    assert str(info.value) == (
        "<string>:2:1: error[E309]: `w` in <dict> is not a valid simplex: its elements sum to 0.6, not 1\n"
        " 2 | data simplex[K] w;\n"
        "   | ^^^^^^^^^^^^^^^^^^ declared here\n"
        "<string>:3:1: error[E308]: `v[1]` in <dict>: -1 is below the lower bound 0 of `v`\n"
        " 3 | data vector<lower=0>[K] v;\n"
        "   | ^^^^^^^^^^^^^^^^^^^^^^^^^^ declared here")
