"""The compiled model: emitted source equals the in-process model, the interface methods, fmt round trip."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import posteriordb_reference as reference  # bench/, on pytest's pythonpath
import pytest
from numpyro.infer.util import log_density

import probdsl.api as api
from probdsl.errors import ModelError
from probdsl.syntax.parser import parse
from probdsl.syntax.printer import format_program

ROOT = Path(__file__).parent.parent
ALL_EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.pdl"))
# The default suite checks the examples and the posteriordb ports with data in tests/posteriordb;
# `-m slow` checks every model file.
EXAMPLES = [pytest.param(p, marks=() if p.parent.name != "posteriordb" or (reference.TEST_COPIES / p.stem).is_dir()
                         else pytest.mark.slow) for p in ALL_EXAMPLES]


def data_for(model_path: Path):
    if model_path.parent.name == "posteriordb":
        folder = reference.find_data(model_path.stem)
        return [folder / "data.json"] if folder else None
    for stem in (model_path.stem, model_path.parent.name):  # the model's own data, else its folder's
        files = [p for p in model_path.parent.glob(stem + ".*") if p.suffix in (".csv", ".json")]
        if files:
            return files
    return None


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in ALL_EXAMPLES])
def test_emitted_source_has_the_same_log_density(path):
    data = data_for(path)
    if data is None:
        pytest.skip("no data beside the model")
    model = api.compile_file(path)
    bound = model.bind(data)
    namespace: dict = {}
    exec(compile(model.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    emitted = namespace["model"]
    params = bound.constrain(jax.tree.map(lambda v: jnp.zeros(jnp.shape(v)) + 0.1,
                                          bound.unconstrain(bound.sample_prior_or_init(jax.random.PRNGKey(0)))))
    lp_inproc = log_density(bound.numpyro_model, (bound.data,), {}, params)[0]
    lp_emitted = log_density(emitted, (bound.data,), {}, params)[0]
    assert np.isfinite(lp_inproc)
    np.testing.assert_allclose(lp_emitted, lp_inproc, rtol=1e-6)


EDGE_CASES = {  # programs where only the emitted source failed (found by tests/fuzz_models.py)
    "lkj dimension written as an expression": (
        "data vector[N] c; param cholesky_factor_corr[(N)] tau; tau ~ lkj_corr_cholesky(2);\n"
        "param cholesky_factor_corr[N + 1] omega ~ lkj_corr_cholesky(3);", {"c": [0.1, 0.2, 0.3]}),
    "no rows of a transformed distribution": (
        "data int<upper=0> N; data vector<lower=0>[N] g; param real m ~ normal(0, 1); g ~ lognormal(m, 1);",
        {"N": 0, "g": []}),
    "discrete parameter used only by its prior": (
        "data int<lower=2> N; data int<lower=1> K; param array[N] int<lower=1, upper=N * K> L;\n"
        "L ~ discrete_range(1, K);", {"N": 3, "K": 3}),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_emitted_source_has_the_same_log_density_on_edge_cases(name):
    source, data = EDGE_CASES[name]
    model = api.compile(source)
    bound = model.bind(data)
    namespace: dict = {}
    exec(compile(model.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    params = bound.constrain(jax.tree.map(lambda v: jnp.zeros(jnp.shape(v)) + 0.1, bound.unconstrain(
        bound.sample_prior_or_init(jax.random.PRNGKey(0)))))
    lp_inproc = log_density(bound.numpyro_model, (bound.data,), {}, params)[0]
    lp_emitted = log_density(namespace["model"], (bound.data,), {}, params)[0]
    np.testing.assert_allclose(lp_emitted, lp_inproc, rtol=1e-6)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in ALL_EXAMPLES])
def test_fmt_round_trip(path):
    text = path.read_text()
    program = parse(text, str(path))
    once = format_program(program)
    assert parse(once) == program
    assert format_program(parse(once)) == once


ES = """
data int<lower=0> J;
data vector[J] y;
data vector<lower=0>[J] sigma;
param real mu ~ normal(0, 5);
param real<lower=0> tau ~ cauchy(0, 5);
param vector[J] eta ~ std_normal();
theta = mu + tau * eta;
y ~ normal(theta, sigma);
y_rep = normal_rng(theta, sigma);
"""
ES_DATA = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}


@pytest.fixture(scope="module")
def bound():
    return api.compile(ES).bind(ES_DATA)


def test_roles_and_sites(bound):
    roles = {s.name: s.role for s in bound.sites}
    assert roles["theta"] == "deterministic" and roles["y_rep"] == "generated" and roles["mu"] == "param"
    assert bound.site("eta").dims == ("J",) and bound.coords["J"] == list(range(1, 9))


def test_log_density_and_gradient(bound):
    u = {"mu": 1.0, "tau": 0.0, "eta": jnp.zeros(8)}
    lp, grad = bound.log_density_and_grad(u)
    # by hand: normal(1|0,5) + half-cauchy restricted (unnormalized) at exp(0)=1 + log-jacobian 0 + N(0|0,1)*8 + lik
    from scipy import stats
    y, s = np.array(ES_DATA["y"], float), np.array(ES_DATA["sigma"], float)
    expected = (stats.norm(0, 5).logpdf(1) + stats.cauchy(0, 5).logpdf(1) + 8 * stats.norm.logpdf(0)
                + stats.norm(1, s).logpdf(y).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-5)
    np.testing.assert_allclose(grad["mu"], -1 / 25 + np.sum((y - 1) / s**2), rtol=1e-4)


def test_minibatch_log_density_is_unbiased():
    regression = api.compile("data vector[N] x; data vector[N] y; param real a ~ normal(0, 5); "
                             "param real b ~ normal(0, 5); param real<lower=0> s ~ exponential(1); "
                             "y ~ normal(a + b * x, s);").bind({"x": np.arange(8.0), "y": ES_DATA["y"]})
    u = {"a": 1.0, "b": 0.3, "s": 2.5}
    full = regression.log_density(u)
    halves = [regression.minibatch_log_density(u, jnp.arange(0, 4)),
              regression.minibatch_log_density(u, jnp.arange(4, 8))]
    np.testing.assert_allclose(np.mean(halves), full, rtol=1e-5)
    np.testing.assert_allclose(regression.minibatch_log_density(u, jnp.arange(8)), full, rtol=1e-6)


def test_a_parameter_per_row_cannot_be_minibatched(bound):
    with pytest.raises(ModelError) as info:
        bound.minibatch_log_density({"mu": 1.0, "tau": 0.3, "eta": jnp.zeros(8)}, jnp.arange(4))
    assert info.value.codes == ["E602"] and "`eta` has one value per row of `J`" in str(info.value)


def test_prior_simulation_and_forward(bound):
    draws = bound.sample_prior(jax.random.PRNGKey(0), 4000)
    assert draws["y"].shape == (4000, 8) and draws["y_rep"].shape == (4000, 8)
    assert np.all(draws["tau"] > 0)
    assert abs(float(np.mean(draws["mu"]))) < 4 * 5 / np.sqrt(4000)
    sims = bound.simulate(jax.random.PRNGKey(1), {k: draws[k][:10] for k in ("mu", "tau", "eta")})
    assert sims["y"].shape == (10, 8)
    means = bound.forward({"mu": 2.0, "tau": 1.0, "eta": jnp.ones(8)})
    np.testing.assert_allclose(means["y"], 3.0)


def test_log_likelihood_pointwise(bound):
    samples = {"mu": jnp.zeros(3), "tau": jnp.ones(3), "eta": jnp.zeros((3, 8))}
    ll = bound.log_likelihood(samples)
    assert set(ll) == {"y"} and ll["y"].shape == (3, 8)


def test_compile_never_executes_model_text(monkeypatch):
    import builtins
    calls = []
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: calls.append(a))
    api.compile('data real exec;\nparam real os ~ normal(0, 1);\nz = os + 1;').python_source()
    assert calls == []


def test_inline_prior_needing_the_variate_size():
    """`lkj_corr_cholesky` takes its size from the parameter's declared type, also for an inline prior."""
    model = api.compile("param cholesky_factor_corr[3] L ~ lkj_corr_cholesky(2); data vector[3] y;"
                        "y ~ multi_normal_cholesky(rep_vector(0, 3), L);")
    bound = model.bind({"y": [0.1, -0.2, 0.3]})
    draws = bound.sample_prior(jax.random.PRNGKey(0), 200)
    assert draws["L"].shape == (200, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(draws["L"], axis=-1), 1.0, rtol=1e-5)  # unit-length rows


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=[p.stem for p in ALL_EXAMPLES])
def test_examples_are_formatted(path):
    assert format_program(parse(path.read_text(), str(path))) == path.read_text()


