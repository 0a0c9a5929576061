"""The standard library tables against SciPy/NumPy references."""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.scipy.linalg as jsl  # noqa: E402
import jax.scipy.special as jsp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg as sla  # noqa: E402
import scipy.special as sp  # noqa: E402
import scipy.stats as st  # noqa: E402

from probdsl.sema.types import Size, Type, literal  # noqa: E402
from probdsl.stdlib import distributions as D  # noqa: E402
from probdsl.stdlib import functions as F  # noqa: E402


def _code(n):
    """Argument code that breaks a template using a placeholder other than as a
    call argument: a conditional expression has the lowest precedence."""
    return [f"a{i} if True else None" for i in range(n)]


def _eval(source, values):
    ns = {"jnp": jnp, "jax": jax, "dist": dist, "jsp": jsp, "jsl": jsl, "numpyro": numpyro}
    ns.update({f"a{i}": v for i, v in enumerate(values)})
    return eval(source, ns)  # noqa: S307 - our own template


# Compiling, not running, dominates these tests, and op-by-op dispatch would
# compile every operation on its own: each table is checked from one program
# compiled at a low optimization level.
_FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compiled_all(inputs, fn):
    """``{key: fn(key, inputs[key])}`` as one compiled program, and ``{key: exception}`` for keys that fail."""
    errors = {}

    def run(traced):
        out = {}
        for key, values in traced.items():
            try:
                out[key] = fn(key, values)
            except Exception as e:  # noqa: BLE001 - reported by that key's own test
                errors[key] = e
        return out

    return jax.jit(run).lower(inputs).compile(compiler_options=_FAST)(inputs), errors


def _compiled(fn, *args):
    """``fn(*args)`` compiled as one program; int arguments stay static."""
    static = [i for i, a in enumerate(args) if isinstance(a, int)]
    dynamic = [a for a in args if not isinstance(a, int)]
    return jax.jit(fn, static_argnums=static).lower(*args).compile(compiler_options=_FAST)(*dynamic)


# ====================================================================== distributions

SIGMA = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])
MU3 = np.array([0.5, -1.0, 2.0])
Y3 = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.5]])
W = np.array([[1.5, 0.2, 0.0], [0.2, 2.0, 0.4], [0.0, 0.4, 1.0]])
W2 = np.array([[3.0, -0.5, 0.2], [-0.5, 1.0, 0.1], [0.2, 0.1, 0.7]])
POS, UNIT, REALS = [0.4, 1.0, 3.0], [0.1, 0.45, 0.9], [-1.0, 0.3, 4.0]
THETA = np.array([0.2, 0.5, 0.3])
CUTS = np.array([-1.0, 0.5, 2.0])


def _ordered(cdf):
    def ref(y, eta, c):
        cuts = np.concatenate([[-np.inf], c, [np.inf]])
        return np.log(cdf(eta - cuts[y - 1]) - cdf(eta - cuts[y]))

    return ref


def _softmax(x):
    return np.exp(x - sp.logsumexp(x))


