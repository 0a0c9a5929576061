"""The variational families, as NumPyro autoguides over all continuous parameters.

Every guide is an ``AutoContinuous``: one flat vector ``z`` of unconstrained
parameters, a distribution ``q(z)`` (``guide.get_posterior(params)``) and the map
from ``z`` to the model's sites.  Defaults are NumPyro's (Pyro's advice): location
uniform on (-2, 2) like NUTS's start, initial scale 0.1, low rank ``round(sqrt(d))``,
three affine autoregressive flows with hidden layers ``[d, d]``.
"""

from __future__ import annotations

GUIDES = ("meanfield", "lowrank", "fullrank", "flow")  # also the escalation order of ``--guide auto``
INIT_SCALE = 0.1


def make_guide(name: str, model, init_values: dict | None = None):
    """The autoguide ``name`` for ``model``; ``init_values`` (constrained) sets its initial location."""
    from numpyro.infer import autoguide, init_to_uniform, init_to_value

    init = init_to_uniform(radius=2.0) if init_values is None else init_to_value(values=init_values)
    fn = model.numpyro_model
    if name == "meanfield":
        return autoguide.AutoDiagonalNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
    if name == "lowrank":
        return autoguide.AutoLowRankMultivariateNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
    if name == "fullrank":
        return autoguide.AutoMultivariateNormal(fn, init_loc_fn=init, init_scale=INIT_SCALE)
    if name == "flow":
        return autoguide.AutoIAFNormal(fn, init_loc_fn=init)
    raise ValueError(name)


def unpack(guide, z):
    """Flat latent draws ``(..., d)`` as a dict of unconstrained sample sites ``(..., *shape)``."""
    return guide._unpack_latent(z)  # NumPyro's layout of the flat vector (stable since 0.2; the pin is < 0.23)