OFFSET_MULTIPLIER = """
data int<lower=0> J;
data vector[J] y;
param real mu ~ normal(0, 5);
param real<lower=0> tau ~ normal(0, 1);
param vector<offset={offset}, multiplier=tau>[J] theta ~ normal(mu, tau);
y ~ normal(theta, 1);
"""


@pytest.mark.parametrize("offset", ["mu", "0.5 * mu"])
def test_offset_multiplier_density_is_exact_in_float32(offset):
    """theta = offset + tau * u: its prior term is computed from (offset - mu) + tau * u, so a tiny
    tau next to a large offset keeps every digit of u (float32 loses them in offset + tau * u - mu)."""
    from scipy import stats
    model = api.compile(OFFSET_MULTIPLIER.format(offset=offset)).bind({"J": 3, "y": [1.0, 2.0, 3.0]})
    mu, tau, u = 1.4, 1e-6, np.array([0.5, -1.0, 2.0])
    lp = model.log_density({"mu": mu, "tau": np.log(tau), "theta__u": jnp.asarray(u, jnp.float32)})
    location = mu if offset == "mu" else 0.5 * mu
    theta = location + tau * u
    expected = (stats.norm(0, 5).logpdf(mu) + stats.norm(0, 1).logpdf(tau) + np.log(tau)  # tau's prior and Jacobian
                + stats.norm(0, 1).logpdf((location - mu) / tau + u).sum()  # theta's prior with its Jacobian
                + stats.norm(theta, 1).logpdf([1.0, 2.0, 3.0]).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-5)