# name -> (Stan arguments, Stan-side values, reference log density of one value)
DIST_CASES = {
    "normal": ((0.5, 2.0), REALS, lambda y, m, s: st.norm(m, s).logpdf(y)),
    "std_normal": ((), REALS, lambda y: st.norm().logpdf(y)),
    "student_t": ((3.0, 1.0, 2.0), REALS, lambda y, n, m, s: st.t(n, m, s).logpdf(y)),
    "cauchy": ((0.5, 1.5), REALS, lambda y, m, s: st.cauchy(m, s).logpdf(y)),
    "double_exponential": ((0.5, 1.5), REALS, lambda y, m, s: st.laplace(m, s).logpdf(y)),
    "logistic": ((0.5, 1.5), REALS, lambda y, m, s: st.logistic(m, s).logpdf(y)),
    "gumbel": ((0.5, 1.5), REALS, lambda y, m, b: st.gumbel_r(m, b).logpdf(y)),
    "lognormal": ((0.3, 0.8), POS, lambda y, m, s: st.lognorm(s, scale=np.exp(m)).logpdf(y)),
    "chi_square": ((3.0,), POS, lambda y, n: st.chi2(n).logpdf(y)),
    "inv_chi_square": ((3.0,), POS, lambda y, n: st.invgamma(n / 2, scale=0.5).logpdf(y)),
    "scaled_inv_chi_square": ((3.0, 1.5), POS, lambda y, n, s: st.invgamma(n / 2, scale=n * s * s / 2).logpdf(y)),
    "exponential": ((2.0,), POS, lambda y, b: st.expon(scale=1 / b).logpdf(y)),
    "gamma": ((2.5, 1.5), POS, lambda y, a, b: st.gamma(a, scale=1 / b).logpdf(y)),
    "inv_gamma": ((2.5, 1.5), POS, lambda y, a, b: st.invgamma(a, scale=b).logpdf(y)),
    "weibull": ((1.5, 2.0), POS, lambda y, a, s: st.weibull_min(a, scale=s).logpdf(y)),
    "frechet": ((1.5, 2.0), POS, lambda y, a, s: st.invweibull(a, scale=s).logpdf(y)),
    "rayleigh": ((1.5,), POS, lambda y, s: st.rayleigh(scale=s).logpdf(y)),
    "pareto": ((0.5, 2.5), [0.6, 1.0, 3.0], lambda y, m, a: st.pareto(a, scale=m).logpdf(y)),
    "pareto_type_2": ((0.5, 2.0, 3.0), [0.6, 1.0, 3.0], lambda y, m, l, a: st.lomax(a, loc=m, scale=l).logpdf(y)),
    "loglogistic": ((2.0, 3.0), POS, lambda y, a, b: st.fisk(b, scale=a).logpdf(y)),
    "beta": ((2.0, 3.0), UNIT, lambda y, a, b: st.beta(a, b).logpdf(y)),
    "beta_proportion": ((0.3, 5.0), UNIT, lambda y, m, k: st.beta(m * k, (1 - m) * k).logpdf(y)),
    "uniform": ((-1.0, 2.0), [-0.5, 0.0, 1.5], lambda y, a, b: st.uniform(a, b - a).logpdf(y)),
    "von_mises": ((0.5, 2.0), [-1.0, 0.5, 3.0], lambda y, m, k: st.vonmises(k, loc=m).logpdf(y)),
    "dirichlet": ((np.array([1.5, 2.0, 3.0]),), [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]],
                  lambda y, a: st.dirichlet(a).logpdf(y)),
    "multi_normal": ((MU3, SIGMA), Y3, lambda y, m, S: st.multivariate_normal(m, S).logpdf(y)),
    "multi_normal_prec": ((MU3, SIGMA), Y3, lambda y, m, P: st.multivariate_normal(m, np.linalg.inv(P)).logpdf(y)),
    "multi_normal_cholesky": ((MU3, np.linalg.cholesky(SIGMA)), Y3,
                              lambda y, m, L: st.multivariate_normal(m, L @ L.T).logpdf(y)),
    "multi_student_t": ((4.0, MU3, SIGMA), Y3, lambda y, n, m, S: st.multivariate_t(m, S, df=n).logpdf(y)),
    "multi_student_t_cholesky": ((4.0, MU3, np.linalg.cholesky(SIGMA)), Y3,
                                 lambda y, n, m, L: st.multivariate_t(m, L @ L.T, df=n).logpdf(y)),
    "wishart": ((5.0, SIGMA), [W, W2], lambda y, n, S: st.wishart(n, S).logpdf(y)),
    "inv_wishart": ((5.0, SIGMA), [W, W2], lambda y, n, S: st.invwishart(n, S).logpdf(y)),
    # lkj_corr and lkj_corr_cholesky have no SciPy counterpart: see test_lkj_normalizes.
    "bernoulli": ((0.3,), [0, 1], lambda y, t: st.bernoulli(t).logpmf(y)),
    "bernoulli_logit": ((-0.4,), [0, 1], lambda y, a: st.bernoulli(sp.expit(a)).logpmf(y)),
    "binomial": ((10, 0.3), [0, 3, 10], lambda y, n, t: st.binom(n, t).logpmf(y)),
    "binomial_logit": ((10, 0.4), [0, 3, 10], lambda y, n, a: st.binom(n, sp.expit(a)).logpmf(y)),
    "beta_binomial": ((10, 2.0, 3.0), [0, 3, 10], lambda y, n, a, b: st.betabinom(n, a, b).logpmf(y)),
    "poisson": ((3.5,), [0, 2, 7], lambda y, l: st.poisson(l).logpmf(y)),
    "poisson_log": ((1.2,), [0, 2, 7], lambda y, a: st.poisson(np.exp(a)).logpmf(y)),
    "neg_binomial": ((2.5, 0.5), [0, 2, 7], lambda y, a, b: st.nbinom(a, b / (1 + b)).logpmf(y)),
    "neg_binomial_2": ((4.0, 2.5), [0, 2, 7], lambda y, m, p: st.nbinom(p, p / (m + p)).logpmf(y)),
    "neg_binomial_2_log": ((1.2, 2.5), [0, 2, 7],
                           lambda y, e, p: st.nbinom(p, p / (np.exp(e) + p)).logpmf(y)),
    "categorical": ((THETA,), [1, 2, 3], lambda y, t: np.log(t[y - 1])),
    "categorical_logit": ((np.array([0.5, -1.0, 2.0]),), [1, 2, 3], lambda y, b: np.log(_softmax(b)[y - 1])),
    "ordered_logistic": ((0.3, CUTS), [1, 2, 4], _ordered(sp.expit)),
    "ordered_probit": ((0.3, CUTS), [1, 2, 4], _ordered(st.norm.cdf)),
    "discrete_range": ((2, 6), [2, 4, 6], lambda y, lo, hi: -np.log(hi - lo + 1)),
    "multinomial": ((THETA,), [[2, 0, 3], [1, 1, 1]], lambda y, t: st.multinomial(y.sum(), t).logpmf(y)),
    "multinomial_logit": ((np.array([0.5, -1.0, 2.0]),), [[2, 0, 3], [1, 1, 1]],
                          lambda y, g: st.multinomial(y.sum(), _softmax(g)).logpmf(y)),
    "dirichlet_multinomial": ((np.array([1.5, 2.0, 3.0]),), [[2, 0, 3], [1, 1, 1]],
                              lambda y, a: st.dirichlet_multinomial(a, y.sum()).logpmf(y)),
}
LKJ = ("lkj_corr", "lkj_corr_cholesky")


def _jnp(args):
    return [jnp.asarray(a) for a in args]


def _implicit(spec, y):
    """The implicit arguments of the cases (LKJ's ``dim`` is passed by its own tests)."""
    return [jnp.sum(jnp.asarray(y), -1) for name in spec.implicit if name == "total"]


def test_table_is_complete():
    assert len(D.DISTRIBUTIONS) >= 33
    proper = {n for n, s in D.DISTRIBUTIONS.items() if s.make is not None}
    assert proper == set(DIST_CASES) | set(LKJ)
    flat = D.lookup("flat")
    assert flat.make is None and flat.args == ()
    for spec in D.DISTRIBUTIONS.values():
        assert spec.doc and all(a.kind in D.ARG_KINDS for a in spec.args)
        assert spec.variate in D.VARIATE_KINDS


@functools.cache
def _densities():
    """(make, source) log densities of every case's values (Stan values less the offset)."""
    inputs = {}
    for name, (args, ys, _) in DIST_CASES.items():
        spec, y = D.lookup(name), np.asarray(ys)
        inputs[name] = (_jnp(args) + _implicit(spec, y), jnp.asarray(y) - spec.offset)

    def log_probs(name, traced):
        spec, (full, value) = D.lookup(name), traced
        return spec.make(*full).log_prob(value), _eval(spec.render(_code(len(full))), full).log_prob(value)

    return _compiled_all(inputs, log_probs)


