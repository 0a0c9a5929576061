"""What every sampling backend shares: seeds, progress, and the per-draw outputs
(predictions and pointwise log likelihood) computed from the compiled model."""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any, Mapping

import numpy as np

from probdsl.errors import Diagnostic, RuntimeModelError, UsageError
from probdsl.model_interface import DETERMINISTIC, GENERATED, OBSERVED, PARAM, ModelLike

SEED_LIMIT = 2**32


def resolve_seed(seed: int | None) -> int:
    """``seed`` checked to fit JAX's 32-bit keys, or a fresh random one when None."""
    if seed is None:
        return secrets.randbelow(2**31)
    if not 0 <= seed < SEED_LIMIT:
        raise option_error(f"seed {seed} is out of range", f"use 0 <= seed < {SEED_LIMIT}")
    return int(seed)


def begin_fit(config) -> tuple[int, Any]:
    """What every backend does first: double precision when ``config.x64``; the seed (``config.seed``
    checked, or a fresh one) and its JAX key."""
    import jax
    import numpyro

    if config.x64:
        numpyro.enable_x64()
    seed = resolve_seed(config.seed)
    return seed, jax.random.PRNGKey(seed)


def show_progress(requested: bool) -> bool:
    """Progress bars only when asked for, on an interactive stderr, outside CI."""
    return requested and sys.stderr.isatty() and not os.environ.get("CI")


def status_printer(enabled: bool):
    """``say(message)``: a status line on stderr, when ``enabled``."""
    def say(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return say


def progress_bar(label: str, total: int, enabled: bool):
    """A tqdm bar on stderr, or None when not ``enabled`` (pass ``show_progress(...)``)."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, file=sys.stderr)


def option_error(message: str, hint: str | None = None) -> UsageError:
    return UsageError(Diagnostic("E505", message, hint=hint))


def site_names(model: ModelLike, *roles: str) -> set[str]:
    return {s.name for s in model.sites if s.role in roles}


def only(values: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in names}


def to_numpy(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in values.items()}


def predict_sites(model: ModelLike, params: Mapping[str, np.ndarray], key, sites: set[str]) -> dict[str, np.ndarray]:
    """Run the model in predict mode once per ``(chain, draw)`` of ``params``; return ``sites``."""
    from numpyro.infer import Predictive

    if not sites:
        return {}
    predictive = Predictive(model.numpyro_model, posterior_samples=dict(params), return_sites=sorted(sites), batch_ndims=2)
    return to_numpy(predictive(key, model.data, predict=True))


def pointwise_log_likelihood(model: ModelLike, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The log likelihood of every observed site at each ``(chain, draw)`` of the parameters in
    ``samples`` (their sites as sampled: ``x__u`` for a parameter with an offset or multiplier)."""
    from numpyro.infer import log_likelihood

    params = site_names(model, PARAM)
    sampled = {k: v for k, v in samples.items() if k in params or k.removesuffix("__u") in params}
    values = log_likelihood(model.numpyro_model, sampled, model.data, batch_ndims=2)
    return only(to_numpy(values), site_names(model, OBSERVED))


def posterior_groups(model: ModelLike, samples: Mapping[str, np.ndarray], key):
    """What an ``InferenceData`` holds besides the sample stats, from ``(chain, draw, ...)`` draws of
    the parameters' sampled sites (and whatever deterministic sites the sampler recorded).

    Returns ``(posterior, log_likelihood, posterior_predictive)``: sites missing from ``samples``
    (deterministic and generated sites, discrete parameters summed out of the density) are
    computed by running the model in predict mode at each draw.
    """
    params = {k: v for k, v in samples.items() if k in site_names(model, PARAM) or k.endswith("__u")}
    recovered = site_names(model, PARAM, DETERMINISTIC) - samples.keys()
    predicted = predict_sites(model, params, key, site_names(model, OBSERVED, GENERATED) | recovered)
    return ({**samples, **only(predicted, site_names(model, GENERATED) | recovered)},
            pointwise_log_likelihood(model, samples),
            only(predicted, site_names(model, OBSERVED)))


def is_init_failure(error: Exception) -> bool:
    """NumPyro's errors when no initial point has a finite log density (a ValueError: invalid
    distribution arguments, such as a failed ODE solve, met while validating the last point tried)."""
    return "Cannot find valid initial parameters" in str(error) or "distribution got invalid" in str(error)


def nonfinite_init_error(model: ModelLike, key) -> RuntimeModelError:
    """E401, naming the ``.pdl`` statement whose density is not finite at a draw from the prior."""
    notes = ()
    if hasattr(model, "explain_nonfinite"):
        explanation = model.explain_nonfinite(_one_prior_draw(model, key))
        notes = (explanation,) if explanation else ()
    return RuntimeModelError(Diagnostic(
        "E401", "the log density is not finite at any initial point tried",
        notes=notes, hint="check that the data lie in the support of each distribution, or pass --init"))


def _one_prior_draw(model: ModelLike, key) -> dict[str, np.ndarray]:
    """Parameter values drawn from the prior (uniform on the unconstrained scale for flat priors)."""
    import numpyro
    from numpyro import handlers
    from numpyro.infer import init_to_sample

    drawn = handlers.substitute(handlers.seed(model.numpyro_model, key), substitute_fn=init_to_sample)
    with numpyro.validation_enabled(False):  # the draw may make the density NaN: that is what is explained
        trace = handlers.trace(drawn).get_trace(model.data)
    return {k: np.asarray(trace[k]["value"]) for k in site_names(model, PARAM) if k in trace}
