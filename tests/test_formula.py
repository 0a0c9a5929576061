"""Formula sugar `lm(...)`: the expansion text, its log density against hand-written models and
SciPy, a fit that recovers the coefficients, and the `expand` command."""

import subprocess
import sys
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pytest
from lark import Lark
from numpyro import handlers
from numpyro.infer import init_to_uniform
from numpyro.infer.util import log_density
from scipy import stats

import probdsl.api as api
from probdsl.errors import DiagnosticBag, ProbdslError
from probdsl.syntax.formula import expand
from probdsl.syntax.parser import grammar_path, parse
from probdsl.syntax.printer import format_program

ROOT = Path(__file__).parent.parent
HEAD = """data vector[N] x;
data vector[N] z;
data array[N] int k;
data factor g;
data factor h;
data vector[N] y;
data array[N] int<lower=0, upper=1> c;
data vector<lower=0>[N] w;
"""
RNG = np.random.default_rng(0)
N = 60
DATA = {"x": RNG.normal(size=N), "z": RNG.normal(size=N), "k": RNG.integers(0, 3, N).tolist(),
        "g": RNG.choice(["a", "b", "c", "d"], N).tolist(), "h": RNG.choice(["u", "v"], N).tolist(),
        "y": RNG.normal(size=N), "c": RNG.integers(0, 2, N).tolist(), "w": RNG.lognormal(size=N)}


def expanded(body: str) -> str:
    """The expansion of HEAD + body, without HEAD's lines."""
    bag = DiagnosticBag()
    text = format_program(expand(parse(HEAD + body), bag))
    assert not bag.items, bag.items
    assert text.startswith(HEAD)
    return text[len(HEAD):]


CASES = {
    "population_and_groups": (
        "mu = lm(1 + x*z + k + g + x:h + (1 | g) + (0 + x || h));\ny ~ normal(mu, 1);\n",
        """\
mu = b_Intercept + b_x * x + b_z * z + b_x_z * x .* z + b_k * to_vector(k) + b_g[g] + b_x_h[h] .* x + r_g[g] + r_h[h] .* x;  // lm(1 + x*z + k + g + x:h + (1 | g) + (0 + x || h))
param real b_Intercept ~ student_t(3, mean(y), 2.5 * sd(y));
param real b_x ~ normal(0, 2.5 * sd(y) / sd(x));
param real b_z ~ normal(0, 2.5 * sd(y) / sd(z));
param real b_x_z ~ normal(0, 2.5 * sd(y) / sd(x .* z));
param real b_k ~ normal(0, 2.5 * sd(y) / sd(to_vector(k)));
param sum_to_zero_vector[g] b_g ~ normal(0, 2.5 * sd(y));
param sum_to_zero_vector[h] b_x_h ~ normal(0, 2.5 * sd(y) / sd(x));
param real<lower=0> sd_g ~ exponential(1 / sd(y));
param vector[g] z_g ~ std_normal();
r_g = sd_g * z_g;
param real<lower=0> sd_h ~ exponential(1 / sd(y));
param vector[h] z_h ~ std_normal();
r_h = sd_h * z_h;
y ~ normal(mu, 1);
"""),
    "correlated_slopes_logit": (
        "eta = lm(x + (1 + x + z | g));\nc ~ bernoulli_logit(eta);\n",
        """\
eta = b_Intercept + b_x * x + r_g[g, 1] + r_g[g, 2] .* x + r_g[g, 3] .* z;  // lm(x + (1 + x + z | g))
param real b_Intercept ~ student_t(3, 0, 2.5);
param real b_x ~ normal(0, 2.5 / sd(x));
param vector<lower=0>[3] sd_g ~ exponential(1);
param cholesky_factor_corr[3] L_g ~ lkj_corr_cholesky(1);
param matrix[g, 3] z_g ~ std_normal();
r_g = z_g * diag_pre_multiply(sd_g, L_g)';
c ~ bernoulli_logit(eta);
"""),
    "cell_means_lognormal": (
        "mu = lm(0 + g + h);\nparam real<lower=0> sigma ~ exponential(1);\nw ~ lognormal(mu, sigma);\n",
        """\
mu = b_g[g] + b_h[h];  // lm(0 + g + h)
param vector[g] b_g ~ student_t(3, mean(log(w)), 2.5 * sd(log(w)));
param sum_to_zero_vector[h] b_h ~ normal(0, 2.5 * sd(log(w)));
param real<lower=0> sigma ~ exponential(1);
w ~ lognormal(mu, sigma);
"""),
    "two_formulas_and_an_override": (
        "mu = lm(1 + x);\nlog_sigma = lm(1 + z - 1);\ny ~ normal(mu, exp(log_sigma));\nb_mu_x ~ normal(0, 1);\n",
        """\
mu = b_mu_Intercept + b_mu_x * x;  // lm(1 + x)
param real b_mu_Intercept ~ student_t(3, mean(y), 2.5 * sd(y));
param real b_mu_x;
log_sigma = b_log_sigma_z * z;  // lm(1 + z - 1)
param real b_log_sigma_z ~ normal(0, 2.5 / sd(z));
y ~ normal(mu, exp(log_sigma));
b_mu_x ~ normal(0, 1);
"""),
}


