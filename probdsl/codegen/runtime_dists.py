"""Distributions the compiled models need beyond NumPyro's own: declared-support
restriction, truncation, censoring (and ``take``, for variables with missing values).

Generated Python source embeds this module's text verbatim, so keep it
self-contained (imports: jax, jnp, numpyro.distributions only).
"""

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import sum_rightmost


class Restricted(dist.Distribution):
    """A prior restricted to a parameter's declared support, as Stan does.

    The density is the base density on the support (not renormalized: Stan
    drops the normalizing constant too, and it is constant unless the bounds
    depend on parameters).  Draws come from the truncated distribution: by
    inverse CDF where the base has one, else by rejection; an ordered support
    sorts the base draws (exact for exchangeable priors).
    """

    def __init__(self, base, support, lower=None, upper=None):
        self.base = base
        self._support = support
        self.lower, self.upper = lower, upper
        super().__init__(base.batch_shape, base.event_shape)

    @property
    def support(self):
        return self._support

    def log_prob(self, value):
        return self.base.log_prob(value)

    def sample(self, key, sample_shape=()):
        if self.lower is None and self.upper is None:
            draws = self.base.sample(key, sample_shape)
            if self._support is constraints.positive_ordered_vector:
                draws = jnp.abs(draws)
            return jnp.sort(draws, axis=-1)
        return self._truncated_sample(key, sample_shape)

    def _truncated_sample(self, key, sample_shape):
        shape = sample_shape + self.batch_shape + self.event_shape
        lower = -jnp.inf if self.lower is None else jnp.broadcast_to(self.lower, shape)
        upper = jnp.inf if self.upper is None else jnp.broadcast_to(self.upper, shape)
        try:
            low_u = self.base.cdf(lower) if self.lower is not None else 0.0
            high_u = self.base.cdf(upper) if self.upper is not None else 1.0
            u = jax.random.uniform(key, shape, minval=low_u, maxval=high_u)
            return jnp.clip(self.base.icdf(u), lower, upper)
        except (NotImplementedError, ImportError, AttributeError):  # student_t's icdf needs tensorflow_probability
            pass

        def body(state):
            k, draws, ok = state
            k, sub = jax.random.split(k)
            fresh = self.base.sample(sub, sample_shape)
            draws = jnp.where(ok, draws, fresh)
            return k, draws, (draws > lower) & (draws < upper)

        def more(state):
            return ~jnp.all(state[2])

        init = (key, jnp.zeros(shape), jnp.zeros(shape, dtype=bool))
        return jax.lax.while_loop(more, body, init)[1]


class Unconstrained(dist.Distribution):
    """A distribution pulled back to the unconstrained line through ``transform``.

    Used for parameters whose support depends on other parameters (bounds such
    as ``upper=1 - alpha``) or that carry ``<offset=, multiplier=>``: the model
    samples ``u`` from this and records ``transform(u)`` under the parameter's
    name.  ``log_prob`` includes the log Jacobian; draws map prior draws back.
    """

    support = constraints.real_vector

    def __init__(self, constrained, transform):
        self.constrained = constrained
        self.transform = transform
        shape = constrained.batch_shape + constrained.event_shape
        super().__init__((), shape)
        self.support = constraints.independent(constraints.real, len(shape))

    def log_prob(self, value):
        normal = _normal_under(self.constrained)
        if normal is not None and isinstance(self.transform, dist.transforms.AffineTransform):
            return _affine_normal_log_prob(normal, self.transform, value, self.event_shape)
        x = self.transform(value)
        log_det = self.transform.log_abs_det_jacobian(value, x)
        extra = jnp.ndim(log_det) - (len(self.event_shape) - self.transform.codomain.event_dim)
        return jnp.sum(self.constrained.log_prob(x)) + jnp.sum(sum_rightmost(log_det, max(extra, 0)))

    def sample(self, key, sample_shape=()):
        return self.transform.inv(self.constrained.sample(key, sample_shape))


def _normal_under(d):
    """The ``Normal`` inside ``d`` when ``d`` is one, expanded or made independent; else None."""
    while isinstance(d, (dist.ExpandedDistribution, dist.Independent)):
        d = d.base_dist
    return d if type(d) is dist.Normal else None


