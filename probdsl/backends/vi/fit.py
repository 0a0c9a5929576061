"""The variational backend: fit a guide, judge it with PSIS, build the result.

Draws come from the fitted ``q``; when k̂ says the importance weights are usable
they are resampled by those weights (PSIS), which corrects part of what ``q``
misses.  Every guide starts from the Laplace approximation (``laplace.py``).
``--guide auto`` fits mean-field, then low-rank, full-rank and flow guides until
k̂ < 0.7 or the step budget is spent.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import (
    begin_fit, is_init_failure, nonfinite_init_error, option_error, show_progress, status_printer,
)
from probdsl.backends.vi import psis
from probdsl.backends.vi.guides import (
    GUIDES, draw_with_log_q, initial_latent, layout_guide, make_guide, step_scales,
    unpack,
)
from probdsl.backends.vi.laplace import laplace
from probdsl.backends.vi.optimize import WINDOW, maximize_elbo
from probdsl.backends.vi.result import build_result
from probdsl.model_interface import ModelLike


@dataclass
class ViConfig:
    guide: str = "meanfield"   # one of GUIDES, or "auto"
    chains: int = 4            # the draws are independent; "chains" only groups them
    draws: int = 1000          # per chain
    max_steps: int = 10000     # Adam steps, all guides of --guide auto together
    learning_rate: float = 0.02
    particles: int = 1         # draws from q per ELBO gradient
    laplace: bool = True       # start from the Laplace approximation (laplace.py)
    seed: int | None = None
    x64: bool = False
    progress: bool = True


@dataclass
class _Fitted:
    guide_name: str
    guide: object
    optimized: object
    z: np.ndarray
    importance: psis.Importance
    seconds: float


def fit_vi(model: ModelLike, config: ViConfig):
    """Fit ``model`` by variational inference; returns an ``InferenceData`` (see the module docstring)."""
    import jax

    _validate(config)
    seed, key = begin_fit(config)
    say = status_printer(config.progress)
    draws = config.chains * config.draws
    names = GUIDES if config.guide == "auto" else (config.guide,)
    try:
        layout = layout_guide(model)
    except (RuntimeError, ValueError) as error:
        if not is_init_failure(error):
            raise
        raise nonfinite_init_error(model, key) from None
    if "flow" in names and layout.latent_dim < 2:
        if config.guide == "flow":
            raise option_error("the flow guide needs at least two unconstrained parameters; this model has one",
                               "use --guide fullrank: with one parameter it is exact for a Gaussian posterior")
        names = names[:-1]
    search = laplace(lambda z: model.log_density(unpack(layout, z)), initial_latent(layout)) if config.laplace else None
    start = search if search is not None and search.mode is not None else None  # None: the guides' uniform start
    if search is not None:
        say("start: " + ("the Laplace approximation at the mode" if start and start.covariance is not None else
                         "the mode (no Hessian)" if start else
                         f"uniform (no mode found in {search.gradients} gradients: the log density may grow without "
                         "bound, as a hierarchical scale goes to 0)"))
    budget, fits = config.max_steps, []
    for index, name in enumerate(names):
        fit_key, draw_key = jax.random.split(jax.random.fold_in(key, index))
        guide, init_params = make_guide(name, model, start)
        started = time.perf_counter()
        optimized = maximize_elbo(model, guide, fit_key, learning_rate=config.learning_rate, max_steps=budget,
                                  particles=config.particles, progress=show_progress(config.progress), label=name,
                                  init_params=init_params, step_scales=step_scales(name, start))
        z, log_q = draw_with_log_q(guide.get_posterior(optimized.params), draw_key, draws)
        weights = psis.importance(psis.log_density_at(model, unpack(guide, z)), log_q)
        fits.append(_Fitted(name, guide, optimized, np.asarray(z), weights,
                            time.perf_counter() - started))
        say(f"{name}: ELBO {weights.elbo:.6g} after {optimized.steps} steps "
            f"({'converged' if optimized.stopped == 'plateau' else 'step budget reached'}); {psis.verdict(weights.pareto_k)}")
        budget -= optimized.steps
        if weights.usable or budget < 2 * WINDOW:
            break
        if index + 1 < len(names):
            say(f"escalating to the {names[index + 1]} guide")
    chosen = next((f for f in fits if f.importance.usable), min(fits, key=lambda f: f.importance.pareto_k))
    return _result(model, config, seed, chosen, fits, search)


def _result(model: ModelLike, config: ViConfig, seed: int, chosen: _Fitted, fits: list[_Fitted], search):
    """``search``: the Laplace search (None without ``config.laplace``), whose gradients count even
    when it found no mode."""
    import jax

    weights = chosen.importance
    total = config.chains * config.draws
    rng = np.random.default_rng(seed)
    index = psis.resample(rng, weights.log_weights, total) if weights.usable else np.arange(total)
    optimized = chosen.optimized
    laplace_gradients = search.gradients if search is not None else 0
    record = {
        **dataclasses.asdict(config), "method": "vi", "seed": seed, "guide_used": chosen.guide_name,
        "pareto_k": weights.pareto_k, "importance_ess": weights.ess, "elbo": weights.elbo,
        "steps": optimized.steps, "stopped": optimized.stopped, "skipped_steps": optimized.skipped,
        "start": "laplace" if search is not None and search.mode is not None else "uniform",
        "laplace_gradients": laplace_gradients,
        "gradients": sum(f.optimized.gradients for f in fits) + laplace_gradients,
        "fit_seconds": sum(f.seconds for f in fits),
        "draws_from": "psis_resampled" if weights.usable else "q",
        "guides_tried": [{"guide": f.guide_name, "pareto_k": f.importance.pareto_k, "elbo": f.importance.elbo,
                          "steps": f.optimized.steps, "seconds": f.seconds} for f in fits],
    }
    predict_key = jax.random.fold_in(jax.random.PRNGKey(seed), 1 << 20)
    return build_result(model, unpack(chosen.guide, chosen.z[index]), weights, index, (config.chains, config.draws),
                        {}, {"elbo_trace": optimized.elbo}, record, seed, predict_key)


def _validate(config: ViConfig) -> None:
    checks = [
        (config.guide in GUIDES or config.guide == "auto",
         f"unknown --guide `{config.guide}`; choose one of: {', '.join(GUIDES)}, auto"),
        (config.chains >= 1, "--chains must be at least 1"),
        (config.draws >= 1, "--draws must be at least 1"),
        (config.max_steps >= 2 * WINDOW, f"--max-steps must be at least {2 * WINDOW}"),
        (config.learning_rate > 0, "--learning-rate must be positive"),
        (config.particles >= 1, "--particles must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise option_error(message)