@pytest.mark.parametrize("name", sorted(DIST_CASES))
def test_density_matches_scipy(name):
    outputs, errors = _densities()
    if name in errors:
        raise errors[name]
    args, ys, ref = DIST_CASES[name]
    got, from_source = outputs[name]
    np.testing.assert_allclose(got, [ref(yi, *args) for yi in np.asarray(ys)], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(from_source, got, rtol=1e-12)


def _corr(S):
    d = np.diag(1 / np.sqrt(np.diag(S)))
    return d @ S @ d


@pytest.mark.parametrize("name", LKJ)
def test_lkj_normalizes(name):
    """No SciPy reference: check normalization for K = 2 and Stan's shape for K = 3.

    For K = 2 both densities are (1 - r^2)^(eta - 1) in the correlation r.
    For K = 3, Stan: lkj_corr is proportional to det(Omega)^(eta - 1) and
    lkj_corr_cholesky to prod_k L[k, k]^(K - k + 2 eta - 2).
    """
    spec = D.lookup(name)
    eta, cholesky = 2.5, name == "lkj_corr_cholesky"
    r = np.linspace(-1, 1, 2001)[1:-1]
    second = np.stack([r, np.sqrt(1 - r * r)] if cholesky else [r, np.ones_like(r)], -1)
    first = np.stack([np.ones_like(r), 0 * r if cholesky else r], -1)
    mats = jnp.asarray(np.stack([first, second], -2))
    lp = _compiled(lambda e, v: spec.make(e, 2).log_prob(v), jnp.asarray(eta), mats)
    assert np.trapezoid(np.exp(lp), r) == pytest.approx(1.0, abs=1e-4)
    c = np.stack([_corr(SIGMA), _corr(W)])
    value = np.linalg.cholesky(c) if cholesky else c
    lp3 = _compiled(lambda e, v: spec.make(e, 3).log_prob(v), jnp.asarray(eta), jnp.asarray(value))
    if cholesky:
        diag = np.log(np.diagonal(value, axis1=-2, axis2=-1))
        want = (diag[0] - diag[1]) @ (3 - np.arange(1, 4) + 2 * eta - 2)
    else:
        want = (eta - 1) * np.log(np.linalg.det(c[0]) / np.linalg.det(c[1]))
    assert lp3[0] - lp3[1] == pytest.approx(want)
    from_source = _compiled(lambda e, v: _eval(spec.render(_code(2)), [e, 3]).log_prob(v), jnp.asarray(eta),
                            jnp.asarray(value))
    np.testing.assert_allclose(from_source, lp3)


def _check_support(spec, args, y):
    sup = spec.support
    lo = sup.lower if sup.lower_arg is None else np.asarray(args[sup.lower_arg])
    hi = sup.upper if sup.upper_arg is None else np.asarray(args[sup.upper_arg])
    if sup.upper_is_length_of_arg is not None:
        hi = np.shape(args[sup.upper_is_length_of_arg])[-1] + sup.length_extra
    assert np.all(np.isfinite(y))
    if sup.domain == "int":
        assert np.all(y == np.round(y))
    if lo is not None:
        assert np.all(y >= lo)
    if hi is not None:
        assert np.all(y <= hi)
    if sup.structure == "simplex":
        np.testing.assert_allclose(y.sum(-1), 1.0)
    if sup.structure in ("corr", "cov"):
        np.testing.assert_allclose(y, np.swapaxes(y, -1, -2), atol=1e-10)
        assert np.all(np.linalg.eigvalsh(y) > 0)
    if sup.structure == "corr":
        np.testing.assert_allclose(np.diagonal(y, axis1=-2, axis2=-1), 1.0)
    if sup.structure == "cholesky_corr":
        np.testing.assert_allclose(np.triu(y, 1), 0.0)
        np.testing.assert_allclose(np.sum(y * y, -1), 1.0)
        assert np.all(np.diagonal(y, axis1=-2, axis2=-1) > 0)


# Samplers that take seconds each to compile (gamma, binomial, Bartlett, onion...): run with `-m slow`.
SLOW_SAMPLERS = {
    "beta", "beta_proportion", "chi_square", "inv_chi_square", "scaled_inv_chi_square", "gamma", "inv_gamma",
    "student_t", "multi_student_t", "multi_student_t_cholesky", "neg_binomial", "neg_binomial_2",
    "neg_binomial_2_log", "binomial", "binomial_logit", "beta_binomial", "dirichlet", "dirichlet_multinomial",
    "von_mises", "wishart", "inv_wishart", *LKJ,
}


def _sampler_args(name):
    """Stan arguments and the full argument list of a distribution to sample."""
    if name in LKJ:
        return (2.0,), [jnp.asarray(2.0), 3]
    args, ys, _ = DIST_CASES[name]
    return args, _jnp(args) + _implicit(D.lookup(name), np.asarray(ys)[0])


def _draw(name, full):
    return D.lookup(name).make(*full).sample(jax.random.PRNGKey(0), (40,))


@functools.cache
def _quick_draws():
    """Draws of the quick samplers from one program; NumPyro samples multinomials only with a concrete total."""
    names = [n for n in DIST_CASES if n not in SLOW_SAMPLERS and D.lookup(n).variate != "int_array"]
    return _compiled_all({n: _sampler_args(n)[1] for n in names}, _draw)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] * (n in SLOW_SAMPLERS))
                                  for n in sorted(DIST_CASES) + list(LKJ)])
def test_samples_lie_in_support(name):
    spec = D.lookup(name)
    args, full = _sampler_args(name)
    draws, errors = _quick_draws()
    if name in errors:
        raise errors[name]
    # the rest op by op, so that NumPyro's jitted samplers (gamma...) compile once for all distributions
    y = draws[name] if name in draws else _draw(name, full)
    _check_support(spec, args, np.asarray(y) + spec.offset)


def test_lookup_and_suggest():
    assert D.lookup("normal").args[1].name == "sigma"
    assert D.lookup("nope") is None
    assert D.suggest("nromal") == "normal"
    assert D.suggest("neg_binomial2") in ("neg_binomial_2", "neg_binomial")
    assert D.suggest("qqqqq") is None


# ====================================================================== functions

_KINDS = {"int": ("int", "scalar"), "real": ("real", "scalar"), "vector": ("real", "vector"),
          "row_vector": ("real", "row_vector"), "matrix": ("real", "matrix")}


