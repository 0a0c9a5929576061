"""User functions (`fun`) and ODE solves (`ode`): semantics, densities against NumPy/SciPy, gradients, failures."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.stats as st  # noqa: E402
from numpyro.infer.util import log_density  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import probdsl.api as api  # noqa: E402
from probdsl.errors import ModelError, RuntimeModelError  # noqa: E402
from probdsl.syntax.parser import parse  # noqa: E402
from probdsl.syntax.printer import format_program  # noqa: E402


def emitted_model(model):
    namespace: dict = {}
    exec(compile(model.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    return namespace["model"]


def both_log_densities(model, bound, params):
    """The log density of the in-process model and of the emitted program at ``params``."""
    return (float(log_density(bound.numpyro_model, (bound.data,), {}, params)[0]),
            float(log_density(emitted_model(model), (bound.data,), {}, params)[0]))


# ---------------------------------------------------------------- user functions

FUNCTIONS = """
data vector[N] x;
data matrix[N, N] A;
quad = sq(sq(x));                     // a function used before its definition, calling another
scaled = times(2.0, x);               // `*` a scaling here ...
product = times(A, x);                // ... and a matrix product here
b = bump(x, 0.5, 2);
fun sq(v) = v .* v;
fun times(a, b) = a * b;
fun bump(x, centre, width) {
    e = exp(-square(d));              // locals are order-free
    d = (x - centre) / width;
    return e;
}
"""


def test_function_calls_are_inlined_with_the_types_of_each_call():
    model = api.compile(FUNCTIONS)
    x, a = np.array([0.5, -1.0, 2.0]), np.arange(9.0).reshape(3, 3)
    data = model.bind({"x": x, "A": a}).data
    np.testing.assert_allclose(data["quad"], x**4)
    np.testing.assert_allclose(data["scaled"], 2 * x)
    np.testing.assert_allclose(data["product"], a @ x)
    np.testing.assert_allclose(data["b"], np.exp(-(((x - 0.5) / 2) ** 2)))
    assert str(model.checked.types["product"]) == "vector[N]"
    source = model.python_source()
    assert "def sq(v):" in source and "def bump(x, centre, width):" in source
    assert "def times(a, b):" in source and "def times__2(a, b):" in source  # one def per variant of the body


def test_functions_in_the_density_match_numpy_in_both_code_paths():
    model = api.compile("""
fun sigmoid(x, k) = inv(1 + exp(-k * x));
data vector[N] x;
data vector[N] y;
param real<lower=0> k ~ exponential(1);
param real<lower=0> sigma ~ exponential(1);
y ~ normal(sigmoid(x, k), sigma);
""")
    x, y = np.array([-1.0, 0.0, 2.0]), np.array([0.2, 0.5, 0.9])
    bound = model.bind({"x": x, "y": y})
    lp, lp_emitted = both_log_densities(model, bound, {"k": jnp.array(1.5), "sigma": jnp.array(0.3)})
    expected = (st.expon.logpdf(1.5) + st.expon.logpdf(0.3)
                + st.norm(1 / (1 + np.exp(-1.5 * x)), 0.3).logpdf(y).sum())
    np.testing.assert_allclose([lp, lp_emitted], expected, rtol=1e-10)


def test_function_definitions_format_round_trip_with_their_comments():
    text = ("fun f(x, s) {  // a bump\n"
            "    // the scaled distance\n"
            "    d = x / s;\n"
            "    return exp(-square(d));  // the value\n"
            "}\n"
            "fun g(t, z, theta) = [theta[1] * z[1], -z[2]]';\n"
            "z = ode(g, y0, 0, ts, theta);\n")
    program = parse(text)
    assert format_program(program) == text
    assert parse(format_program(program)) == program


# ---------------------------------------------------------------- ODEs

LOTKA_VOLTERRA = """
fun dz_dt(t, z, theta) = [ theta[1] * z[1] - theta[2] * z[1] * z[2],
                          -theta[3] * z[2] + theta[4] * z[1] * z[2] ]';
data array[N] real ts;
data array[N, 2] real<lower=0> y;
param array[4] real<lower=0> theta ~ normal(1, 1);
param array[2] real<lower=0> z_init ~ lognormal(3, 1);
param real<lower=0> sigma ~ lognormal(-1, 1);
z = ode_tol(dz_dt, z_init, 0, ts, 1e-10, 1e-10, 100000, theta);
for (n in 1:N)
    for (k in 1:2)
        y[n, k] ~ lognormal(log(z[n, k]), sigma);