@pytest.mark.parametrize("name", CASES)
def test_expansion_text(name):
    body, expected = CASES[name]
    assert expanded(body) == expected


def _random_point(bound, seed=1) -> dict:
    """Parameter values uniform in (-2, 2) on the unconstrained scale (jitted: faster than eager)."""
    names = [s.name for s in bound.sites if s.role == "param"]

    def draw(key):
        model = handlers.substitute(handlers.seed(bound.numpyro_model, key), substitute_fn=init_to_uniform)
        trace = handlers.trace(model).get_trace(bound.data)
        return {name: trace[name]["value"] for name in names}

    return jax.jit(draw)(jax.random.PRNGKey(seed))


def _log_density_at_random_point(model, data, other=None):
    bound = model.bind(data)
    u = jax.jit(bound.unconstrain)(_random_point(bound))
    lp_other = jax.jit(other.bind(data).log_density)(u) if other is not None else None
    return jax.jit(bound.log_density)(u), lp_other, u


@pytest.mark.parametrize("name", CASES)
def test_expanded_text_compiles_to_the_same_log_density(name):
    body, _ = CASES[name]
    sugared = api.compile(HEAD + body)
    written_out = api.compile(HEAD + expanded(body))
    lp, lp_written_out, _ = _log_density_at_random_point(sugared, DATA, written_out)
    assert np.isfinite(lp)
    np.testing.assert_allclose(lp, lp_written_out, rtol=1e-6)


def test_log_density_against_scipy():
    model = api.compile(HEAD + "mu = lm(1 + x + (1 | g));\nparam real<lower=0> sigma ~ exponential(1);\n"
                               "y ~ normal(mu, sigma);\n")
    lp, _, u = _log_density_at_random_point(model, DATA)
    x, y = DATA["x"], DATA["y"]
    codes = np.searchsorted(sorted(set(DATA["g"])), DATA["g"])
    b0, bx, z = float(u["b_Intercept"]), float(u["b_x"]), np.asarray(u["z_g"])
    sd_g, sigma = np.exp(float(u["sd_g"])), np.exp(float(u["sigma"]))  # lower=0: log transform
    sy = np.std(y, ddof=1)
    expected = (stats.t(3, np.mean(y), 2.5 * sy).logpdf(b0) + stats.norm(0, 2.5 * sy / np.std(x, ddof=1)).logpdf(bx)
                + stats.expon(scale=sy).logpdf(sd_g) + np.log(sd_g) + stats.norm.logpdf(z).sum()
                + stats.expon().logpdf(sigma) + np.log(sigma)
                + stats.norm(b0 + bx * x + sd_g * z[codes], sigma).logpdf(y).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-5)


def test_equals_a_hand_written_model_with_correlated_slopes_and_an_override():
    sugared = api.compile(HEAD + "mu = lm(1 + x + g + (1 + x | h));\nsd_h ~ normal(0, 2);\n"
                                 "param real<lower=0> sigma ~ exponential(1);\ny ~ normal(mu, sigma);\n")
    by_hand = api.compile(HEAD + """
param real b_Intercept ~ student_t(3, mean(y), 2.5 * sd(y));
param real b_x ~ normal(0, 2.5 * sd(y) / sd(x));
param sum_to_zero_vector[g] b_g ~ normal(0, 2.5 * sd(y));
param vector<lower=0>[2] sd_h ~ normal(0, 2);
param cholesky_factor_corr[2] L_h ~ lkj_corr_cholesky(1);
param matrix[h, 2] z_h ~ std_normal();
r_h = z_h * diag_pre_multiply(sd_h, L_h)';
param real<lower=0> sigma ~ exponential(1);
for (n in 1:N) y[n] ~ normal(b_Intercept + b_x * x[n] + b_g[g[n]] + r_h[h[n], 1] + r_h[h[n], 2] * x[n], sigma);
""")
    lp, lp_by_hand, _ = _log_density_at_random_point(sugared, DATA, by_hand)
    np.testing.assert_allclose(lp, lp_by_hand, rtol=1e-6)