def A(ts, value):
    """An argument: a type string (``real``, ``vector``, ``int[]``, ``real[,]``, ``vector[]``) and a value."""
    name, _, brackets = ts.partition("[")
    narr = brackets.count(",") + 1 if brackets else 0
    base, kind = _KINDS[name]
    v = np.asarray(value, dtype=int if base == "int" and kind == "scalar" else float)
    dims = tuple(literal(n) for n in v.shape)
    info = F.ArgInfo(Type(base, kind, dims[:narr], dims[narr:]),
                     const=v.item() if v.ndim == 0 else None,
                     size=literal(int(v)) if ts == "int" else None)
    jvalue = int(v) if ts == "int" else jnp.asarray(v)
    return info, jvalue, v


V3 = [0.2, -1.3, 2.5]
W3 = [1.1, 0.4, -0.7]
P3 = [0.4, 1.5, 3.0]
U3 = [0.1, 0.45, 0.9]
M23 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
SPD = SIGMA
LOW = np.linalg.cholesky(SIGMA)

# unary elementwise: name -> (input, NumPy reference)
UNARY = {
    "exp": (V3, np.exp), "exp2": (V3, np.exp2), "log": (P3, np.log), "log1p": (P3, np.log1p),
    "expm1": (V3, np.expm1), "sqrt": (P3, np.sqrt), "cbrt": (V3, np.cbrt), "inv": (P3, lambda x: 1 / x),
    "inv_sqrt": (P3, lambda x: 1 / np.sqrt(x)), "inv_square": (P3, lambda x: 1 / x**2), "fabs": (V3, np.abs),
    "inv_logit": (V3, sp.expit), "logit": (U3, sp.logit), "log_inv_logit": (V3, lambda x: np.log(sp.expit(x))),
    "log1m_inv_logit": (V3, lambda x: np.log(1 - sp.expit(x))), "log1m": (U3, lambda x: np.log(1 - x)),
    "log1m_exp": ([-0.1, -1.0, -5.0], lambda x: np.log(1 - np.exp(x))),
    "log1p_exp": (V3, lambda x: np.log1p(np.exp(x))),
    "inv_cloglog": (V3, lambda x: 1 - np.exp(-np.exp(x))), "Phi": (V3, st.norm.cdf),
    "Phi_approx": (V3, lambda x: sp.expit(0.07056 * x**3 + 1.5976 * x)), "inv_Phi": (U3, st.norm.ppf),
    "erf": (V3, sp.erf), "erfc": (V3, sp.erfc), "lgamma": (P3, sp.gammaln), "tgamma": ([0.4, 1.5, -1.5], sp.gamma),
    "digamma": (P3, sp.digamma), "trigamma": (P3, lambda x: sp.polygamma(1, x)), "sin": (V3, np.sin),
    "cos": (V3, np.cos), "tan": (V3, np.tan), "asin": (U3, np.arcsin), "acos": (U3, np.arccos),
    "atan": (V3, np.arctan), "sinh": (V3, np.sinh), "cosh": (V3, np.cosh), "tanh": (V3, np.tanh),
    "asinh": (V3, np.arcsinh), "acosh": ([1.5, 2.0, 4.0], np.arccosh), "atanh": (U3, np.arctanh),
    "floor": (V3, np.floor), "ceil": (V3, np.ceil), "trunc": (V3, np.trunc),
    "round": ([2.5, -2.5, 0.4], lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5)),
    "step": ([-1.0, 0.0, 2.0], lambda x: np.where(x < 0, 0.0, 1.0)),
    "square": (V3, np.square), "log2": (P3, np.log2), "log10": (P3, np.log10),
}

# binary elementwise: name -> (x, y, reference); x a vector, y a real scalar or a vector
BINARY = {
    "pow": (P3, 1.5, np.power), "fmin": (V3, W3, np.fmin), "fmax": (V3, W3, np.fmax),
    "fdim": (V3, W3, lambda x, y: np.maximum(x - y, 0)), "fmod": (P3, 0.7, np.fmod), "atan2": (V3, W3, np.arctan2),
    "hypot": (V3, W3, np.hypot), "lbeta": (P3, 2.0, sp.betaln), "beta": (P3, 2.0, sp.beta),
    "lchoose": ([5.0, 7.5, 10.0], 3.0, lambda n, k: np.log(sp.binom(n, k))),
    "binomial_coefficient_log": ([5.0, 7.5, 10.0], 3.0, lambda n, k: np.log(sp.binom(n, k))),
    "log_diff_exp": (P3, 0.2, lambda x, y: np.log(np.exp(x) - np.exp(y))),
    "log_inv_logit_diff": (P3, 0.2, lambda x, y: np.log(sp.expit(x) - sp.expit(y))),
    "lmultiply": ([0.0, 1.5, 2.0], P3, sp.xlogy), "multiply_log": ([0.0, 1.5, 2.0], P3, sp.xlogy),
    "log_falling_factorial": (P3, 0.3, lambda x, n: sp.gammaln(x + 1) - sp.gammaln(x - n + 1)),
    "log_rising_factorial": (P3, 0.3, lambda x, n: sp.gammaln(x + n) - sp.gammaln(x)),
    "gamma_p": (P3, 1.2, sp.gammainc), "gamma_q": (P3, 1.2, sp.gammaincc),
}


def _colmajor(x):
    return np.ravel(np.asarray(x), order="F")


