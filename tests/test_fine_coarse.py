"""`fine_coarse(fine, coarse)` and the compiled model's levels, replacements and parameter inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from numpyro.infer.util import log_density
from scipy.integrate import solve_ivp

import probdsl.api as api
from probdsl.codegen import ode as ode_runtime

TS = np.array([0.5, 1.0, 2.0, 3.0])
Y = np.array([0.62, 0.35, 0.14, 0.05])
K, SIGMA = 0.9, 0.1

# fine: exponential decay; coarse: a reduced model (a constant inflow), solved with other tolerances
DECAY = """
fun decay(t, y, k) = -k * y;
fun decay_inflow(t, y, k) = -k * y + 0.1;
data array[N] real ts;
data array[N] real y;
param real<lower=0> k ~ lognormal(0, 1);
param real<lower=0> sigma ~ exponential(1);
z = fine_coarse(ode_tol(decay, [1.0]', 0, ts, 1e-8, 1e-8, 10000, k),
                ode_tol(decay_inflow, [1.0]', 0, ts, 1e-7, 1e-7, 10000, k));
for (n in 1:N)
    y[n] ~ normal(z[n, 1], sigma);
"""


def reference(rhs) -> float:
    """The log density of DECAY at (K, SIGMA) with the state from a SciPy solve of ``rhs``."""
    z = solve_ivp(lambda t, y: rhs(y), (0, TS[-1]), [1.0], t_eval=TS, rtol=1e-10, atol=1e-10).y[0]
    return float(st.lognorm(1).logpdf(K) + st.expon.logpdf(SIGMA) + st.norm(z, SIGMA).logpdf(Y).sum())


FINE = reference(lambda y: -K * y)
COARSE = reference(lambda y: -K * y + 0.1)
PARAMS = {"k": jnp.asarray(K), "sigma": jnp.asarray(SIGMA)}


def density(model_fn, data, params=PARAMS) -> float:
    """The log density at constrained ``params`` (jitted: diffrax is slow to run eagerly)."""
    return float(jax.jit(lambda p: log_density(model_fn, (data,), {}, p)[0])(params))


def emitted(compiled):
    namespace: dict = {}
    exec(compile(compiled.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    return namespace["model"]


@pytest.fixture(scope="module")
def decay():
    compiled = api.compile(DECAY)
    return compiled, compiled.bind({"ts": TS, "y": Y})


def test_each_level_has_the_density_of_its_argument(decay):
    compiled, bound = decay
    coarse = bound.at_level("coarse")
    assert bound.at_level("fine") is bound and bound.level == "fine" and coarse.level == "coarse"
    assert coarse.sites == bound.sites and coarse.coords == bound.coords and coarse.data is bound.data
    np.testing.assert_allclose(density(bound.numpyro_model, bound.data), FINE, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(density(coarse.numpyro_model, coarse.data), COARSE, rtol=1e-5, atol=1e-5)
    assert abs(FINE - COARSE) > 1.0  # the levels differ


def test_the_emitted_program_is_the_fine_level(decay):
    compiled, bound = decay
    source = compiled.python_source()
    assert "fine_coarse" in source and "decay_inflow" not in source  # a comment, and only the fine solve
    np.testing.assert_allclose(density(emitted(compiled), bound.data), FINE, rtol=1e-5, atol=1e-5)


def test_only_the_chosen_argument_is_evaluated(decay, monkeypatch):
    compiled, bound = decay
    solves = []

    def recording(f, y0, t0, ts, *args, rtol, **options):
        solves.append(rtol)
        return solve(f, y0, t0, ts, *args, rtol=rtol, **options)

    solve = ode_runtime.ode_solve
    monkeypatch.setattr(ode_runtime, "ode_solve", recording)
    density(bound.numpyro_model, bound.data)
    assert solves == [1e-8]
    solves.clear()
    density(bound.at_level("coarse").numpyro_model, bound.data)
    assert solves == [1e-7]


FAILING = """
fun decay(t, y, k) = -k * y;
fun blow_up(t, y, k) = k * y .* y;
data array[N] real ts;
data array[N] real y;
param real<lower=0> k ~ lognormal(0, 1);
param real<lower=0> sigma ~ exponential(1);
z = fine_coarse({good}, {bad});
for (n in 1:N)
    y[n] ~ normal(z[n, 1], sigma);
"""
GOOD = "ode_tol(decay, [1.0]', 0, ts, 1e-8, 1e-8, 10000, k)"
BAD = "ode_tol(blow_up, [1.0]', 0, ts, 1e-6, 1e-6, 50, k)"  # infinite at t = 1 / k: the solve fails


@pytest.mark.parametrize("level", ["fine", "coarse"])
def test_an_argument_that_fails_does_not_touch_the_other_level(level):
    good, bad = (GOOD, BAD) if level == "fine" else (BAD, GOOD)
    bound = api.compile(FAILING.format(good=good, bad=bad)).bind({"ts": TS, "y": Y})
    chosen, other = bound.at_level(level), bound.at_level("coarse" if level == "fine" else "fine")
    unconstrained = {name: jnp.log(value) for name, value in PARAMS.items()}  # both are positive
    value, grad = jax.jit(jax.value_and_grad(chosen.log_density))(unconstrained)
    np.testing.assert_allclose(value, FINE + np.log(K) + np.log(SIGMA), rtol=1e-5)  # with the Jacobian
    assert all(np.isfinite(g) for g in jax.tree.leaves(grad))
    assert jax.jit(other.log_density)(unconstrained) == -np.inf


def test_the_level_reaches_functions_and_ode_right_hand_sides():
    compiled = api.compile("""
fun rate(t, y, k) = -fine_coarse(k, 2 * k) * y;
fun scale(x) = fine_coarse(x, 1);
data array[N] real ts;
data array[N] real y;
param real<lower=0> k ~ lognormal(0, 1);
param real<lower=0> sigma ~ exponential(1);
z = ode_tol(rate, [1.0]', 0, ts, 1e-8, 1e-8, 10000, k);
for (n in 1:N)
    y[n] ~ normal(z[n, 1], sigma * scale(2.0));
""")
    bound = compiled.bind({"ts": TS, "y": Y})
    assert bound.has_coarse_level and str(compiled.checked.types["z"]) == "array[N] vector[1]"

    def expected(rate, s):
        return float(st.lognorm(1).logpdf(K) + st.expon.logpdf(SIGMA)
                     + st.norm(np.exp(-rate * TS), SIGMA * s).logpdf(Y).sum())

    np.testing.assert_allclose(density(bound.numpyro_model, bound.data), expected(K, 2.0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(density(emitted(compiled), bound.data), expected(K, 2.0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(density(bound.at_level("coarse").numpyro_model, bound.data), expected(2 * K, 1.0),
                               rtol=1e-5, atol=1e-5)


def test_types_unify_and_a_model_without_it_has_no_coarse_level():
    compiled = api.compile("data vector[N] a; data vector[M] b; data int n; z = fine_coarse(a, b); "
                           "i = fine_coarse(n, n); r = fine_coarse(n, 0.5);")
    types = {k: str(v) for k, v in compiled.checked.types.items()}
    assert (types["z"], types["i"], types["r"]) == ("vector[N]", "int", "real")
    bound = compiled.bind({"a": [1.0, 2.0], "b": [3.0, 4.0], "n": 3})
    assert bound.data["z"].tolist() == [1.0, 2.0] and bound.data["r"] == 3.0
    assert not api.compile("param real m ~ normal(0, 1);").bind({}).has_coarse_level


# ---------------------------------------------------------------- replacements and parameter inputs

def test_a_replacement_computes_the_definition_without_its_expression(decay, monkeypatch):
    compiled, bound = decay
    seen = []

    def emulator(env):
        seen.append(sorted(k for k in env if k in ("k", "sigma", "ts", "y")))
        return jnp.exp(-env["k"] * env["ts"])[:, None]

    def no_solve(*args, **kwargs):
        raise AssertionError("the replaced expression was evaluated")

    replaced = bound.with_replacements({"z": emulator})
    monkeypatch.setattr(ode_runtime, "ode_solve", no_solve)
    np.testing.assert_allclose(density(replaced.numpyro_model, bound.data), FINE, rtol=1e-5, atol=1e-5)
    assert seen == [["k", "sigma", "ts", "y"]]
    assert replaced.sites == bound.sites and bound.replacements == {}


@pytest.mark.parametrize("name", ["k", "y", "ts", "nothing"])
def test_only_deterministic_definitions_can_be_replaced(decay, name):
    with pytest.raises(ValueError, match=name):
        decay[1].with_replacements({name: lambda env: 0.0})


GRAPH = """
data vector[N] x;
data vector[N] y;
param real a ~ normal(0, 1);
param real b ~ normal(0, 1);
param real<lower=0> s ~ exponential(1);
param real c ~ normal(a, 1);
scaled = 2 * x;
line = a + b * scaled;
noise = s;
wide = line + c;
shifted = c + 1;
y ~ normal(wide + shifted, noise);
"""


def test_param_inputs_follow_definitions_in_model_order():
    bound = api.compile(GRAPH).bind({"x": [1.0, 2.0], "y": [0.5, 1.5]})
    assert bound.param_inputs("line") == ["a", "b"]
    assert bound.param_inputs("noise") == ["s"]
    assert bound.param_inputs("wide") == ["a", "b", "c"]
    assert bound.param_inputs("shifted") == ["c"]  # c's prior reads a: not an input of the definition
    assert bound.param_inputs("scaled") == []
    with pytest.raises(ValueError):
        bound.param_inputs("a")
