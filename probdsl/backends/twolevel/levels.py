"""The two levels of a two-level fit as functions of one flat unconstrained vector.

The fine level is always the model as written.  The coarse level is the same
model at its coarse level (its ``fine_coarse(fine, coarse)`` calls), another
model file with the same parameters, or the model with a neural emulator in
place of an expensive definition (``neural.py``).  Both levels share the flat
layout of the parameters, so one vector means the same point in both.

The coarse level can carry an adaptive error model (Cui, Fox, O'Sullivan 2018):
the bias of the coarse likelihood locations, ``b = loc_fine - loc_coarse`` at
the fine chain's states, is added to the coarse locations and its variance to the
coarse noise.  It adapts during warmup only and is frozen for sampling, so the
chain stays exact for the fine posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from probdsl.backends.vi.flat import FlatDensity


class ErrorModel(NamedTuple):
    """Per observed site: the mean and variance of the bias of its (normal) location."""

    mean: dict
    variance: dict


class Moments(NamedTuple):
    """Running sums of the bias over the fine states seen, per site (to update an ``ErrorModel``)."""

    count: float
    total: dict
    squares: dict

    def error_model(self) -> ErrorModel:
        import jax.numpy as jnp

        n = jnp.maximum(self.count, 1.0)
        mean = {k: v / n for k, v in self.total.items()}
        variance = {k: jnp.maximum(self.squares[k] / n - mean[k] ** 2, 0.0) for k in mean}
        return ErrorModel(mean, variance)


@dataclass
class Levels:
    """``fine(theta)`` and ``coarse(theta, error_model)``: log densities at a flat unconstrained vector.

    ``fine_with_locations`` and ``coarse_locations`` give the normal locations of the sites in
    ``corrected`` (those the error model corrects) for the bias moments.
    """

    fine_model: object
    coarse_model: object
    error_model: bool = True   # False: no site is corrected

    def __post_init__(self):
        self.flat = FlatDensity(self.fine_model)
        self.dim = self.flat.dim
        self.unravel = self.flat.unravel
        self.corrected = {}
        if self.error_model:  # sites that are normal (or lognormal) at both levels, with one shape
            coarse_sites = _correctable_sites(self.coarse_model, self.flat)
            self.corrected = {name: shape for name, shape in _correctable_sites(self.fine_model, self.flat).items()
                              if coarse_sites.get(name) == shape}

    def fine(self, theta):
        return self.fine_model.log_density(self.unravel(theta))

    def fine_with_locations(self, theta):
        """The fine log density and the locations of the corrected sites, from one evaluation."""
        return _density_and_locations(self.fine_model, self.unravel(theta), self.corrected)

    def coarse(self, theta, error_model: ErrorModel | None = None):
        import jax.numpy as jnp

        if error_model is None or not self.corrected:
            return self.coarse_model.log_density(self.unravel(theta))
        lp, sites = _density_and_sites(self.coarse_model, self.unravel(theta), self.corrected)
        for name, (loc, scale, value, site_lp) in sites.items():
            variance = scale ** 2 + error_model.variance[name]
            corrected = -0.5 * ((value - loc - error_model.mean[name]) ** 2 / variance + jnp.log(variance))
            lp = lp - site_lp + jnp.sum(corrected)
        return jnp.where(jnp.isnan(lp), -jnp.inf, lp)

    def coarse_locations(self, theta):
        return {name: loc for name, (loc, *_rest) in
                _density_and_sites(self.coarse_model, self.unravel(theta), self.corrected)[1].items()}

    def no_bias(self) -> ErrorModel:
        import jax.numpy as jnp

        zeros = {name: jnp.zeros(shape) for name, shape in self.corrected.items()}
        return ErrorModel(zeros, dict(zeros))

    def empty_moments(self) -> Moments:
        zero = self.no_bias().mean
        return Moments(0.0, zero, dict(zero))


def update_moments(moments: Moments, bias: dict) -> Moments:
    """``moments`` with the bias at one more state."""
    return Moments(moments.count + 1.0, {k: moments.total[k] + bias[k] for k in bias},
                   {k: moments.squares[k] + bias[k] ** 2 for k in bias})


def _normal_part(fn):
    """``(normal, transformed)`` for a site distribution that is a normal (or lognormal) once its
    batch wrappers are removed: ``transformed`` is True for the lognormal (its normal is on log y)."""
    import numpyro.distributions as dist

    transformed = False
    while True:
        if isinstance(fn, dist.Normal):
            return fn, transformed
        if isinstance(fn, dist.LogNormal):
            transformed = True
        elif not isinstance(fn, (dist.ExpandedDistribution, dist.Independent)):  # (masked: missing values)
            return None, False
        fn = fn.base_dist


def _site_trace(model, unconstrained):
    """The log density at ``unconstrained`` and the trace of the model run that computed it."""
    import jax.numpy as jnp
    from numpy import nan
    from numpyro import handlers
    from numpyro.infer.util import potential_energy

    traced = handlers.trace(model.numpyro_model)
    try:
        lp = -potential_energy(traced, (model.data,), {}, unconstrained)
    except ValueError:  # evaluated eagerly, NumPyro refuses NaN distribution arguments
        lp = jnp.asarray(nan)
    return lp, traced.trace


def _density_and_sites(model, unconstrained, sites: dict):
    """The log density and, per site in ``sites``: its normal's location, scale, (log) value, log density."""
    import jax.numpy as jnp

    lp, trace = _site_trace(model, unconstrained)
    out = {}
    for name, shape in sites.items():
        site = trace[name]
        normal, transformed = _normal_part(site["fn"])
        value = jnp.log(site["value"]) if transformed else site["value"]
        out[name] = (jnp.broadcast_to(normal.loc, shape), jnp.broadcast_to(normal.scale, shape), value,
                     jnp.sum(site["fn"].log_prob(site["value"])))
    return jnp.where(jnp.isnan(lp), -jnp.inf, lp), out


def _density_and_locations(model, unconstrained, sites: dict):
    lp, out = _density_and_sites(model, unconstrained, sites)
    return lp, {name: loc for name, (loc, *_rest) in out.items()}


def _correctable_sites(model, flat: FlatDensity) -> dict:
    """Observed sites whose distribution is a normal or lognormal (the error model's form), with their shapes.

    Read from one run of the model at the zero vector, outside ``jit``: only the trace's structure counts.
    """
    import jax.numpy as jnp
    import numpyro

    with numpyro.validation_enabled(False):
        trace = _site_trace(model, flat.unravel(jnp.zeros(flat.dim)))[1]
    return {name: tuple(site["value"].shape) for name, site in trace.items()
            if site["type"] == "sample" and site.get("is_observed") and _normal_part(site["fn"])[0] is not None}
