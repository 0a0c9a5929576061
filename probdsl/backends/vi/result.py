"""An ``InferenceData`` from draws of the unconstrained parameters (shared by VI and Pathfinder)."""

from __future__ import annotations

import numpy as np

from probdsl.backends.draws import posterior_groups
from probdsl.backends.vi.psis import Importance
from probdsl.results.inference_data import build_inference_data


def build_result(model, draws: dict, weights: Importance, index: np.ndarray, shape: tuple[int, int],
                 extra_stats: dict, traces: dict, record: dict, seed: int, key):
    """The result from the pooled draws ``index`` picked (``draws``: their unconstrained sampled sites,
    ``(len(index), ...)``), grouped as ``shape`` = (chains, draws).  sample_stats holds each draw's
    ``lp``, ``log_q`` and smoothed ``log_weight`` from ``weights`` (the whole pool's), ``extra_stats``
    (per pool draw), and ``traces``: per-step optimisation records (such as the ELBO) along a ``step`` dim."""
    import jax
    from numpyro.infer.util import constrain_fn

    constrain = jax.vmap(lambda u: constrain_fn(model.numpyro_model, (model.data,), {}, u))
    samples = {k: np.asarray(v).reshape(shape + v.shape[1:]) for k, v in constrain(draws).items()}
    per_draw = {"lp": weights.log_p, "log_q": weights.log_q, "log_weight": weights.log_weights, **extra_stats}
    stats = {name: np.asarray(values)[index].reshape(shape) for name, values in per_draw.items()}
    posterior, log_lik, predictive = posterior_groups(model, samples, key)
    idata = build_inference_data(model, posterior, stats, log_lik, predictive, record, seed)
    for name, values in traces.items():
        idata.sample_stats[name] = ("step", np.asarray(values))
    return idata