# name -> list of (arguments, NumPy reference of the argument values)
CASES = {
    **{n: [([A("vector", x)], f)] for n, (x, f) in UNARY.items()},
    **{n: [([A("vector", x), A("real" if np.ndim(y) == 0 else "vector", y)], f)] for n, (x, y, f) in BINARY.items()},
    "pi": [([], lambda: np.pi)], "e": [([], lambda: np.e)], "sqrt2": [([], lambda: np.sqrt(2))],
    "not_a_number": [([], lambda: np.nan)], "positive_infinity": [([], lambda: np.inf)],
    "negative_infinity": [([], lambda: -np.inf)], "machine_precision": [([], lambda: np.finfo(float).eps)],
    "abs": [([A("int[]", [-2, 3])], np.abs), ([A("real", -1.5)], np.abs)],
    "choose": [([A("int", 5), A("int", 2)], lambda n, k: 10), ([A("int", 2), A("int", 5)], lambda n, k: 0)],
    "fma": [([A("vector", V3), A("real", 2.0), A("vector", W3)], lambda x, y, z: x * y + z)],
    "inc_beta": [([A("real", 2.0), A("real", 3.0), A("vector", U3)], sp.betainc)],
    "int_step": [([A("real", 0.0)], lambda x: 0), ([A("int", 3)], lambda x: 1)],
    "is_inf": [([A("real", np.inf)], lambda x: 1)],
    "is_nan": [([A("real", np.nan)], lambda x: 1), ([A("real", 1.0)], lambda x: 0)],
    "min": [([A("int[]", [3, -1, 2])], np.min), ([A("int", 3), A("int", 2)], min),
            ([A("real", 3.5), A("int", 2)], min)],
    "max": [([A("vector", V3)], np.max), ([A("real", 3.5), A("real", 4.0)], max)],
    "sum": [([A("int[]", [3, -1, 2])], np.sum), ([A("matrix", M23)], np.sum)],
    "prod": [([A("int[]", [3, -1, 2])], np.prod), ([A("row_vector", V3)], np.prod)],
    "mean": [([A("int[]", [3, -1, 2])], np.mean), ([A("matrix", M23)], np.mean)],
    "variance": [([A("vector", V3)], lambda x: np.var(x, ddof=1))],
    "sd": [([A("real[]", V3)], lambda x: np.std(x, ddof=1))],
    "log_sum_exp": [([A("vector", V3)], sp.logsumexp), ([A("real", 1.0), A("real", 2.0)], np.logaddexp)],
    "norm1": [([A("vector", V3)], lambda x: np.abs(x).sum())],
    "norm2": [([A("row_vector", V3)], np.linalg.norm)],
    "log_mix": [([A("real", 0.3), A("real", -1.0), A("real", -2.0)],
                 lambda t, a, b: np.log(t * np.exp(a) + (1 - t) * np.exp(b))),
                ([A("vector", THETA), A("vector", V3)], lambda t, lp: np.log(np.sum(t * np.exp(lp))))],
    "softmax": [([A("vector", V3)], _softmax)],
    "log_softmax": [([A("vector", V3)], lambda x: np.log(_softmax(x)))],
    "cumulative_sum": [([A("int[]", [3, -1, 2])], np.cumsum), ([A("row_vector", V3)], np.cumsum)],
    "sort_asc": [([A("vector", V3)], np.sort)],
    "sort_desc": [([A("int[]", [3, -1, 2])], lambda x: np.sort(x)[::-1])],
    "sort_indices_asc": [([A("vector", V3)], lambda x: np.argsort(x) + 1)],
    "sort_indices_desc": [([A("vector", V3)], lambda x: np.argsort(-x) + 1)],
    "rank": [([A("vector", V3), A("int", 3)], lambda v, s: int(np.sum(v < v[s - 1])))],
    "reverse": [([A("vector", V3)], lambda x: x[::-1]), ([A("vector[]", M23)], lambda x: x[::-1])],
    "dot_product": [([A("vector", V3), A("row_vector", W3)], np.dot), ([A("real[]", V3), A("real[]", W3)], np.dot)],
    "dot_self": [([A("vector", V3)], lambda x: x @ x)],
    "squared_distance": [([A("vector", V3), A("vector", W3)], lambda x, y: np.sum((x - y) ** 2)),
                         ([A("real", 1.0), A("real", 3.0)], lambda x, y: 4.0)],
    "distance": [([A("row_vector", V3), A("row_vector", W3)], lambda x, y: np.linalg.norm(x - y))],
    "columns_dot_product": [([A("matrix", M23), A("matrix", M23)], lambda x, y: np.sum(x * y, 0)),
                            ([A("vector", V3), A("vector", W3)], lambda x, y: np.array([x @ y])),
                            ([A("row_vector", V3), A("row_vector", W3)], lambda x, y: x * y)],
    "rows_dot_product": [([A("matrix", M23), A("matrix", M23)], lambda x, y: np.sum(x * y, 1)),
                         ([A("vector", V3), A("vector", W3)], lambda x, y: x * y),
                         ([A("row_vector", V3), A("row_vector", W3)], lambda x, y: np.array([x @ y]))],
    "columns_dot_self": [([A("matrix", M23)], lambda x: np.sum(x * x, 0)),
                         ([A("vector", V3)], lambda x: np.array([x @ x])), ([A("row_vector", V3)], np.square)],
    "rows_dot_self": [([A("matrix", M23)], lambda x: np.sum(x * x, 1)), ([A("vector", V3)], np.square),
                      ([A("row_vector", V3)], lambda x: np.array([x @ x]))],
    "rows": [([A("matrix", M23)], lambda x: 2), ([A("vector", V3)], lambda x: 3), ([A("row_vector", V3)], lambda x: 1)],
    "cols": [([A("matrix", M23)], lambda x: 3), ([A("vector", V3)], lambda x: 1), ([A("row_vector", V3)], lambda x: 3)],
    "num_elements": [([A("vector[]", M23)], lambda x: 6)],
    "size": [([A("vector[]", M23)], lambda x: 2), ([A("matrix", M23)], lambda x: 6), ([A("real", 1.0)], lambda x: 1)],
    "rep_vector": [([A("int", 0), A("int", 3)], lambda x, n: np.zeros(3))],
    "rep_row_vector": [([A("real", 1.5), A("int", 2)], lambda x, n: np.full(2, 1.5))],
    "rep_matrix": [([A("real", 1.5), A("int", 2), A("int", 3)], lambda x, m, n: np.full((2, 3), 1.5)),
                   ([A("vector", V3), A("int", 2)], lambda v, n: np.tile(v[:, None], (1, 2))),
                   ([A("row_vector", V3), A("int", 2)], lambda v, m: np.tile(v, (2, 1)))],
    "rep_array": [([A("int", 1), A("int", 3)], lambda x, n: np.ones(3, int)),
                  ([A("vector", V3), A("int", 2), A("int", 2)], lambda v, m, n: np.broadcast_to(v, (2, 2, 3))),
                  ([A("real", 0.5), A("int", 1), A("int", 2), A("int", 2)], lambda x, *d: np.full(d, 0.5))],
    "zeros_vector": [([A("int", 3)], np.zeros)], "ones_vector": [([A("int", 3)], np.ones)],
    "zeros_row_vector": [([A("int", 3)], np.zeros)], "ones_row_vector": [([A("int", 3)], np.ones)],
    "zeros_array": [([A("int", 3)], np.zeros)], "ones_array": [([A("int", 3)], np.ones)],
    "zeros_int_array": [([A("int", 3)], lambda n: np.zeros(n, int))],
    "ones_int_array": [([A("int", 3)], lambda n: np.ones(n, int))],
    "uniform_simplex": [([A("int", 4)], lambda n: np.full(4, 0.25))],
    "linspaced_vector": [([A("int", 5), A("real", 0.0), A("real", 1.0)], lambda n, a, b: np.linspace(a, b, n))],
    "linspaced_row_vector": [([A("int", 3), A("int", 1), A("int", 2)], lambda n, a, b: np.linspace(a, b, n))],
    "linspaced_array": [([A("int", 3), A("real", -1.0), A("real", 1.0)], lambda n, a, b: np.linspace(a, b, n))],
    "one_hot_vector": [([A("int", 4), A("int", 2)], lambda n, k: np.eye(n)[k - 1])],
    "one_hot_row_vector": [([A("int", 4), A("int", 4)], lambda n, k: np.eye(n)[k - 1])],
    "one_hot_array": [([A("int", 4), A("int", 1)], lambda n, k: np.eye(n)[k - 1])],
    "one_hot_int_array": [([A("int", 4), A("int", 1)], lambda n, k: np.eye(n, dtype=int)[k - 1])],
    "identity_matrix": [([A("int", 3)], np.eye)],
    "diag_matrix": [([A("vector", V3)], np.diag)],
    "diagonal": [([A("matrix", M23)], np.diagonal), ([A("matrix", SPD)], np.diagonal)],
    "to_vector": [([A("matrix", M23)], _colmajor), ([A("int[]", [1, 2])], lambda x: x * 1.0)],
    "to_row_vector": [([A("matrix", M23)], _colmajor), ([A("vector", V3)], lambda x: x)],
    "to_matrix": [([A("vector", V3)], lambda x: x[:, None]), ([A("row_vector", V3)], lambda x: x[None, :]),
                  ([A("real[,]", M23)], lambda x: x), ([A("row_vector[]", M23)], lambda x: x),
                  ([A("real[]", [1, 2, 3, 4, 5, 6]), A("int", 2), A("int", 3)],
                   lambda x, m, n: np.reshape(x, (m, n), order="F")),
                  ([A("matrix", M23), A("int", 3), A("int", 2)],
                   lambda x, m, n: np.reshape(_colmajor(x), (m, n), order="F"))],
    "to_array_1d": [([A("matrix", M23)], _colmajor), ([A("int[,]", [[1, 2], [3, 4]])], np.ravel),
                    ([A("row_vector", V3)], np.ravel)],
    "to_array_2d": [([A("matrix", M23)], lambda x: x)],
    "append_row": [([A("vector", V3), A("real", 9.0)], lambda a, b: np.append(a, b)),
                   ([A("matrix", M23), A("row_vector", V3)], lambda a, b: np.vstack([a, b])),
                   ([A("row_vector", V3), A("row_vector", W3)], lambda a, b: np.vstack([a, b]))],
    "append_col": [([A("row_vector", V3), A("row_vector", W3)], lambda a, b: np.append(a, b)),
                   ([A("matrix", np.array(M23).T), A("vector", V3)], lambda a, b: np.hstack([a, b[:, None]])),
                   ([A("vector", V3), A("vector", W3)], lambda a, b: np.stack([a, b], 1))],
    "head": [([A("vector", V3), A("int", 2)], lambda v, n: v[:n]),
             ([A("vector[]", M23), A("int", 1)], lambda v, n: v[:n])],
    "tail": [([A("row_vector", V3), A("int", 2)], lambda v, n: v[-n:])],
    "segment": [([A("int[]", [5, 6, 7, 8]), A("int", 2), A("int", 2)], lambda v, i, n: v[i - 1:i - 1 + n])],
    "col": [([A("matrix", M23), A("int", 2)], lambda m, j: m[:, j - 1])],
    "row": [([A("matrix", M23), A("int", 2)], lambda m, i: m[i - 1])],
    "block": [([A("matrix", M23), A("int", 1), A("int", 2), A("int", 2), A("int", 2)],
               lambda m, i, j, a, b: m[i - 1:i - 1 + a, j - 1:j - 1 + b])],
    "sub_col": [([A("matrix", M23), A("int", 1), A("int", 3), A("int", 2)],
                 lambda m, i, j, n: m[i - 1:i - 1 + n, j - 1])],
    "sub_row": [([A("matrix", M23), A("int", 2), A("int", 2), A("int", 2)],
                 lambda m, i, j, n: m[i - 1, j - 1:j - 1 + n])],
    "crossprod": [([A("matrix", M23)], lambda x: x.T @ x)],
    "tcrossprod": [([A("matrix", M23)], lambda x: x @ x.T)],
    "quad_form": [([A("matrix", SPD), A("vector", V3)], lambda a, b: b @ a @ b),
                  ([A("matrix", SPD), A("matrix", np.array(M23).T)], lambda a, b: b.T @ a @ b)],
    "quad_form_sym": [([A("matrix", SPD), A("vector", V3)], lambda a, b: b @ a @ b),
                      ([A("matrix", SPD), A("matrix", np.array(M23).T)], lambda a, b: b.T @ a @ b)],
    "quad_form_diag": [([A("matrix", SPD), A("vector", V3)], lambda m, v: np.diag(v) @ m @ np.diag(v))],
    "diag_pre_multiply": [([A("vector", [1.0, 2.0]), A("matrix", M23)], lambda v, m: np.diag(v) @ m)],
    "diag_post_multiply": [([A("matrix", M23), A("row_vector", V3)], lambda m, v: m @ np.diag(v))],
    "multiply_lower_tri_self_transpose": [([A("matrix", SPD)], lambda m: np.tril(m) @ np.tril(m).T)],
    "add_diag": [([A("matrix", SPD), A("real", 2.0)], lambda m, d: m + 2 * np.eye(3)),
                 ([A("matrix", SPD), A("vector", V3)], lambda m, d: m + np.diag(d))],
    "symmetrize_from_lower_tri": [([A("matrix", W2 + np.triu(np.ones((3, 3)), 1))], lambda m: W2)],
    "inverse": [([A("matrix", W2)], np.linalg.inv)],
    "inverse_spd": [([A("matrix", SPD)], np.linalg.inv)],
    "determinant": [([A("matrix", W2)], np.linalg.det)],
    "log_determinant": [([A("matrix", -W2)], lambda m: np.log(abs(np.linalg.det(m))))],
    "log_determinant_spd": [([A("matrix", SPD)], lambda m: np.log(np.linalg.det(m)))],
    "trace": [([A("matrix", M23)], np.trace)],
    "cholesky_decompose": [([A("matrix", SPD)], np.linalg.cholesky)],
    "eigenvalues_sym": [([A("matrix", SPD)], np.linalg.eigvalsh)],
    "eigenvectors_sym": [([A("matrix", SPD)], lambda m: np.linalg.eigh(m)[1] * np.sign(np.linalg.eigh(m)[1][0]))],
    "singular_values": [([A("matrix", M23)], lambda m: np.linalg.svd(m, compute_uv=False))],
    "matrix_exp": [([A("matrix", W2 / 3)], sla.expm)],
    "mdivide_left_tri_low": [([A("matrix", LOW), A("vector", V3)], lambda l, b: np.linalg.solve(l, b)),
                             ([A("matrix", LOW + np.triu(np.ones((3, 3)), 1)), A("matrix", SPD)],
                              lambda l, b: np.linalg.solve(np.tril(l), b))],
    "mdivide_right_tri_low": [([A("row_vector", V3), A("matrix", LOW)], lambda b, l: b @ np.linalg.inv(l)),
                              ([A("matrix", M23), A("matrix", LOW)], lambda b, l: b @ np.linalg.inv(l))],
    "mdivide_left_spd": [([A("matrix", SPD), A("vector", V3)], lambda a, b: np.linalg.solve(a, b))],
    "mdivide_right_spd": [([A("matrix", M23), A("matrix", SPD)], lambda b, a: b @ np.linalg.inv(a))],
    "mdivide_left": [([A("matrix", W2), A("matrix", SPD)], lambda a, b: np.linalg.solve(a, b))],
    "mdivide_right": [([A("row_vector", V3), A("matrix", W2)], lambda b, a: b @ np.linalg.inv(a))],
}
CASES["log2"].append(([], lambda: np.log(2)))
CASES["log10"].append(([], lambda: np.log(10)))
CASES["square"].append(([A("int[]", [2, -3])], np.square))
CASES["floor"].append(([A("int", 3)], np.floor))
CASES["pow"].append(([A("int", 2), A("int", 3)], lambda x, y: 8.0))
CASES["fmin"].append(([A("real", 2.0), A("row_vector", V3)], np.fmin))

