"""Minibatches of rows: the row analysis (probdsl/sema/rows.py) and ``BoundModel.minibatch_log_density``.

Accepted models give an exactly unbiased estimate (the mean over a partition of the rows is the
full log density) whose gradient touches only the batch; refused ones list every reason.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers

import probdsl
from probdsl.errors import ModelError
from probdsl.syntax import printer

N, K, J = 12, 3, 4
RNG = np.random.default_rng(0)
DATA = {"N": N, "K": K, "J": J, "X": RNG.normal(size=(N, K)), "x": RNG.normal(size=N), "y": RNG.normal(size=N),
        "z": RNG.integers(0, 2, N), "g": RNG.integers(1, J + 1, N), "county": list("abcabcabcddd"),
        "M": 5, "w": RNG.normal(size=5), "c": [0, 1] * 6, "Z": RNG.normal(size=(N, 2))}
HEAD = ("data int<lower=0> N; data int<lower=1> K; data int<lower=1> J; data matrix[N, K] X; data vector[N] x;\n"
        "data vector[N] y; data array[N] int<lower=0, upper=1> z; data array[N] int<lower=1, upper=J> g;\n"
        "param real mu ~ normal(0, 1); param real<lower=0> s ~ exponential(1);\n")
LOGISTIC = "param real alpha ~ normal(0, 2.5); param vector[K] beta ~ normal(0, 2.5);\n"


def bind(model: str, data=None):
    return probdsl.compile(HEAD + model).bind({**DATA, **(data or {})})


def unconstrained(bound, seed=0):
    u = bound.unconstrain(bound.sample_prior_or_init(jax.random.PRNGKey(seed)))
    return jax.tree.map(lambda v: v + 0.1, u)


ACCEPTED = {
    "vectorised logistic regression": (LOGISTIC + "z ~ bernoulli_logit(alpha + X * beta);", ("z",)),
    "deterministic linear predictor": (LOGISTIC + "eta = alpha + X * beta; z ~ bernoulli_logit(eta);", ("z",)),
    "loop with group effects": ("param vector[J] a ~ normal(mu, 1);\n"
                                "for (n in 1:N) y[n] ~ normal(a[g[n]] + mu * x[n], s);", ("y",)),
    "factor and a user function": ("data factor county; param vector[county] a ~ normal(mu, 1);\n"
                                   "fun line(u, v, t) = u + v * t;\ny ~ normal(line(a[county], mu, x), s);", ("y",)),
    "truncated likelihood": ("y ~ normal(mu, s) T[x - 3, ];", ("y",)),
    "censored likelihood": ("data array[N] int c; y ~ normal(mu, s) censored(right = c);", ("y",)),
    "second likelihood over another size": ("data vector[M] w; w ~ normal(mu, s); y ~ normal(mu + x, s);", ("y",)),
    "target += inside a row loop": ("y ~ normal(mu, s);\nfor (n in 1:N) target += -0.5 * square(x[n] - mu);",
                                    ("y", "target_1")),
    "row-valued target += and a fill": ("target += -0.5 * square(x - rep_vector(mu, N));\n"
                                        "y ~ normal(to_vector(exp(x)) * mu, s);", ("target_1", "y")),
    "a mixture in target += only": ("for (n in 1:N)\n"
                                    "    target += log_mix(0.3, normal_lpdf(y[n] | mu, s), normal_lpdf(y[n] | -mu, s));",
                                    ("target_1",)),
    "reductions of data alone": ("param real b ~ normal(mean(y), sd(y)); param vector[K] c ~ normal(X' * y / N, 1);\n"
                                 "m = mu * dot_product(x, y);\ny ~ normal(m + b + X * c, s);", ("y",)),
    "a fixed row of data": ("y ~ normal(mu + x[1], s);", ("y",)),
    "one vector per row": ("data array[N] vector[2] Z;\n"
                           "Z ~ multi_normal_cholesky(rep_vector(mu, 2), diag_matrix(rep_vector(s, 2)));", ("Z",)),
}


@pytest.mark.parametrize("model, scaled", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_minibatches_are_unbiased(model, scaled):
    bound = bind(model)
    plan = bound.row_plan
    assert (plan.size, plan.rows, plan.size_variable, plan.scaled_sites) == ("N", N, "N", scaled)
    u = unconstrained(bound)
    full = bound.log_density(u)
    batches = [bound.minibatch_log_density(u, rows) for rows in jnp.arange(N).reshape(3, 4)]
    np.testing.assert_allclose(np.mean(batches), full, rtol=1e-5)
    assert bound.minibatch_log_density(u, jnp.arange(N)) == full


def test_reductions_of_data_alone_take_every_row_in_a_minibatch():
    bound = bind(ACCEPTED["reductions of data alone"][0])
    assert sorted(printer.expr(e) for e in bound.row_plan.all_rows) == ["X' * y / N", "dot_product(x, y)", "mean(y)",
                                                                       "sd(y)"]
    params = bound.constrain(unconstrained(bound))
    model = handlers.substitute(handlers.seed(bound.numpyro_model, 0), data=params)
    trace = handlers.trace(model).get_trace(bound.minibatch_data(jnp.arange(4)))
    np.testing.assert_allclose(trace["m"]["value"], params["mu"] * DATA["x"] @ DATA["y"], rtol=1e-5)
    assert trace["y"]["value"].shape == (4,)


def test_a_formula_with_default_priors_can_be_minibatched():
    """`lm()`'s default priors are scaled by the response (`mean(y)`, `sd(y)`): computed on all the rows."""
    bound = bind("data factor county;\neta = lm(1 + x + (1 | county));\ny ~ normal(eta, s);")
    assert {printer.expr(e) for e in bound.row_plan.all_rows} >= {"mean(y)", "2.5 * sd(y)"}
    u = unconstrained(bound)
    batches = [bound.minibatch_log_density(u, rows) for rows in jnp.arange(N).reshape(3, 4)]
    np.testing.assert_allclose(np.mean(batches), bound.log_density(u), rtol=1e-5)