def _affine_normal_log_prob(normal, transform, u, shape):
    """log N(offset + multiplier * u | mu, sigma) + log |multiplier|, summed, computed from
    ((offset - mu) + multiplier * u) / sigma: when offset and mu are the same expression (the
    non-centred case) their difference is exactly 0, where ``offset + multiplier * u - mu`` loses
    every digit of ``u`` in float32 once the multiplier is small next to the offset."""
    z = ((transform.loc - normal.loc) + transform.scale * u) / normal.scale
    log_density = -0.5 * z**2 - jnp.log(normal.scale) - 0.5 * jnp.log(2 * jnp.pi) + jnp.log(jnp.abs(transform.scale))
    return jnp.sum(jnp.broadcast_to(log_density, shape))


def _outside(support, x):
    """Where ``x`` is below and above ``support`` (the CDF is 0 and 1 there), and ``x`` with those
    entries replaced by a point inside the support (which keeps gradients finite)."""
    lowest = getattr(support, "lower_bound", -jnp.inf)
    highest = getattr(support, "upper_bound", jnp.inf)
    low = ((x < lowest) if support.is_discrete else (x <= lowest)) | jnp.isneginf(x)
    high = (x >= highest) | jnp.isposinf(x)
    return low, high, jnp.where(low | high, support.feasible_like(x), x)


def _cdf(base, x):
    """P(Y <= x) under ``base``, also where NumPyro's cdf is undefined: 0 below the support, 1 above it."""
    low, high, t = _outside(base.support, jnp.asarray(x, dtype=jnp.result_type(float)))
    return jnp.where(low, 0.0, jnp.where(high, 1.0, jnp.clip(base.cdf(t), 0.0, 1.0)))


def _cdf_before(base, x):
    """P(Y < x): the CDF just below ``x`` (at ``x - 1`` for integers)."""
    return _cdf(base, x - 1 if base.support.is_discrete else x)


def _log_cdf_sf(base, x):
    """log P(Y <= x) and log P(Y > x) under ``base``.

    In closed form, accurate far into both tails, for the normal, lognormal,
    exponential, weibull, gamma and poisson families (the usual survival and
    truncation models); from NumPyro's ``cdf`` for the others.
    """
    low, high, t = _outside(base.support, jnp.asarray(x, dtype=jnp.result_type(float)))
    log_cdf, log_sf = _closed_form(base, t)
    return (jnp.where(low, -jnp.inf, jnp.where(high, 0.0, log_cdf)),
            jnp.where(high, -jnp.inf, jnp.where(low, 0.0, log_sf)))


def _closed_form(base, t):
    """``_log_cdf_sf`` at ``t`` inside the support."""
    special = jax.scipy.special
    if isinstance(base, (dist.Normal, dist.LogNormal)):
        z = ((jnp.log(t) if isinstance(base, dist.LogNormal) else t) - base.loc) / base.scale
        return special.log_ndtr(z), special.log_ndtr(-z)
    if isinstance(base, (dist.Exponential, dist.Weibull)):
        hazard = base.rate * t if isinstance(base, dist.Exponential) else (t / base.scale) ** base.concentration
        return _log1mexp(-hazard), -hazard
    if isinstance(base, dist.Gamma):
        u = base.rate * t
        return jnp.log(special.gammainc(base.concentration, u)), jnp.log(special.gammaincc(base.concentration, u))
    if isinstance(base, dist.Poisson):
        k = jnp.floor(t) + 1
        return jnp.log(special.gammaincc(k, base.rate)), jnp.log(special.gammainc(k, base.rate))
    cdf = jnp.clip(base.cdf(t), 0.0, 1.0)
    zero, one = cdf <= 0, cdf >= 1
    cdf = jnp.where(zero | one, 0.5, cdf)
    return (jnp.where(one, 0.0, jnp.where(zero, -jnp.inf, jnp.log(cdf))),
            jnp.where(zero, 0.0, jnp.where(one, -jnp.inf, jnp.log1p(-cdf))))