# Gaussian-process covariances of the Euclidean distance d, written out from Stan's definitions
GP_KERNELS = {
    "gp_exp_quad_cov": lambda d, a, r: a**2 * np.exp(-d**2 / (2 * r**2)),
    "gp_exponential_cov": lambda d, a, r: a**2 * np.exp(-d / r),
    "gp_matern32_cov": lambda d, a, r: a**2 * (1 + np.sqrt(3) * d / r) * np.exp(-np.sqrt(3) * d / r),
    "gp_matern52_cov": lambda d, a, r: a**2 * (1 + np.sqrt(5) * d / r + 5 * d**2 / (3 * r**2)) * np.exp(-np.sqrt(5) * d / r),
    "gp_periodic_cov": lambda d, a, r, p: a**2 * np.exp(-2 * np.sin(np.pi * d / p) ** 2 / r**2),
}
X4, Y2 = [0.1, 0.5, 2.0, -1.2], [0.3, 1.7]
XV, YV = [[0.1, 1.0], [0.5, -0.3], [2.0, 0.2]], [[1.0, 1.0], [-0.4, 0.6]]


def _gp_reference(kernel, cross):
    def cov(*args):
        x1, x2, scalars = (args[0], args[1], args[2:]) if cross else (args[0], args[0], args[1:])
        points = [np.reshape(x, (len(x), -1)) for x in (x1, x2)]
        d = np.array([[np.linalg.norm(a - b) for b in points[1]] for a in points[0]])
        return kernel(d, *scalars)
    return cov