def test_a_likelihood_in_its_declaration_can_be_minibatched():
    bound = probdsl.compile("data int<lower=0> N; param real mu ~ normal(0, 1);\n"
                            "data vector[N] y ~ normal(mu, 1);").bind({"y": DATA["y"]})
    assert bound.row_plan.scaled_sites == ("y",)
    u = unconstrained(bound)
    batches = [bound.minibatch_log_density(u, rows) for rows in jnp.arange(N).reshape(3, 4)]
    np.testing.assert_allclose(np.mean(batches), bound.log_density(u), rtol=1e-5)


def test_the_plan_subsets_data_over_the_rows_only():
    plan = bind(ACCEPTED["factor and a user function"][0]).row_plan
    assert set(plan.row_data) == {"X", "x", "y", "z", "g", "county"}
    plan = bind(ACCEPTED["second likelihood over another size"][0]).row_plan
    assert "w" not in plan.row_data and "N" not in plan.row_data


def test_missing_values_outside_the_rows_are_imputed():
    bound = bind("data vector[M] w; w ~ normal(mu, s); y ~ normal(mu + x, s);",
                 {"w": [0.5, None, 1.0, None, 2.0]})
    u = unconstrained(bound)
    batches = [bound.minibatch_log_density(u, rows) for rows in jnp.arange(N).reshape(2, 6)]
    np.testing.assert_allclose(np.mean(batches), bound.log_density(u), rtol=1e-5)


