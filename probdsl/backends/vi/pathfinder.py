"""Multi-path Pathfinder (Zhang, Carpenter, Gelman, Vehtari 2022), through BlackJAX.

Each path runs L-BFGS on the log density from a point uniform on (-2, 2) in the
unconstrained space (as Stan's Pathfinder starts), builds a Gaussian at every
iterate from the L-BFGS inverse-Hessian estimate and keeps the one with the
highest ELBO (estimated from ``elbo_draws`` draws).  L-BFGS stops on Stan's relative
tolerance, not BlackJAX's default 1e-5: with a log density in the thousands that
stops on the ridge of a raw-scale regression, where every Gaussian of the path is
far too narrow along the ridge (1 to 30 sd off on posteriordb regressions).  The
paths' draws are pooled and importance-resampled with Pareto-smoothed weights,
which also gives k̂.  The resampled draws are the result, or the initial points of
NUTS chains (``--init pathfinder``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import begin_fit, option_error, status_printer
from probdsl.backends.vi import psis
from probdsl.backends.vi.flat import FlatDensity
from probdsl.backends.vi.result import build_result
from probdsl.errors import Diagnostic, RuntimeModelError
from probdsl.model_interface import ModelLike


@dataclass
class PathfinderConfig:
    paths: int = 4
    chains: int = 4             # the draws are independent; "chains" only groups them
    draws: int = 1000           # per chain, resampled from a pool of ``draws_per_path`` per path
    draws_per_path: int = 1000
    max_iterations: int = 200   # L-BFGS iterations per path (Stan: 1000; most models stop far sooner)
    history: int = 6            # L-BFGS history size (Stan's default is 5)
    elbo_draws: int = 25        # draws per ELBO estimate along the path (Stan's default)
    relative_tolerance: float = 1e4 * 2.2e-16  # L-BFGS: least relative change of the log density (Stan's)
    seed: int | None = None
    x64: bool = False
    progress: bool = True


@dataclass
class PathfinderRun:
    density: FlatDensity
    z: np.ndarray                # (paths * draws_per_path, dim) pooled draws
    importance: psis.Importance
    path_elbo: np.ndarray        # the ELBO of each path's chosen Gaussian
    seconds: float


def run_pathfinder(model: ModelLike, key, config: PathfinderConfig) -> PathfinderRun:
    """The pooled draws of ``config.paths`` Pathfinder paths, with their PSIS weights."""
    import jax
    from blackjax.vi import pathfinder

    started = time.perf_counter()
    init_key, run_key = jax.random.split(key)
    density = FlatDensity(model)
    starts = jax.random.uniform(init_key, (config.paths, density.dim), minval=-2.0, maxval=2.0)

    @jax.jit
    def paths(keys, starts):
        """One path after another (``lax.map``): vmapped L-BFGS line searches compile three times slower."""
        def one(args):
            path_key, start = args
            state, _ = pathfinder.approximate(path_key, density, start, config.elbo_draws,
                                              maxiter=config.max_iterations, maxcor=config.history,
                                              ftol=config.relative_tolerance)
            z, log_q = pathfinder.sample(jax.random.fold_in(path_key, 1), state, config.draws_per_path)
            return state.elbo, z, log_q

        return jax.lax.map(one, (keys, starts))

    path_elbo, z, log_q = paths(jax.random.split(run_key, config.paths), starts)
    path_elbo = np.asarray(path_elbo)
    if not np.any(np.isfinite(path_elbo)):
        raise RuntimeModelError(Diagnostic("E405", "no Pathfinder path found a point where the log density is finite",
                                           hint="check the priors and that the data lie in each distribution's support"))
    z = np.asarray(z).reshape(-1, density.dim)
    # a path whose every Gaussian failed (ELBO -inf) contributes no weight
    failed = np.repeat(~np.isfinite(path_elbo), config.draws_per_path)
    log_p = np.where(failed, -np.inf, psis.log_density_at(model, jax.vmap(density.unravel)(z)))
    weights = psis.importance(log_p, np.asarray(log_q).reshape(-1))
    return PathfinderRun(density, z, weights, path_elbo, time.perf_counter() - started)


def fit_pathfinder(model: ModelLike, config: PathfinderConfig):
    """Fit ``model`` with multi-path Pathfinder; returns an ``InferenceData`` of the resampled draws."""
    import jax

    _validate(config)
    seed, key = begin_fit(config)
    run = run_pathfinder(model, key, config)
    weights = run.importance
    elbos = ", ".join(f"{e:.6g}" for e in run.path_elbo)
    status_printer(config.progress)(f"pathfinder: {config.paths} paths (ELBO {elbos}); {psis.verdict(weights.pareto_k)}")
    shape = (config.chains, config.draws)
    index = psis.resample(np.random.default_rng(seed), weights.log_weights, shape[0] * shape[1])
    paths = np.arange(weights.log_p.size) // config.draws_per_path  # the path each pooled draw came from
    record = {**dataclasses.asdict(config), "method": "pathfinder", "seed": seed, "pareto_k": weights.pareto_k,
              "importance_ess": weights.ess, "elbo": float(np.max(run.path_elbo)),
              "path_elbo": run.path_elbo.tolist(),
              "fit_seconds": run.seconds, "draws_from": "psis_resampled"}
    return build_result(model, jax.vmap(run.density.unravel)(run.z[index]), weights, index, shape, {"path": paths},
                        {}, record, seed, jax.random.fold_in(key, 1 << 20))


def pathfinder_inits(model: ModelLike, chains: int, seed: int) -> dict:
    """Unconstrained initial values for ``chains`` NUTS chains, ``(chains, ...)`` per sampled site:
    distinct draws resampled from multi-path Pathfinder's pool."""
    import jax

    config = PathfinderConfig(draws_per_path=max(100, chains))
    run = run_pathfinder(model, jax.random.fold_in(jax.random.PRNGKey(seed), 7), config)
    weights = np.exp(run.importance.log_weights - run.importance.log_weights.max())
    chosen = np.random.default_rng(seed).choice(weights.size, size=chains, replace=False, p=weights / weights.sum())
    return jax.vmap(run.density.unravel)(run.z[chosen])


def _validate(config: PathfinderConfig) -> None:
    checks = [
        (config.paths >= 1, "--paths must be at least 1"),
        (config.chains >= 1, "--chains must be at least 1"),
        (config.draws >= 1, "--draws must be at least 1"),
        (config.draws_per_path >= 1, "--draws-per-path must be at least 1"),
        (config.max_iterations >= 1, "--max-iterations must be at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise option_error(message)
