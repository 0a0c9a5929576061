"""Posterior predictive draws for new data, from a fit's posterior."""

from __future__ import annotations

import secrets

import arviz as az
import jax
import numpy as np
from numpyro.infer import Predictive

from probdsl.model_interface import GENERATED, OBSERVED, PARAM


def predict_new(model, idata, seed: int | None = None) -> az.InferenceData:
    """Draw every observed site (and generated quantity) for the data bound in ``model``."""
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    params = [s.name for s in model.sites if s.role == PARAM]
    posterior = idata.posterior
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    samples = {}
    for name in params:
        values = np.asarray(posterior[name].values)
        samples[name] = values.reshape((chains * draws,) + values.shape[2:])
    out = Predictive(model.numpyro_model, posterior_samples=samples)(jax.random.PRNGKey(seed), model.data,
                                                                      predict=True)
    observed = [s for s in model.sites if s.role in (OBSERVED, GENERATED)]
    data_vars, dims, coords = {}, {}, {}
    for site in observed:
        if site.name not in out:
            continue
        value = np.asarray(out[site.name])
        data_vars[site.name] = value.reshape((chains, draws) + value.shape[1:])
        dims[site.name] = list(site.dims)
    for dim in {d for ds in dims.values() for d in ds}:
        coords[dim] = model.coords.get(dim)
    result = az.from_dict(posterior_predictive=data_vars, dims=dims, coords={k: v for k, v in coords.items() if v})
    result.attrs.update({"seed": seed, "model_source": model.source, "data_hash": model.data_hash()})
    return result