def _equations(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for p in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(p, "jaxpr", p)
                if hasattr(inner, "eqns"):
                    yield from _equations(inner)


def test_the_gradient_sees_only_the_batch():
    rows, batch = 997, 10  # a prime: no other array dimension is 997 by chance
    data = {"N": rows, "X": RNG.normal(size=(rows, K)), "x": RNG.normal(size=rows), "y": RNG.normal(size=rows),
            "z": RNG.integers(0, 2, rows), "g": RNG.integers(1, J + 1, rows)}
    bound = bind(LOGISTIC + "param vector[J] a ~ normal(0, 1);\neta = alpha + X * beta; z ~ bernoulli_logit(eta);\n"
                 "for (n in 1:N) y[n] ~ normal(a[g[n]] + mu * x[n], s);", data)
    arrays = {k: jnp.asarray(v) for k, v in bound.data.items() if isinstance(v, np.ndarray)}
    ints = {k: v for k, v in bound.data.items() if k not in arrays}

    def estimate(u, arrays, rows):
        return bound.minibatch_log_density(u, rows, {**ints, **arrays})

    u = unconstrained(bound)
    picked = jnp.arange(0, 10 * batch, 10)
    closed = jax.make_jaxpr(jax.grad(estimate))(u, arrays, picked)
    assert sum(rows in v.aval.shape for v in closed.jaxpr.invars) == 5  # X, x, y, z, g
    big = [(eqn.primitive.name, v.aval.shape) for eqn in _equations(closed.jaxpr) for v in eqn.outvars
           if rows in getattr(v.aval, "shape", ())]
    assert big == []
    np.testing.assert_allclose(jax.jit(estimate)(u, arrays, picked), bound.minibatch_log_density(u, picked), rtol=1e-5)
    trace = handlers.trace(handlers.seed(bound.numpyro_model, 0)).get_trace(bound.minibatch_data(picked))
    assert trace["z"]["value"].shape == (batch,) and trace["y"]["value"].shape == (batch,)
    assert trace["eta"]["value"].shape == (batch,)


def refusals(model: str, data=None):
    bound = bind(model, data)
    with pytest.raises(ModelError) as info:
        bound.minibatch_log_density({}, jnp.arange(4))  # refused before the values are read
    return info.value.diagnostics


REFUSED = {  # model from line 4 on, extra data, then (code, message, line) of each diagnostic
    "a parameter per row": ("param vector[N] h ~ normal(0, 1);\ny ~ normal(h, s);", {},
                            [("E602", "`h` has one value per row of `N`: a minibatch would update it only when its "
                              "row is drawn", 4)]),
    "imputed rows": ("y ~ normal(mu, s);", {"y": [1.0, None] * 6},
                     [("E609", "`y` has missing values over the rows of `N`", 2)]),
    "a sum over rows in a prior": ("param real b ~ normal(sum(y * mu), 1);\ny ~ normal(mu + b, s);", {},
                                   [("E603", "`sum(y * mu)` reduces over the rows of `N`", 4)]),
    "a mean in a deterministic": ("m = mean(x * mu);\ny ~ normal(m, s);", {},
                                  [("E603", "`mean(x * mu)` reduces over the rows of `N`", 4)]),
    "a transpose": ("param vector[K] b ~ normal(X' * (y * mu), 1);\ny ~ normal(X * b, s);", {},
                    [("E603", "`X'` has the rows of `N` along axis 2, not first", 4)]),
    "a dot product": ("target += dot_product(y, x * mu);\ny ~ normal(mu, s);", {},
                      [("E603", "`dot_product(y, x * mu)` reduces over the rows of `N`", 4)]),
    "the row count alone": ("param real b ~ normal(0, sqrt(N));\ny ~ normal(mu + b, s);", {},
                            [("E606", "`N` is used as a value", 4)]),
    "a vectorised density in target +=": ("target += normal_lpdf(y | mu, s);\nx ~ normal(0, 1);", {},
                                          [("E603", "`normal_lpdf(y | mu, s)` reduces over the rows of `N`", 4)]),
    "rows in a second axis": ("data matrix[K, N] Xt; param vector[K] b ~ normal(0, 1);\ny ~ normal(Xt' * b, s);",
                              {"Xt": DATA["X"].T}, [("E603", "`Xt` (`matrix[K, N]`) has the rows of `N` along axis 2",
                                                     5)]),
    "softmax": ("y ~ normal(softmax(x * mu), s);", {},
                [("E604", "`softmax(x * mu)` mixes the rows of `N`: each row's value depends on other rows", 4)]),
    "cumulative_sum": ("y ~ normal(cumulative_sum(x) * mu, s);", {},
                       [("E604", "`cumulative_sum(x)` mixes the rows of `N`", 4)]),
    "append_row": ("eta = mu * x;\ny ~ normal(append_row(eta[1:6], eta[7:N]), s);", {},
                   [("E605", "`eta[1:6]` reads another row of `N`", 5), ("E605", "`eta[7:N]` reads another row", 5)]),
    "a lag": ("for (t in 2:N) y[t] ~ normal(mu * y[t - 1], s);", {},
              [("E607", "this loop runs over `2:N`, not over all the rows of `N`", 4),
               ("E605", "`y[t - 1]` reads another row of `N`: a minibatch holds only the rows it drew", 4)]),
    "a fixed row": ("eta = mu * x;\ny ~ normal(mu + eta[1], s);", {}, [("E605", "`eta[1]` reads another row of `N`", 5)]),
    "a recurrence": ("m[1] = mu;\nfor (t in 2:N) m[t] = m[t - 1] + x[t];\ny ~ normal(m, s);", {},
                     [("E605", "`m` is a recurrence over the rows of `N`", 4)]),
    "pairs of rows": ("y ~ normal(mu, s);\nfor (n in 1:N) for (m in 1:N) target += -square(x[n] - x[m]) * s;", {},
                      [("E605", "`n` and `m` both run over the rows of `N`", 5)]),
    "a change point": ("param real<lower=1, upper=N> cp ~ uniform(1, 12);\n"
                       "for (t in 1:N) y[t] ~ normal(t < cp ? mu : -mu, s);", {},
                       [("E606", "`N` is used as a value: in a minibatch it is the batch size", 4),
                        ("E606", "the row number `t` is used as a value: a minibatch renumbers its rows", 5)]),
    "a part of the rows": ("for (n in 1:N - 1) y[n] ~ normal(mu, s);", {},
                           [("E607", "this loop runs over `1:N - 1`", 4)]),
    "one draw covering the rows": ("data cov_matrix[N] S;\ny ~ multi_normal(rep_vector(mu, N), S);",
                                   {"S": np.eye(N)},
                                   [("E608", "`y ~ multi_normal(...)` is not a sum over rows", 5),
                                    ("E603", "`S` (`matrix[N, N]`) has the rows of `N` along axis 2", 5)]),
    "a discrete parameter over all rows": ("param int<lower=0, upper=1> k ~ bernoulli(0.5);\ny ~ normal(k * mu, s);",
                                           {}, [("E608", "`k` is summed out over all the rows of `N` at once", 4)]),
    "a reduction in a function body": ("fun center(v) = v - mean(v);\ny ~ normal(center(x) * mu, s);", {},
                                       [("E603", "`mean(v)` reduces over the rows of `N`", 4)]),
    "a container as long as the rows": ("data vector[M] u;\ny ~ normal(u * mu, s);", {"M": N, "u": DATA["x"]},
                                        [("E610", "`u * mu` is `vector[M]`: it goes with the rows of `N` but is not "
                                          "declared over them", 5)]),
    "no likelihood over rows": ("target += -square(mu);", {}, [("E601", "no likelihood has rows to subsample", None)]),
    "rows without a size variable": ("data vector[2 * J] u;\nu ~ normal(mu, s);", {"u": np.zeros(2 * J)},
                                     [("E601", "the rows of this likelihood have the size `2 * J`", 5)]),
}


@pytest.mark.parametrize("model, data, expected", REFUSED.values(), ids=REFUSED.keys())
def test_refusals_name_every_reason(model, data, expected):
    diagnostics = refusals(model, data)
    got = [(d.code, d.message, d.span.line if d.span else None) for d in diagnostics]
    assert len(got) == len(expected), got
    for code, message, line in expected:
        assert any(c == code and message in m and ln == line for c, m, ln in got), (code, message, got)
    assert all(d.hint for d in diagnostics)


def test_a_refusal_is_rendered_against_the_model():
    text = "\n".join(d.render({"<string>": HEAD + "target += normal_lpdf(y | mu, s);\nx ~ normal(0, 1);"})
                     for d in refusals("target += normal_lpdf(y | mu, s);\nx ~ normal(0, 1);"))
    assert text.splitlines() == [
        "<string>:4:11: error[E603]: `normal_lpdf(y | mu, s)` reduces over the rows of `N`: a minibatch sees only "
        "some of them",
        " 4 | target += normal_lpdf(y | mu, s);",
        "   |           ^^^^^^^^^^^^^^^^^^^^^^",
        "     = hint: write it as a likelihood: `y ~ normal(mu, s);`",
    ]
    with pytest.raises(ModelError, match=r"<string>:4:11: error\[E603\]"):
        bind("target += normal_lpdf(y | mu, s);\nx ~ normal(0, 1);").observation_rows()
