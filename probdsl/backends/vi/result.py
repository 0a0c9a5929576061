"""An ``InferenceData`` from draws of the unconstrained parameters (shared by VI and Pathfinder)."""

from __future__ import annotations

import numpy as np

from probdsl.backends.draws import posterior_groups
from probdsl.results.inference_data import build_inference_data


def build_result(model, unconstrained: dict, stats: dict, traces: dict, record: dict, seed: int, key):
    """``unconstrained``: ``(chain, draw, ...)`` draws of the sampled sites; ``traces``: per-step
    optimisation records (such as the ELBO), stored in sample_stats along a ``step`` dim."""
    import jax
    from numpyro.infer.util import constrain_fn

    shape = next(iter(unconstrained.values())).shape[:2]
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in unconstrained.items()}
    constrain = jax.vmap(lambda u: constrain_fn(model.numpyro_model, (model.data,), {}, u))
    samples = {k: np.asarray(v).reshape(shape + v.shape[1:]) for k, v in constrain(flat).items()}
    posterior, log_lik, predictive = posterior_groups(model, samples, key)
    idata = build_inference_data(model, posterior, stats, log_lik, predictive, record, seed)
    for name, values in traces.items():
        idata.sample_stats[name] = ("step", np.asarray(values))
    return idata
