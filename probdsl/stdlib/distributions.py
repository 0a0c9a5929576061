"""Built-in distributions: Stan's names, argument order and parameterizations.

Each :class:`DistSpec` maps one Stan distribution onto a NumPyro distribution
twice over: ``source`` is the template the code generator emits, and ``make``
builds the same object at run time (it is compiled from ``source``, so the two
cannot drift apart).

Argument kinds (:attr:`Arg.kind`):

``real``   a real scalar or a container of reals; broadcasts against the variate
``int``    an int scalar or a container of ints; broadcasts likewise
``vector`` one whole vector per draw (``dirichlet`` alpha, ``multi_normal`` mu)
``matrix`` one whole matrix per draw (``multi_normal`` Sigma)

Variate kinds (:attr:`DistSpec.variate`, the kind of ONE draw): ``real``,
``int``, ``vector``, ``matrix`` and ``int_array`` (``multinomial``: one
``array[K] int`` per draw).

Some NumPyro distributions need a quantity Stan reads off the variate itself;
:attr:`DistSpec.implicit` names them, and the compiler appends them, in that
order, after the user's arguments (placeholders ``{n}``, ``{n+1}`` ... of
``source`` for ``n`` user arguments):

``dim``    the size ``K`` of one draw, a Python int (``lkj_corr``: K x K)
``total``  ``sum`` of the variate over its last axis (``multinomial``: N)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro
import numpyro.distributions as dist

ARG_KINDS = ("real", "int", "vector", "matrix")
VARIATE_KINDS = ("real", "int", "vector", "matrix", "int_array")

#: Names a ``source`` template may use.
NAMESPACE = {"jnp": jnp, "jax": jax, "dist": dist, "jsp": jsp, "numpyro": numpyro}


@dataclass(frozen=True)
class Arg:
    """One argument of a distribution: Stan's name and an :data:`ARG_KINDS` kind."""

    name: str
    kind: str


@dataclass(frozen=True)
class Support:
    """Where the Stan-side values of a distribution lie.

    ``lower``/``upper`` are constant bounds; ``lower_arg``/``upper_arg`` give
    the index of the argument that is the bound (``uniform(a, b)``).
    ``upper_is_length_of_arg`` makes the upper bound ``size(args[i]) +
    length_extra`` (``categorical(theta)``: 1..K; ``ordered_logistic(eta,
    c)``: 1..size(c)+1).  ``structure`` names a constrained vector/matrix
    variate: ``simplex``, ``corr``, ``cholesky_corr`` or ``cov``.
    """

    domain: str
    lower: float | None = None
    upper: float | None = None
    lower_arg: int | None = None
    upper_arg: int | None = None
    upper_is_length_of_arg: int | None = None
    structure: str | None = None
    length_extra: int = 0


@dataclass(frozen=True)
class DistSpec:
    """A Stan distribution and how to build it in NumPyro.

    ``make`` takes the arguments in Stan order (then the ``implicit`` ones) and
    returns the NumPyro distribution; ``source`` is the same as a Python
    expression with ``{0}``, ``{1}`` ... for the arguments.  Stan's value is
    NumPyro's value plus ``offset``.  ``flat`` has ``make=None``: it is
    improper and adds nothing to the target.
    """

    name: str
    args: tuple[Arg, ...]
    variate: str
    support: Support
    make: Callable[..., dist.Distribution] | None
    source: str
    offset: int = 0
    event_rank: int = 0
    doc: str = ""
    implicit: tuple[str, ...] = field(default=())

    def render(self, args: list[str]) -> str:
        """The ``source`` template filled with the arguments' code."""
        return self.source.format(*args)

    @property
    def has_cdf(self) -> bool:
        """Whether NumPyro gives its CDF (needed by truncation ``T[L, U]`` and ``censored(...)``)."""
        return self.name in WITH_CDF


def _compile(source: str, nargs: int) -> Callable:
    names = [f"a{i}" for i in range(nargs)]
    return eval(f"lambda {', '.join(names)}: {source.format(*names)}", dict(NAMESPACE))  # noqa: S307 - our own template