def _log1mexp(d):
    """log(1 - exp(d)) for d <= 0."""
    near = d > -0.6931472  # near 0: expm1 keeps the precision; far below: log1p does
    return jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, d, -1.0))), jnp.log1p(-jnp.exp(jnp.where(near, -1.0, d))))


def _log_mass(base, lower, upper):
    """log P(lower <= Y <= upper) under ``base``; an infinite bound leaves that side open.

    An interval in the upper half is measured with survival functions, one in the
    lower half with CDFs, so that tail intervals keep their precision.
    """
    lower = jnp.asarray(lower, dtype=jnp.result_type(float))
    below_cdf, below_sf = _log_cdf_sf(base, lower - 1 if base.support.is_discrete else lower)
    upper_cdf, upper_sf = _log_cdf_sf(base, upper)
    from_sf = below_sf + _log1mexp(jnp.where(jnp.isneginf(below_sf), -jnp.inf, upper_sf - below_sf))
    from_cdf = upper_cdf + _log1mexp(jnp.where(jnp.isneginf(upper_cdf), -jnp.inf, below_cdf - upper_cdf))
    return jnp.where(below_cdf > -0.6931472, from_sf, from_cdf)


def _quantile(base, p, lower, upper):
    """The smallest ``x`` in ``[lower, upper]`` with P(Y <= x) >= p, by bisection on the CDF.

    For distributions without an inverse CDF (discrete ones, gamma, student_t, ...).
    Infinite ends of the bracket are first widened by doubling steps; for integers
    the result is an integer.
    """
    discrete = base.support.is_discrete
    a = jnp.broadcast_to(jnp.asarray(lower, p.dtype), p.shape) - (1 if discrete else 0)
    b = jnp.broadcast_to(jnp.asarray(upper, p.dtype), p.shape)
    start = jnp.where(jnp.isfinite(a), a, jnp.where(jnp.isfinite(b), b, 0.0))
    a = jnp.where(jnp.isfinite(a), a, start - 1.0)
    b = jnp.where(jnp.isfinite(b), b, start + 1.0)

    def widen(state):
        a, b, step, k = state
        a = jnp.where(_cdf(base, a) >= p, a - step, a)
        b = jnp.where(_cdf(base, b) < p, b + step, b)
        return a, b, 2.0 * step, k + 1

    def unbracketed(state):
        a, b, _, k = state
        return (k < 200) & jnp.any((_cdf(base, a) >= p) | (_cdf(base, b) < p))

    a, b, _, _ = jax.lax.while_loop(unbracketed, widen, (a, b, jnp.ones_like(p), 0))

    def halve(_, bracket):
        a, b = bracket
        middle = jnp.floor((a + b) / 2) if discrete else (a + b) / 2
        high = _cdf(base, middle) >= p
        return jnp.where(high, a, middle), jnp.where(high, middle, b)

    a, b = jax.lax.fori_loop(0, 64, halve, (a, b))
    return b if discrete else (a + b) / 2