for _name, _kernel in GP_KERNELS.items():
    _scalars = [A("real", 1.3), A("real", 0.7)] + ([A("real", 1.5)] if _name == "gp_periodic_cov" else [])
    CASES[_name] = [([A("real[]", X4)] + _scalars, _gp_reference(_kernel, False)),
                    ([A("vector[]", XV)] + _scalars, _gp_reference(_kernel, False)),
                    ([A("real[]", X4), A("real[]", Y2)] + _scalars, _gp_reference(_kernel, True)),
                    ([A("vector[]", XV), A("vector[]", YV)] + _scalars, _gp_reference(_kernel, True))]


def _fix_sign(name, out):
    """Eigenvectors are unique up to sign: make each column's first entry positive."""
    return out * np.sign(out[0]) if name == "eigenvectors_sym" else out


def test_function_table_is_complete():
    assert set(CASES) == set(F.FUNCTIONS)
    for c in ("pi", "e", "sqrt2", "log2", "log10", "not_a_number", "positive_infinity", "negative_infinity",
              "machine_precision"):
        assert c in F.CONSTANTS and F.lookup(c).nargs[0] == 0
    for spec in F.FUNCTIONS.values():
        assert spec.signatures and spec.nargs[0] <= spec.nargs[1]


@functools.cache
def _function_outputs():
    """(impl, source) outputs of every case.

    Int arguments stay static Python ints, as the code generator passes
    sizes; the rest are traced, which proves the templates work under jit.
    """
    calls = {(name, i): args for name in CASES for i, (args, _) in enumerate(CASES[name])}

    def outputs(key, traced):
        args, it = calls[key], iter(traced)
        infos, values = [a[0] for a in args], [a[1] if isinstance(a[1], int) else next(it) for a in args]
        impl, _ = F.lookup(key[0]).resolve(infos)
        return impl(*values), _eval(F.lookup(key[0]).render(infos, _code(len(args))), values)

    return _compiled_all({k: [a[1] for a in args if not isinstance(a[1], int)] for k, args in calls.items()}, outputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_matches_reference(name):
    spec = F.lookup(name)
    outputs, errors = _function_outputs()
    for i, (args, ref) in enumerate(CASES[name]):
        if (name, i) in errors:
            raise errors[name, i]
        infos, arrays = [a[0] for a in args], [a[2] for a in args]
        typ = spec.result(infos)
        assert isinstance(typ, Type), (name, typ)
        out, from_source = (np.asarray(o) for o in outputs[name, i])
        assert out.shape == typ.shape(), (name, str(typ), out.shape)
        assert np.issubdtype(out.dtype, np.integer) == typ.is_int, (name, str(typ), out.dtype)
        np.testing.assert_allclose(_fix_sign(name, out), np.asarray(ref(*arrays)), rtol=1e-7, atol=1e-10,
                                   err_msg=name)
        np.testing.assert_allclose(from_source, out, rtol=1e-12, err_msg=name)


def test_plain_impl_dispatches_on_arity():
    assert F.lookup("max").impl(jnp.array([1, 5, 2])) == 5
    assert F.lookup("max").impl(1.0, 2.0) == 2.0
    assert F.lookup("log2").impl() == pytest.approx(np.log(2))
    assert F.lookup("log2").impl(8.0) == pytest.approx(3.0)


def test_sizes_in_result_types():
    n = F.ArgInfo(Type("int"), None, Size("N", 5))
    vn = F.lookup("rep_vector").result([A("real", 0.0)[0], n])
    assert str(vn) == "vector[N]" and vn.shape() == (5,)
    both = F.lookup("append_row").result([A("vector", V3)[0], F.ArgInfo(vn)])
    assert str(both) == "vector[3 + N]" and both.shape() == (8,)
    assert F.lookup("to_vector").result([A("matrix", M23)[0]]).shape() == (6,)
    assert F.lookup("rows").result([A("matrix", M23)[0]]) == Type("int")
    assert str(F.lookup("segment").result([F.ArgInfo(vn), A("int", 2)[0], A("int", 3)[0]])) == "vector[3]"
    symbolic = F.ArgInfo(Type("int"), None, Size("K"))
    assert str(F.lookup("identity_matrix").result([symbolic])) == "matrix[K, K]"


# name -> calls whose type rule must fail (besides every function's wrong argument count)
BAD = {
    "pow": [[A("vector", V3), A("vector", [1.0, 2.0])], [A("vector", V3), A("row_vector", V3)]],
    "choose": [[A("real", 2.0), A("int", 1)]],
    "sum": [[A("real[,]", M23)]],
    "max": [[A("vector", V3), A("real", 1.0)]],
    "softmax": [[A("row_vector", V3)]],
    "dot_product": [[A("vector", V3), A("vector", [1.0, 2.0])], [A("matrix", M23), A("vector", V3)]],
    "columns_dot_product": [[A("vector", V3), A("row_vector", V3)]],
    "rows": [[A("real", 1.0)]],
    "rep_vector": [[A("real", 0.0), A("real", 3.0)], [A("vector", V3), A("int", 3)]],
    "rep_matrix": [[A("matrix", M23), A("int", 3)]],
    "to_matrix": [[A("vector", [1.0] * 6), A("int", 4), A("int", 2)], [A("real", 1.0)]],
    "append_row": [[A("vector", V3), A("row_vector", V3)], [A("matrix", M23), A("matrix", np.ones((2, 4)))]],
    "append_col": [[A("matrix", M23), A("matrix", np.ones((3, 3)))]],
    "head": [[A("vector", V3), A("int", 5)], [A("real", 1.0), A("int", 1)]],
    "segment": [[A("vector", V3), A("real", 1.0), A("int", 2)]],
    "quad_form": [[A("matrix", SPD), A("vector", [1.0, 2.0])], [A("matrix", M23), A("vector", V3)]],
    "inverse": [[A("matrix", M23)]],
    "cholesky_decompose": [[A("vector", V3)]],
    "mdivide_left_tri_low": [[A("matrix", LOW), A("row_vector", V3)]],
    "mdivide_right_tri_low": [[A("vector", V3), A("matrix", LOW)]],
    "diag_pre_multiply": [[A("vector", [1.0, 2.0]), A("matrix", SPD)]],
    "one_hot_vector": [[A("int", 3), A("int", 5)]],
    "log_mix": [[A("vector", V3), A("vector", [1.0, 2.0])], [A("vector", V3), A("real", 1.0), A("real", 1.0)]],
    "is_inf": [[A("vector", V3)]],
    "diag_matrix": [[A("row_vector", V3)]],
    "add_diag": [[A("matrix", SPD), A("vector", [1.0, 2.0])]],
    "to_array_1d": [[A("vector[]", M23)]],
    "rank": [[A("matrix", M23), A("int", 1)]],
    "gp_exp_quad_cov": [[A("vector", V3), A("real", 1.0), A("real", 1.0)],
                        [A("real[]", X4), A("real", 1.0), A("vector", V3)],
                        [A("vector[]", XV), A("vector[]", M23), A("real", 1.0), A("real", 1.0)],
                        [A("real[]", X4), A("vector[]", XV), A("real", 1.0), A("real", 1.0)]],
}


@pytest.mark.parametrize("name", sorted(F.FUNCTIONS))
def test_bad_calls_are_rejected(name):
    spec = F.lookup(name)
    too_many = [A("real", 1.0)[0]] * (spec.nargs[1] + 1)
    assert isinstance(spec.result(too_many), str)
    for args in BAD.get(name, []):
        msg = spec.result([a[0] for a in args])
        assert isinstance(msg, str), (name, msg)


def test_size_conflict_message_names_sizes():
    msg = F.lookup("pow").result([A("vector", V3)[0], A("vector", [1.0, 2.0])[0]])
    assert "3" in msg and "2" in msg
    assert F.suggest("sqrtt") == "sqrt"
    assert F.lookup("nope") is None