REAL = Support("real")
POSITIVE = Support("real", lower=0.0)
UNIT = Support("real", lower=0.0, upper=1.0)
COUNT = Support("int", lower=0)
BINARY = Support("int", lower=0, upper=1)


def _d(name, args, variate, support, source, doc, *, offset=0, event_rank=0, implicit=()):
    arg_tuple = tuple(Arg(*a.split(":")) for a in args.split()) if args else ()
    make = _compile(source, len(arg_tuple) + len(implicit)) if source else None
    return DistSpec(name, arg_tuple, variate, support, make, source, offset, event_rank, doc, tuple(implicit))


_SPECS = [
    # ---- continuous, unbounded
    _d("normal", "mu:real sigma:real", "real", REAL, "dist.Normal({0}, {1})",
       "normal(y | mu, sigma): mean mu, standard deviation sigma > 0"),
    _d("std_normal", "", "real", REAL, "dist.Normal(0.0, 1.0)",
       "std_normal(y): normal with mean 0 and standard deviation 1"),
    _d("student_t", "nu:real mu:real sigma:real", "real", REAL, "dist.StudentT({0}, {1}, {2})",
       "student_t(y | nu, mu, sigma): nu > 0 degrees of freedom, location mu, scale sigma > 0"),
    _d("cauchy", "mu:real sigma:real", "real", REAL, "dist.Cauchy({0}, {1})",
       "cauchy(y | mu, sigma): location mu, scale sigma > 0"),
    _d("double_exponential", "mu:real sigma:real", "real", REAL, "dist.Laplace({0}, {1})",
       "double_exponential(y | mu, sigma): Laplace, exp(-|y - mu| / sigma) / (2 sigma)"),
    _d("logistic", "mu:real sigma:real", "real", REAL, "dist.Logistic({0}, {1})",
       "logistic(y | mu, sigma): location mu, scale sigma > 0"),
    _d("gumbel", "mu:real beta:real", "real", REAL, "dist.Gumbel({0}, {1})",
       "gumbel(y | mu, beta): location mu, scale beta > 0 (maximum-value Gumbel)"),
    # ---- continuous, positive
    _d("lognormal", "mu:real sigma:real", "real", POSITIVE, "dist.LogNormal({0}, {1})",
       "lognormal(y | mu, sigma): log(y) ~ normal(mu, sigma)"),
    _d("chi_square", "nu:real", "real", POSITIVE, "dist.Chi2({0})",
       "chi_square(y | nu): nu > 0 degrees of freedom"),
    _d("inv_chi_square", "nu:real", "real", POSITIVE, "dist.InverseGamma(jnp.multiply(0.5, {0}), 0.5)",
       "inv_chi_square(y | nu): 1/y ~ chi_square(nu), i.e. inv_gamma(nu/2, 1/2)"),
    _d("scaled_inv_chi_square", "nu:real s:real", "real", POSITIVE,
       "(lambda nu, s: dist.InverseGamma(nu / 2, nu * s * s / 2))({0}, {1})",
       "scaled_inv_chi_square(y | nu, s): inv_gamma(nu/2, nu s^2 / 2), scale s > 0"),
    _d("exponential", "beta:real", "real", POSITIVE, "dist.Exponential({0})",
       "exponential(y | beta): rate beta > 0 (mean 1/beta)"),
    _d("gamma", "alpha:real beta:real", "real", POSITIVE, "dist.Gamma({0}, {1})",
       "gamma(y | alpha, beta): shape alpha > 0, rate beta > 0 (mean alpha/beta)"),
    _d("inv_gamma", "alpha:real beta:real", "real", POSITIVE, "dist.InverseGamma({0}, {1})",
       "inv_gamma(y | alpha, beta): shape alpha > 0, scale beta > 0; 1/y ~ gamma(alpha, beta)"),
    _d("weibull", "alpha:real sigma:real", "real", POSITIVE, "dist.Weibull({1}, {0})",
       "weibull(y | alpha, sigma): shape alpha > 0, scale sigma > 0"),
    _d("frechet", "alpha:real sigma:real", "real", POSITIVE,
       "(lambda alpha, sigma: dist.TransformedDistribution(dist.Weibull(1 / sigma, alpha),"
       " dist.transforms.PowerTransform(-1.0)))({0}, {1})",
       "frechet(y | alpha, sigma): shape alpha > 0, scale sigma > 0; 1/y ~ weibull(alpha, 1/sigma)"),
    _d("rayleigh", "sigma:real", "real", POSITIVE,
       "(lambda sigma: dist.Weibull(sigma * jnp.sqrt(2.0), 2.0))({0})",
       "rayleigh(y | sigma): y / sigma^2 exp(-y^2 / (2 sigma^2)), scale sigma > 0"),
    _d("pareto", "y_min:real alpha:real", "real", Support("real", lower_arg=0), "dist.Pareto({0}, {1})",
       "pareto(y | y_min, alpha): y >= y_min > 0, shape alpha > 0"),
    _d("pareto_type_2", "mu:real lambda:real alpha:real", "real", Support("real", lower_arg=0),
       "(lambda mu, lam, alpha: dist.TransformedDistribution(dist.Pareto(jnp.ones_like(mu + lam), alpha),"
       " dist.transforms.AffineTransform(mu - lam, lam)))({0}, {1}, {2})",
       "pareto_type_2(y | mu, lambda, alpha): alpha/lambda (1 + (y - mu)/lambda)^-(alpha+1), y >= mu"),
    _d("loglogistic", "alpha:real beta:real", "real", POSITIVE,
       "(lambda alpha, beta: dist.TransformedDistribution(dist.Logistic(jnp.log(alpha), 1 / beta),"
       " dist.transforms.ExpTransform()))({0}, {1})",
       "loglogistic(y | alpha, beta): scale alpha > 0 (the median), shape beta > 0"),
    # ---- continuous, bounded
    _d("beta", "alpha:real beta:real", "real", UNIT, "dist.Beta({0}, {1})",
       "beta(y | alpha, beta): y in (0, 1), prior counts alpha > 0, beta > 0"),
    _d("beta_proportion", "mu:real kappa:real", "real", UNIT, "dist.BetaProportion({0}, {1})",
       "beta_proportion(y | mu, kappa): beta(mu kappa, (1 - mu) kappa), mean mu in (0, 1), kappa > 0"),
    _d("uniform", "alpha:real beta:real", "real", Support("real", lower_arg=0, upper_arg=1),
       "dist.Uniform({0}, {1})", "uniform(y | alpha, beta): y in (alpha, beta)"),
    _d("von_mises", "mu:real kappa:real", "real", Support("real", lower=-3.141592653589793, upper=3.141592653589793),
       "dist.VonMises({0}, {1})", "von_mises(y | mu, kappa): circular, location mu, concentration kappa >= 0"),
    # ---- multivariate continuous
    _d("dirichlet", "alpha:vector", "vector", Support("real", structure="simplex"), "dist.Dirichlet({0})",
       "dirichlet(theta | alpha): simplex theta, prior counts alpha > 0", event_rank=1),
    _d("multi_normal", "mu:vector Sigma:matrix", "vector", REAL,
       "dist.MultivariateNormal({0}, covariance_matrix={1})",
       "multi_normal(y | mu, Sigma): mean vector mu, covariance matrix Sigma", event_rank=1),
    _d("multi_normal_prec", "mu:vector Omega:matrix", "vector", REAL,
       "dist.MultivariateNormal({0}, precision_matrix={1})",
       "multi_normal_prec(y | mu, Omega): mean vector mu, precision matrix Omega", event_rank=1),
    _d("multi_normal_cholesky", "mu:vector L:matrix", "vector", REAL,
       "dist.MultivariateNormal({0}, scale_tril={1})",
       "multi_normal_cholesky(y | mu, L): mean mu, covariance L L' with L lower-triangular", event_rank=1),
    _d("multi_student_t", "nu:real mu:vector Sigma:matrix", "vector", REAL,
       "dist.MultivariateStudentT({0}, {1}, jnp.linalg.cholesky({2}))",
       "multi_student_t(y | nu, mu, Sigma): nu degrees of freedom, location mu, scale matrix Sigma",
       event_rank=1),
    _d("multi_student_t_cholesky", "nu:real mu:vector L:matrix", "vector", REAL,
       "dist.MultivariateStudentT({0}, {1}, {2})",
       "multi_student_t_cholesky(y | nu, mu, L): multi_student_t with scale matrix L L'", event_rank=1),
    _d("lkj_corr", "eta:real", "matrix", Support("real", structure="corr"), "dist.LKJ({1}, {0})",
       "lkj_corr(Omega | eta): correlation matrix, density proportional to det(Omega)^(eta - 1)",
       event_rank=2, implicit=("dim",)),
    _d("lkj_corr_cholesky", "eta:real", "matrix", Support("real", structure="cholesky_corr"),
       "dist.LKJCholesky({1}, {0})",
       "lkj_corr_cholesky(L | eta): Cholesky factor of an lkj_corr(eta) correlation matrix",
       event_rank=2, implicit=("dim",)),
    _d("wishart", "nu:real Sigma:matrix", "matrix", Support("real", structure="cov"),
       "dist.Wishart({0}, scale_matrix={1})",
       "wishart(W | nu, Sigma): nu > K - 1 degrees of freedom, scale matrix Sigma", event_rank=2),
    _d("inv_wishart", "nu:real Sigma:matrix", "matrix", Support("real", structure="cov"),
       "dist.InverseWishart({0}, scale_matrix={1})",
       "inv_wishart(W | nu, Sigma): inverse of a wishart(nu, inverse(Sigma)) draw", event_rank=2),
    # ---- discrete
    _d("bernoulli", "theta:real", "int", BINARY, "dist.BernoulliProbs({0})",
       "bernoulli(y | theta): y in {0, 1}, P(y = 1) = theta"),
    _d("bernoulli_logit", "alpha:real", "int", BINARY, "dist.BernoulliLogits({0})",
       "bernoulli_logit(y | alpha): bernoulli(inv_logit(alpha))"),
    _d("binomial", "N:int theta:real", "int", Support("int", lower=0, upper_arg=0), "dist.BinomialProbs({1}, {0})",
       "binomial(n | N, theta): successes in N trials of chance theta"),
    _d("binomial_logit", "N:int alpha:real", "int", Support("int", lower=0, upper_arg=0),
       "dist.BinomialLogits({1}, {0})", "binomial_logit(n | N, alpha): binomial(N, inv_logit(alpha))"),
    _d("beta_binomial", "N:int alpha:real beta:real", "int", Support("int", lower=0, upper_arg=0),
       "dist.BetaBinomial({1}, {2}, {0})",
       "beta_binomial(n | N, alpha, beta): binomial(N, theta) with theta ~ beta(alpha, beta)"),
    _d("poisson", "lambda:real", "int", COUNT, "dist.Poisson({0})", "poisson(n | lambda): rate lambda > 0"),
    _d("poisson_log", "alpha:real", "int", COUNT, "dist.Poisson(jnp.exp({0}))",
       "poisson_log(n | alpha): poisson(exp(alpha))"),
    _d("neg_binomial", "alpha:real beta:real", "int", COUNT, "dist.GammaPoisson({0}, {1})",
       "neg_binomial(n | alpha, beta): poisson(lambda), lambda ~ gamma(alpha, beta); mean alpha/beta"),
    _d("neg_binomial_2", "mu:real phi:real", "int", COUNT, "dist.NegativeBinomial2({0}, {1})",
       "neg_binomial_2(n | mu, phi): mean mu, variance mu + mu^2/phi"),
    _d("neg_binomial_2_log", "eta:real phi:real", "int", COUNT, "dist.NegativeBinomial2(jnp.exp({0}), {1})",
       "neg_binomial_2_log(n | eta, phi): neg_binomial_2(exp(eta), phi)"),
    _d("categorical", "theta:vector", "int", Support("int", lower=1, upper_is_length_of_arg=0),
       "dist.CategoricalProbs({0})", "categorical(y | theta): y in 1..K, P(y = k) = theta[k]", offset=1),
    _d("categorical_logit", "beta:vector", "int", Support("int", lower=1, upper_is_length_of_arg=0),
       "dist.CategoricalLogits({0})", "categorical_logit(y | beta): categorical(softmax(beta))", offset=1),
    _d("ordered_logistic", "eta:real c:vector", "int",
       Support("int", lower=1, upper_is_length_of_arg=1, length_extra=1), "dist.OrderedLogistic({0}, {1})",
       "ordered_logistic(k | eta, c): k in 1..K, P(k <= j) = inv_logit(c[j] - eta), ordered cutpoints c",
       offset=1),
    _d("ordered_probit", "eta:real c:vector", "int",
       Support("int", lower=1, upper_is_length_of_arg=1, length_extra=1),
       "(lambda eta, c: dist.CategoricalProbs(jnp.diff(jsp.ndtr(jnp.pad(c, [(0, 0)] * (jnp.ndim(c) - 1) + [(1, 1)],"
       " constant_values=(-jnp.inf, jnp.inf)) - jnp.expand_dims(eta, -1)), axis=-1)))({0}, {1})",
       "ordered_probit(k | eta, c): k in 1..K, P(k <= j) = Phi(c[j] - eta), ordered cutpoints c", offset=1),
    _d("discrete_range", "lower:int upper:int", "int", Support("int", lower_arg=0, upper_arg=1),
       "dist.DiscreteUniform({0}, {1})", "discrete_range(y | lower, upper): uniform on lower..upper"),
    _d("multinomial", "theta:vector", "int_array", Support("int", lower=0), "dist.MultinomialProbs({0}, {1})",
       "multinomial(y | theta): counts y of N = sum(y) draws from categorical(theta)",
       event_rank=1, implicit=("total",)),
    _d("multinomial_logit", "gamma:vector", "int_array", Support("int", lower=0),
       "dist.MultinomialLogits({0}, {1})", "multinomial_logit(y | gamma): multinomial(softmax(gamma))",
       event_rank=1, implicit=("total",)),
    _d("dirichlet_multinomial", "alpha:vector", "int_array", Support("int", lower=0),
       "dist.DirichletMultinomial({0}, {1})",
       "dirichlet_multinomial(y | alpha): multinomial(theta) with theta ~ dirichlet(alpha)",
       event_rank=1, implicit=("total",)),
    # ---- improper
    _d("flat", "", "real", REAL, "", "flat(): improper uniform over the reals; adds nothing to the target"),
]

DISTRIBUTIONS: dict[str, DistSpec] = {s.name: s for s in _SPECS}

#: Distributions whose NumPyro form has a ``cdf`` (tests/test_limits.py checks this list against NumPyro).
WITH_CDF = frozenset({
    "normal", "std_normal", "student_t", "cauchy", "double_exponential", "logistic", "gumbel", "lognormal",
    "chi_square", "inv_chi_square", "scaled_inv_chi_square", "exponential", "gamma", "inv_gamma", "weibull",
    "frechet", "rayleigh", "pareto", "pareto_type_2", "loglogistic", "beta", "beta_proportion", "uniform",
    "poisson", "poisson_log", "neg_binomial", "neg_binomial_2", "neg_binomial_2_log", "discrete_range",
})


def lookup(name: str) -> DistSpec | None:
    """The distribution called ``name``, or None."""
    return DISTRIBUTIONS.get(name)


def suggest(name: str) -> str | None:
    """The known distribution name closest to ``name``, for "did you mean"."""
    close = difflib.get_close_matches(name, DISTRIBUTIONS, n=1, cutoff=0.6)
    return close[0] if close else None