class Truncated(dist.Distribution):
    """Stan's ``T[lower, upper]``: ``base`` renormalized to ``lower <= y <= upper`` (either may be None).

    The density is ``f(y) / P(lower <= Y <= upper)`` inside the bounds, zero outside;
    for integers ``P(lower <= Y <= upper) = F(upper) - F(lower - 1)``.  NumPyro's own
    ``TruncatedDistribution`` takes only continuous distributions over the whole real
    line; this one takes any ``base`` with a ``cdf``.  Draws invert the CDF: with
    ``base.icdf`` when it has one, else by bisection on ``base.cdf``.
    """

    def __init__(self, base, lower=None, upper=None):
        self.base, self.lower, self.upper = base, lower, upper
        self._low = -jnp.inf if lower is None else lower
        self._high = jnp.inf if upper is None else upper
        self._below = _cdf_before(base, self._low)
        self._log_z = _log_mass(base, self._low, self._high)
        self._support = _truncated_support(base.support, lower, upper)
        shape = jax.lax.broadcast_shapes(base.batch_shape, jnp.shape(self._low), jnp.shape(self._high))
        super().__init__(shape, base.event_shape)

    @property
    def support(self):
        return self._support

    def log_prob(self, value):
        inside = (value >= self._low) & (value <= self._high) & jnp.isfinite(self._log_z)
        return jnp.where(inside, self.base.log_prob(value) - self._log_z, -jnp.inf)

    def cdf(self, value):
        mass = jnp.exp(_log_mass(self.base, self._low, jnp.clip(value, self._low, self._high)) - self._log_z)
        return jnp.where(value < self._low, 0.0, jnp.where(value >= self._high, 1.0, mass))

    def icdf(self, q):
        p = self._below + q * jnp.exp(self._log_z)
        draws = None
        if not self.base.support.is_discrete:
            try:
                draws = self.base.icdf(p)
            except (NotImplementedError, ImportError, AttributeError):  # e.g. gamma, student_t
                pass
        if draws is None:
            draws = _quantile(self.base, p, self._low, self._high)
        # a region too far in a tail for the float precision holds (nearly) all its mass at its bound
        draws = jnp.where(jnp.isposinf(draws), jnp.where(jnp.isfinite(self._low), self._low, self._high), draws)
        draws = jnp.where(jnp.isneginf(draws), jnp.where(jnp.isfinite(self._high), self._high, self._low), draws)
        return jnp.clip(draws, self._low, self._high)

    def sample(self, key, sample_shape=()):
        q = jax.random.uniform(key, sample_shape + self.batch_shape)
        draws = self.icdf(q)
        return draws.astype(jnp.result_type(int)) if self.base.support.is_discrete else draws


def _truncated_support(support, lower, upper):
    """``support`` cut to ``[lower, upper]``."""
    if lower is None and upper is None:
        return support
    low = lower if not hasattr(support, "lower_bound") else (
        support.lower_bound if lower is None else jnp.maximum(lower, support.lower_bound))
    high = upper if not hasattr(support, "upper_bound") else (
        support.upper_bound if upper is None else jnp.minimum(upper, support.upper_bound))
    if support.is_discrete:
        if low is None:
            return support
        return constraints.integer_greater_than(low) if high is None else constraints.integer_interval(low, high)
    if low is None:
        return constraints.less_than(high)
    return constraints.greater_than(low) if high is None else constraints.interval(low, high)


class Censored(dist.Distribution):
    """Censored observations (brms's ``cens()``): a flagged row is known only to lie in an interval.

    Where ``left`` is nonzero the true value is at most the recorded one; where
    ``right`` is nonzero, at least the recorded one; where ``interval`` is
    nonzero, between the recorded one and ``upper``.  Bounds are included, which
    matters for integers (right-censored at 10 means 10 or more).  A flagged row
    adds the log probability of its interval, any other row the log density.
    Draws are of the true, uncensored value.
    """

    def __init__(self, base, left=0, right=0, interval=0, upper=None):
        self.base, self.upper = base, upper
        self.left, self.right, self.interval = (jnp.asarray(c) != 0 for c in (left, right, interval))
        shapes = [jnp.shape(c) for c in (self.left, self.right, self.interval)]
        shapes.append(() if upper is None else jnp.shape(upper))
        super().__init__(jax.lax.broadcast_shapes(base.batch_shape, *shapes), base.event_shape)

    @property
    def support(self):
        return self.base.support

    @property
    def mean(self):
        return jnp.broadcast_to(self.base.mean, self.batch_shape)

    def log_prob(self, value):
        censored = self.left | self.right | self.interval
        upper = value if self.upper is None else self.upper
        lower = jnp.where(self.right | self.interval, value, -jnp.inf)
        upper = jnp.where(self.left, value, jnp.where(self.interval, upper, jnp.inf))
        exact = self.base.log_prob(jnp.where(censored, self.base.support.feasible_like(value), value))
        return jnp.where(censored, _log_mass(self.base, lower, upper), exact)

    def sample(self, key, sample_shape=()):
        return self.base.expand(self.batch_shape).sample(key, sample_shape)


def take(x, index, shape):
    """The entries ``index`` (flat, 0-based) of ``x`` broadcast to ``shape``: one part of a variable with missing values."""
    return jnp.broadcast_to(x, shape).reshape(-1)[index]
