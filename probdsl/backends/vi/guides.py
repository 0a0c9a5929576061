"""The variational families, as NumPyro autoguides over all continuous parameters.

Every guide is an ``AutoContinuous``: one flat vector ``z`` of unconstrained
parameters (the same layout for every family), a distribution ``q(z)``
(``guide.get_posterior(params)``) and the map from ``z`` to the model's sites.
Each starts from the Laplace approximation when there is one (``laplace.py``):
mean-field at the mode with the conditional sds, low-rank likewise with a zero
factor (rank ``round(sqrt(d))``, NumPyro's default), full-rank at the Laplace
covariance, and the flow (three affine autoregressive layers with hidden layers
``[d, d]``, NumPyro's ``AutoIAFNormal``) maps its near-identity start through the
Laplace Gaussian.  Without one: NumPyro's defaults (location uniform on (-2, 2),
scale 0.1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from numpyro.distributions import TransformedDistribution
from numpyro.distributions.transforms import LowerCholeskyAffine
from numpyro.infer import SVI, Trace_ELBO, autoguide, init_to_uniform

GUIDES = ("meanfield", "lowrank", "fullrank", "flow")  # also the escalation order of ``--guide auto``
INIT_SCALE = 0.1


def make_guide(name: str, model, start=None):
    """``(guide, init_params)``: the autoguide ``name`` for ``model`` and its initial parameters
    (None: the guide's own) from ``start``, a ``laplace.Laplace`` or None."""
    fn, init = model.numpyro_model, init_to_uniform(radius=2.0)
    loc = None if start is None else jnp.asarray(start.mode)
    sd = None if start is None or start.covariance is None else jnp.asarray(start.conditional_sd, loc.dtype)
    if name == "meanfield":
        guide = autoguide.AutoDiagonalNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
        return guide, _present(auto_loc=loc, auto_scale=sd)
    if name == "lowrank":
        guide = autoguide.AutoLowRankMultivariateNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
        return guide, _present(auto_loc=loc, auto_scale=sd)
    if name == "fullrank":
        guide = autoguide.AutoMultivariateNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
        tril = None if sd is None else jnp.asarray(np.linalg.cholesky(start.covariance), loc.dtype)
        return guide, _present(auto_loc=loc, auto_scale_tril=tril)
    if name == "flow":
        if start is None:
            return autoguide.AutoIAFNormal(fn, init_loc_fn=init), None
        tril = INIT_SCALE * jnp.eye(loc.size) if start.covariance is None else np.linalg.cholesky(start.covariance)
        return _LaplaceIAF(fn, loc, jnp.asarray(tril, loc.dtype)), None
    raise ValueError(name)


def step_scales(name: str, start) -> dict | None:
    """Per-parameter multipliers of the learning rate: the locations (and low-rank factors) move in
    units of the Laplace marginal sds (mean-field: its conditional sds), so a parameter whose posterior
    sd is 1e-3 and one whose sd is 1e4 both take steps of ``learning_rate`` sds.  None without a
    Laplace covariance."""
    if start is None or start.covariance is None or name == "flow":  # the flow works in whitened units already
        return None
    dtype = jnp.asarray(start.mode).dtype
    if name == "meanfield":  # its own sds: the marginal ones would make it wander along correlated ridges
        return {"auto_loc": jnp.asarray(start.conditional_sd, dtype)}
    sd = jnp.sqrt(jnp.diag(jnp.asarray(start.covariance, dtype)))
    return {"auto_loc": sd, "auto_cov_factor": sd[:, None]}


def layout_guide(model):
    """A guide set up on ``model`` (its flat layout is every guide's): for ``unpack`` and ``initial_latent``."""
    guide, _ = make_guide("meanfield", model)
    SVI(model.numpyro_model, guide, optax.identity(), Trace_ELBO()).init(jax.random.PRNGKey(0), model.data)
    return guide


def initial_latent(guide):
    """The flat unconstrained point (uniform on (-2, 2)) the guide was set up at."""
    return guide._init_latent  # NumPyro's AutoContinuous attribute (as _unpack_latent below)


def unpack(guide, z):
    """Flat latent draws ``(..., d)`` as a dict of unconstrained sample sites ``(..., *shape)``."""
    return guide._unpack_latent(z)  # NumPyro's layout of the flat vector (stable since 0.2; the pin is < 0.23)


def draw_with_log_q(q, key, n: int):
    """``n`` draws of ``q`` (a guide's ``get_posterior``) and their log densities ``(n,)``.

    A flow's inverse is not available: its density is computed from the draw's intermediates.
    """
    if isinstance(q, TransformedDistribution):
        z, intermediates = q.sample_with_intermediates(key, (n,))
        log_q = q.log_prob(z, intermediates)
    else:
        z = q.sample(key, (n,))
        log_q = q.log_prob(z)
    return z, jnp.reshape(log_q, (n, -1)).sum(-1)  # mean-field's q is a batch of d univariate normals


def _present(**params) -> dict | None:
    given = {k: v for k, v in params.items() if v is not None}
    return given or None


class _LaplaceIAF(autoguide.AutoIAFNormal):
    """NumPyro's IAF guide followed by the fixed affine map of the Laplace Gaussian: it starts
    (flows near the identity) at the Laplace approximation and learns the departures from it."""

    def __init__(self, model, loc, scale_tril):
        self._laplace = LowerCholeskyAffine(loc, scale_tril)
        super().__init__(model)

    def _get_posterior(self):
        flow = super()._get_posterior()
        return TransformedDistribution(flow.base_dist, [*flow.transforms, self._laplace])