def test_emitted_python_has_the_same_log_density():
    model = api.compile(HEAD + "mu = lm(1 + x:g + (1 + z || h));\ny ~ normal(mu, 1);\n")
    source = model.python_source()
    assert "'b_x_g'" in source and "'r_h'" in source and "lm(" not in source
    bound = model.bind(DATA)
    params = _random_point(bound)
    namespace: dict = {}
    exec(compile(source, "emitted", "exec"), namespace)  # our generated code, not model text
    lp = {name: jax.jit(lambda p, m=m: log_density(m, (bound.data,), {}, p)[0])(params)
          for name, m in (("emitted", namespace["model"]), ("in-process", bound.numpyro_model))}
    np.testing.assert_allclose(lp["emitted"], lp["in-process"], rtol=1e-6)


def test_fmt_keeps_the_formula():
    text = "mu = lm(-1 + x + x:z*k + (1 + x || g) + (0 + z | h));  // note\n"
    program = parse(text)
    assert format_program(program) == text
    assert parse(format_program(program)) == program


def test_later_errors_point_into_the_formula():
    model = api.compile("data int M;\ndata factor[N] g;\ndata vector[M] x;\ndata vector[N] y;\n"
                        "mu = lm(1 + x + (1 | g));\ny ~ normal(mu, 1);\n")
    with pytest.raises(ProbdslError) as info:
        model.bind({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0], "g": ["a", "b"]})
    assert info.value.codes == ["E201"] and info.value.diagnostics[0].span.line == 5


def test_grammar_is_lalr_without_conflicts():
    Lark(grammar_path().read_text(), parser="lalr", strict=True)


def test_fit_recovers_the_coefficients():
    """Posterior means agree with least squares (the priors are weak) within the Monte Carlo error."""
    rng = np.random.default_rng(7)
    n, effects = 200, {"a": -0.8, "b": 0.1, "c": 0.7}
    g = rng.choice(list(effects), n)
    x = rng.normal(1.0, 2.0, n)
    y = 1.5 + 0.6 * x + np.array([effects[v] for v in g]) + 0.5 * rng.normal(size=n)
    model = api.compile("data vector[N] x;\ndata factor g;\ndata vector[N] y;\nmu = lm(1 + x + g);\n"
                        "param real<lower=0> sigma ~ exponential(1 / sd(y));\ny ~ normal(mu, sigma);\n")
    idata = api.fit(model, {"x": x, "g": g.tolist(), "y": y}, chains=1, warmup=300, draws=500, seed=3,
                    progress=False)
    # least squares with one column per level, then the sum-to-zero coding
    onehot = (g[:, None] == np.array(list(effects))).astype(float)
    coef = np.linalg.lstsq(np.column_stack([x, onehot]), y, rcond=None)[0]
    cells = coef[1:]
    expected = {"b_Intercept": cells.mean(), "b_x": coef[0], "b_g": cells - cells.mean()}
    mcse = az.mcse(idata)
    for name, value in expected.items():
        mean = idata.posterior[name].mean(("chain", "draw")).values
        np.testing.assert_array_less(np.abs(mean - value), 4 * mcse[name].values + 0.01)
    assert list(idata.posterior["b_g"].coords["g"].values) == ["a", "b", "c"]
    predicted = api.predict(idata, {"x": [2.0], "g": ["c"]}, seed=1)  # new rows need no response
    np.testing.assert_allclose(predicted.predictions["mu"].mean().item(),
                               expected["b_Intercept"] + 2 * expected["b_x"] + expected["b_g"][2], atol=0.05)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "probdsl", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_expand_end_to_end(tmp_path):
    result = run_cli("expand", "examples/radon/radon_lm.pdl")
    assert result.returncode == 0, result.stderr
    assert "param real b_floor;\n" in result.stdout and "r_county = sd_county * z_county;" in result.stdout
    assert "mu = b_Intercept + b_floor * floor + r_county[county];" in result.stdout
    assert format_program(parse(result.stdout)) == result.stdout  # in fmt's layout
    api.compile(result.stdout).bind(ROOT / "examples/radon/radon.csv")
    bad = tmp_path / "bad.pdl"
    bad.write_text("data vector[N] x;\ndata vector[N] y;\nmu = lm(1 + xx);\ny ~ normal(mu, 1);\n")
    failed = run_cli("expand", bad)
    assert failed.returncode == 1 and f"{bad}:3:13: error[E191]" in failed.stderr
    assert "Traceback" not in failed.stderr
