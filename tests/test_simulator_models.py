"""Simulators: data defined from parameters and random draws (no likelihood), e.g. two moons.

The simulations are compared with a NumPy reimplementation of the same simulator; likelihood-based
use of such a model is refused with E409.
"""

from pathlib import Path

import jax
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

import probdsl.api as api
from probdsl.errors import DataError, ModelError
from probdsl.model_interface import GENERATED, OBSERVED

TWO_MOONS = Path(__file__).parent.parent / "examples" / "flow" / "two_moons.pdl"
DRAWS = 20_000
THETA = np.array([0.3, -0.5])


def numpy_two_moons(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The two-moons simulator (Greenberg et al. 2019), one observation per row of ``theta``."""
    a = rng.uniform(-np.pi / 2, np.pi / 2, len(theta))
    r = rng.normal(0.1, 0.01, len(theta))
    centre = np.stack([0.25 - np.abs(theta[:, 0] + theta[:, 1]) / np.sqrt(2),
                       (-theta[:, 0] + theta[:, 1]) / np.sqrt(2)], axis=1)
    return centre + np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def assert_same_distribution(got: np.ndarray, want: np.ndarray, sigmas: float = 5.0) -> None:
    """Means and sds per column agree within ``sigmas`` Monte Carlo standard errors (both samples are random)."""
    n, m = len(got), len(want)
    se_mean = np.sqrt(got.var(0) / n + want.var(0) / m)
    np.testing.assert_array_less(np.abs(got.mean(0) - want.mean(0)), sigmas * se_mean)
    se_sd = np.sqrt(got.var(0) / (2 * n) + want.var(0) / (2 * m)) * 2  # (x2: the draws are not normal)
    np.testing.assert_array_less(np.abs(got.std(0) - want.std(0)), sigmas * se_sd)


@pytest.fixture(scope="module")
def model():
    return api.compile_file(TWO_MOONS)


@pytest.fixture(scope="module")
def bound(model):
    return model.bind({}, predicting=True)


def fixed_theta(n: int = DRAWS) -> dict:
    return {"theta": np.tile(THETA, (n, 1)).astype(np.float32)}


def test_sites_and_names(model, bound):
    assert model.simulated_observations == bound.simulated_observations == ("x",)
    sites = {s.name: s for s in bound.sites}
    assert sites["x"].role == OBSERVED and sites["x"].simulated and sites["x"].shape == (2,)
    assert sites["a"].role == sites["r"].role == GENERATED  # no E112: they feed only the simulation
    assert not any(s.simulated for s in bound.sites if s.name != "x")


def test_prior_predictive_has_the_declared_shape_and_the_simulators_distribution(bound):
    draws = bound.sample_prior(jax.random.PRNGKey(0), DRAWS)
    assert draws["x"].shape == (DRAWS, 2) and draws["theta"].shape == (DRAWS, 2)
    assert draws["a"].shape == draws["r"].shape == (DRAWS,)
    theta = np.random.default_rng(0).uniform(-1, 1, (DRAWS, 2))
    assert_same_distribution(np.asarray(draws["x"]), numpy_two_moons(theta, np.random.default_rng(1)))


def test_simulations_at_fixed_theta_lie_on_a_half_ring(bound):
    x = np.asarray(bound.simulate(jax.random.PRNGKey(1), fixed_theta())["x"])
    assert x.shape == (DRAWS, 2)
    centre = np.array([0.25 - abs(THETA.sum()) / np.sqrt(2), (THETA[1] - THETA[0]) / np.sqrt(2)])
    offset = x - centre
    radius = np.linalg.norm(offset, axis=1)
    assert abs(radius.mean() - 0.1) < 5 * 0.01 / np.sqrt(DRAWS)  # r ~ normal(0.1, 0.01)
    assert abs(radius.std() - 0.01) < 0.001
    assert (offset[:, 0] > -1e-6).all()  # a in (-pi/2, pi/2): the right half of the ring
    np.testing.assert_allclose(x.mean(0), centre + [0.1 * 2 / np.pi, 0], atol=5 * 0.032 / np.sqrt(DRAWS))
    assert_same_distribution(x, numpy_two_moons(np.tile(THETA, (DRAWS, 1)), np.random.default_rng(2)))


def test_without_predict_the_simulation_adds_nothing(model, bound):
    trace = handlers.trace(handlers.seed(bound.numpyro_model, 0)).get_trace(bound.data)
    assert [name for name, site in trace.items() if site["type"] == "sample"] == ["theta"]
    assert "x" not in trace
    observed = model.bind({"x": [0.1, -0.2]})
    params = {"theta": np.array([0.2, 0.4])}
    lp = log_density(observed.numpyro_model, (observed.data,), {}, params)[0]
    np.testing.assert_allclose(lp, 2 * np.log(0.5), rtol=1e-6)  # the prior alone: there is no likelihood


def test_the_observation_may_be_given_or_left_out_when_predicting(model):
    given = model.bind({"x": [0.1, -0.2]})
    np.testing.assert_allclose(given.observed_data()["x"], [0.1, -0.2])
    assert "x" not in given.constant_data()
    assert model.bind({}, predicting=True).observed_data() == {}
    with pytest.raises(DataError) as info:
        model.bind({})
    assert info.value.codes == ["E301"]


def test_likelihood_methods_are_refused(model, bound):
    with pytest.raises(ModelError) as info:
        bound.refuse_simulated("nuts")
    assert info.value.codes == ["E409"]
    text = str(info.value)
    assert "`x` is simulated" in text and "`--method nuts` needs one" in text
    assert "two_moons.pdl:12:1" in text  # at the definition
    assert "probdsl train" in text and "--method flow --flow" in text
    with pytest.raises(ModelError) as info:
        model.refuse_simulated("vi")
    assert info.value.codes == ["E409"]
    with pytest.raises(ModelError) as info:
        bound.log_density(bound.unconstrain({"theta": np.zeros(2)}))
    assert info.value.codes == ["E409"]
    with pytest.raises(ModelError):
        bound.log_likelihood(fixed_theta(3))
    plain = api.compile("data vector[3] y; param real mu ~ normal(0, 1); y ~ normal(mu, 1);")
    assert plain.simulated_observations == ()
    plain.bind({"y": [0.1, 0.2, 0.3]}).refuse_simulated("nuts")  # nothing to refuse


def test_emitted_program_simulates_the_same_distribution(model, bound):
    source = model.python_source()
    assert "if predict:  # `x` is simulated: no likelihood, drawn when predicting" in source
    assert "x = numpyro.deterministic('x', " in source
    assert "dist.Uniform(" in source and "dist.Normal(0.1, 0.01)" in source
    assert "data['x']" not in source and "data.get('x')" not in source  # nothing reads the observation
    namespace: dict = {}
    exec(compile(source, "emitted", "exec"), namespace)  # our generated code, not model text
    emitted = Predictive(namespace["model"], posterior_samples=fixed_theta())(
        jax.random.PRNGKey(3), bound.data, predict=True)
    inproc = bound.simulate(jax.random.PRNGKey(4), fixed_theta())
    assert emitted["x"].shape == (DRAWS, 2)
    assert_same_distribution(np.asarray(emitted["x"]), np.asarray(inproc["x"]))
    trace = handlers.trace(handlers.seed(namespace["model"], 0)).get_trace(bound.data)
    assert [name for name, site in trace.items() if site["type"] == "sample"] == ["theta"]


SIZED = """
data int<lower=0> N;
param real mu ~ normal(0, 1);
eps = normal_rng(rep_vector(0, N), 1);
data vector[N] y;
y = mu + eps;
data array[N] int k;
for (i in 1:N) k[i] = poisson_rng(exp(mu));
data array[N] real z;
z[1] = mu;
for (i in 2:N) z[i] = z[i - 1] + normal_rng(0, 1);
"""


def test_sized_draws_loops_and_pieces():
    model = api.compile(SIZED)
    assert model.simulated_observations == ("y", "k", "z")
    bound = model.bind({"N": 4}, predicting=True)
    draws = bound.sample_prior(jax.random.PRNGKey(0), 2000)
    assert draws["y"].shape == draws["k"].shape == draws["z"].shape == (2000, 4)
    assert np.issubdtype(draws["k"].dtype, np.integer) and np.issubdtype(draws["z"].dtype, np.floating)
    np.testing.assert_allclose(draws["y"], draws["mu"][:, None] + draws["eps"], atol=1e-6)
    np.testing.assert_allclose(draws["z"][:, 0], draws["mu"])
    steps = np.diff(np.asarray(draws["z"]), axis=1)  # a random walk with normal(0, 1) steps
    assert abs(steps.mean()) < 5 / np.sqrt(steps.size) and abs(steps.std() - 1) < 0.05
    namespace: dict = {}
    exec(compile(model.python_source(), "emitted", "exec"), namespace)  # our generated code, not model text
    emitted = Predictive(namespace["model"], num_samples=5)(jax.random.PRNGKey(0), bound.data, predict=True,
                                                            from_prior=True)
    assert {k: v.shape for k, v in emitted.items()} == {k: v.shape for k, v in bound.sample_prior(
        jax.random.PRNGKey(0), 5).items()}


def test_the_simulated_value_is_checked_with_the_datas_sizes():
    model = api.compile("data int<lower=0> N; data int<lower=0> M; param real mu ~ normal(0, 1);\n"
                        "data vector[N] y; y = mu + normal_rng(rep_vector(0, M), 1);")
    model.bind({"N": 3, "M": 3}, predicting=True)
    with pytest.raises(ModelError) as info:
        model.bind({"N": 3, "M": 4}, predicting=True)
    assert info.value.codes == ["E202"]
    assert "`y` is declared `vector[N]` but its simulated value is `vector[M]`" in str(info.value)