"""
TS = np.arange(1.0, 11.0)
Y = np.array([[47.2, 6.1], [70.2, 9.8], [77.4, 35.2], [36.3, 59.4], [20.6, 41.7], [18.1, 19.0], [21.4, 13.0],
              [22.0, 8.3], [25.4, 9.1], [27.1, 7.4]])


def test_ode_density_matches_a_scipy_solve():
    model = api.compile(LOTKA_VOLTERRA)
    assert str(model.checked.types["z"]) == "array[N] vector[2]"
    bound = model.bind({"ts": TS, "y": Y})
    theta, z0, sigma = np.array([0.55, 0.028, 0.8, 0.024]), np.array([34.0, 5.9]), 0.25
    lp, lp_emitted = both_log_densities(model, bound, {"theta": jnp.array(theta), "z_init": jnp.array(z0),
                                                       "sigma": jnp.array(sigma)})

    def rhs(t, z):
        return [theta[0] * z[0] - theta[1] * z[0] * z[1], -theta[2] * z[1] + theta[3] * z[0] * z[1]]

    z = solve_ivp(rhs, (0, TS[-1]), z0, t_eval=TS, method="DOP853", rtol=1e-12, atol=1e-12).y.T
    expected = (st.norm(1, 1).logpdf(theta).sum() + st.lognorm(1, scale=np.exp(3)).logpdf(z0).sum()
                + st.lognorm(1, scale=np.exp(-1)).logpdf(sigma) + st.lognorm(sigma, scale=z).logpdf(Y).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-8)
    assert lp_emitted == lp
    assert "def dz_dt(t, z, theta):" in model.python_source() and "diffrax.Dopri5()" in model.python_source()


def test_ode_gradient_matches_finite_differences():
    model = api.compile("""
fun decay(t, y, k) = -k * y;
data array[N] real ts;
data array[N] real y;
param real<lower=0> k ~ lognormal(0, 1);
param real y0 ~ normal(1, 1);
z = ode(decay, {y0}, 0, ts, k);
y ~ normal(to_array_1d(z[:, 1]), 0.1);
""")
    bound = model.bind({"ts": [0.5, 1.0, 2.0], "y": [0.6, 0.4, 0.1]})
    point = {"k": jnp.array(np.log(0.9)), "y0": jnp.array(0.95)}
    log_density = jax.jit(bound.log_density)
    _, grad = jax.jit(bound.log_density_and_grad)(point)
    for name in point:
        h = 1e-5
        up, down = dict(point), dict(point)
        up[name], down[name] = point[name] + h, point[name] - h
        numeric = (log_density(up) - log_density(down)) / (2 * h)
        np.testing.assert_allclose(grad[name], numeric, rtol=1e-4)


def test_stiff_solver():
    """y' = -1000 (y - sin t) + cos t, y(0) = 0 is stiff; its solution is sin t."""
    model = api.compile("""
fun relax(t, y, rate) = -rate * (y - sin(t)) + cos(t);
data array[N] real ts;
z = ode_bdf_tol(relax, [0.0]', 0, ts, 1e-9, 1e-9, 10000, 1000.0);
""")
    ts = np.array([0.5, 1.0, 3.0, 10.0])
    np.testing.assert_allclose(model.bind({"ts": ts}).data["z"][:, 0], np.sin(ts), atol=1e-7)
    assert "diffrax.Kvaerno5()" in model.python_source()


BLOW_UP = """
fun blow_up(t, y, k) = k * y .* y;     // y = 1 / (1 - k t): infinite at t = 1 / k
data array[N] real ts;
data array[N] real y;
param real<lower=1> k ~ lognormal(0, 1);
z = ode_tol(blow_up, [1.0]', 0, ts, 1e-6, 1e-6, 200, k);
y ~ normal(to_array_1d(z[:, 1]), 0.1);
"""


def test_a_failed_solve_gives_minus_infinity_and_is_explained():
    bound = api.compile(BLOW_UP).bind({"ts": [0.5, 2.0], "y": [2.0, 3.0]})
    value, grad = jax.jit(bound.log_density_and_grad)({"k": jnp.array(np.log(2.0))})  # k = 3: no solution at t = 2
    assert value == -np.inf and np.isfinite(grad["k"])
    assert bound.log_density({"k": jnp.array(np.log(2.0))}) == -np.inf
    explanation = bound.explain_nonfinite({"k": jnp.array(3.0)})
    assert explanation.startswith("<string>:6:1: non-finite value at `z`")
    assert "the ODE solve `ode_tol(...)` at <string>:6:5 gives NaN when it fails" in explanation


@pytest.mark.slow
def test_initialisation_failure_names_the_ode_call():
    model = api.compile(BLOW_UP)
    with pytest.raises(RuntimeModelError) as info:
        api.fit(model, {"ts": [0.5, 2.0], "y": [2.0, 3.0]}, chains=1, warmup=10, draws=10, seed=1, progress=False)
    text = str(info.value)
    assert "error[E401]" in text and "`ode_tol(...)` at <string>:6:5" in text and "non-finite value at `z`" in text


def test_a_failed_solve_on_data_is_a_located_error():
    model = api.compile(BLOW_UP.replace("param real<lower=1> k ~ lognormal(0, 1);", "data real k;"))
    with pytest.raises(ModelError) as info:
        model.bind({"ts": [0.5, 2.0], "y": [2.0, 3.0], "k": 3.0})
    assert str(info.value).startswith("<string>:6:5: error[E224]: `ode_tol(...)` could not be solved")
