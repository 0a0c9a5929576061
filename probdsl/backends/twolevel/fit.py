"""The two-level backend: set up the levels, tune the base chains on the coarse level, run
delayed acceptance (``da.py``) or the two-level estimator (``estimator.py``), and build the result
with its cost accounting (fine solves, coarse evaluations, stage-two acceptance, ESS per fine solve)."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from probdsl.backends.draws import (
    begin_fit, nonfinite_init_error, only, option_error, posterior_groups, progress_bar, show_progress,
    site_names, status_printer,
)
from probdsl.backends.twolevel import da, estimator, kernels
from probdsl.backends.twolevel.levels import Levels
from probdsl.model_interface import PARAM, ModelLike
from probdsl.results.inference_data import build_inference_data

MODES = ("da", "estimator")
WINDOW = 50          # fine iterations per compiled window (progress is shown between windows)
BATCH = 256          # estimator: fine evaluations per compiled batch
INIT_TRIES = 20


@dataclass
class TwoLevelConfig:
    mode: str = "da"
    base: str = "nuts"           # the base chains' kernel (kernels.BASES)
    subchain: int = 5            # coarse steps per fine evaluation
    error_model: bool = True     # da: adapt a bias correction of the coarse level during the fine warmup
    chains: int = 4
    warmup: int = 1000           # base-chain tuning steps on the coarse level
    fine_warmup: int = 100       # da: fine iterations before the kept draws (the error model adapts there)
    draws: int = 1000            # per chain: fine iterations kept (da) or correction steps (estimator)
    init: str | None = None      # None: uniform on (-2, 2) unconstrained; "pathfinder": Pathfinder draws on the coarse level
    seed: int | None = None
    x64: bool = False
    progress: bool = True


@dataclass
class Run:
    positions: np.ndarray                 # (chains, draws, dim): the fine chain's states
    per_draw: dict                        # sample stats, (chains, draws)
    costs: dict                           # fine solves, coarse evaluations, acceptance rates
    seconds: dict = field(default_factory=dict)
    estimate: object = None               # estimator mode: estimator.Estimate per quantity


def fit_twolevel(model: ModelLike, coarse: ModelLike, config: TwoLevelConfig, surrogate: dict):
    """Sample ``model`` (the fine level, exactly) using ``coarse`` as its cheap level.

    ``surrogate`` describes the coarse level for the record: ``{"surrogate": "coarse" | "file" |
    "neural", ...}`` (a neural one adds its training solves and validation error)."""
    import jax

    _validate(config)
    seed, key = begin_fit(config)
    say = status_printer(config.progress)
    levels = Levels(model, coarse, error_model=config.error_model and config.mode == "da")
    init_key, warm_key, run_key, result_key = jax.random.split(key, 4)
    seconds = {}
    started = time.perf_counter()
    if config.init == "pathfinder":
        say("initial points: Pathfinder on the coarse level")
    starts, init_solves = _initial_positions(levels, model, init_key, config.chains, config.init == "pathfinder")
    say(f"base chains: {config.base} on the coarse level, {config.warmup} tuning steps")
    warm = jax.jit(jax.vmap(lambda k, x: kernels.warm_up(config.base, levels.coarse, k, x, config.warmup)))
    tuned = jax.block_until_ready(warm(jax.random.split(warm_key, config.chains), starts))
    seconds["base_warmup"] = time.perf_counter() - started
    run = (_run_da if config.mode == "da" else _run_estimator)(levels, config, tuned, run_key, say)
    run.costs["fine_solves"] += init_solves + surrogate.get("training_solves", 0)
    run.seconds = {**seconds, **run.seconds}
    return _result(model, levels, config, seed, run, surrogate, result_key)


def _validate(config: TwoLevelConfig) -> None:
    if config.mode not in MODES:
        raise option_error(f"unknown two-level mode `{config.mode}`", f"choose one of: {', '.join(MODES)}")
    if config.base not in kernels.BASES:
        raise option_error(f"unknown base chain `{config.base}`", f"choose one of: {', '.join(kernels.BASES)}")
    if config.subchain < 1:
        raise option_error("--subchain must be at least 1")
    if config.init not in (None, "pathfinder"):
        raise option_error(f"--init {config.init} is not available with --method twolevel",
                           "leave it out (uniform initial points) or pass --init pathfinder")


def _initial_positions(levels: Levels, model, key, chains: int, pathfinder: bool):
    """One point per chain where both levels are finite (``INIT_TRIES`` rounds at most): uniform on (-2, 2)
    in the unconstrained space, or distinct draws of multi-path Pathfinder run on the coarse level (for
    base chains that cannot find the posterior from afar); returns the points and the fine solves spent."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    both = jax.jit(jax.vmap(lambda x: (levels.fine(x), levels.coarse(x))))
    found = np.full((chains, levels.dim), np.nan)
    solves = 0
    for attempt in range(INIT_TRIES):
        needed = np.flatnonzero(np.isnan(found[:, 0]))
        if needed.size == 0:
            break
        round_key = jax.random.fold_in(key, attempt)
        if pathfinder:
            from probdsl.backends.vi.pathfinder import pathfinder_inits

            drawn = pathfinder_inits(levels.coarse_model, chains, int(jax.random.randint(round_key, (), 0, 2**30)))
            candidates = np.asarray(jax.vmap(lambda u: ravel_pytree(u)[0])(drawn))
        else:
            candidates = np.asarray(jax.random.uniform(round_key, (chains, levels.dim), minval=-2.0, maxval=2.0))
        fine, coarse = (np.asarray(v) for v in both(jnp.asarray(candidates)))
        solves += chains
        good = np.isfinite(fine) & np.isfinite(coarse)
        for chain in needed:
            if good[chain]:
                found[chain] = candidates[chain]
    if np.isnan(found).any():
        raise nonfinite_init_error(model, key)
    return jnp.asarray(found), solves


def compiled_window(step_all):
    """A jitted run of ``WINDOW`` steps of ``step_all(states, keys, *extra) -> (states, stats)``; steps whose
    ``active`` flag is off are skipped (a fit compiles one window, whatever its number of iterations)."""
    import jax
    import jax.numpy as jnp

    def window(states, keys, active, *extra):
        def body(states, inputs):
            step_keys, on = inputs

            def skip(states):
                shapes = jax.eval_shape(lambda: step_all(states, step_keys, *extra)[1])
                return states, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

            return jax.lax.cond(on, lambda s: step_all(s, step_keys, *extra), skip, states)

        return jax.lax.scan(body, states, (keys, active))

    return jax.jit(window)


def _windows(window, states, iterations: int, key, label: str, chains: int, progress: bool, *extra):
    """``iterations`` steps through ``window`` (``compiled_window``), with a progress bar; the stats of
    every step, stacked."""
    import jax

    bar = progress_bar(label, iterations, show_progress(progress))
    parts, done = [], 0
    while done < iterations:
        n = min(WINDOW, iterations - done)
        keys = jax.random.split(jax.random.fold_in(key, done), (WINDOW, chains))
        states, stats = window(states, keys, np.arange(WINDOW) < n, *extra)
        parts.append(jax.tree.map(lambda v: np.asarray(v)[:n], stats))
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    return states, jax.tree.map(lambda *p: np.concatenate(p), *parts)


def _run_da(levels: Levels, config: TwoLevelConfig, tuned, key, say) -> Run:
    import jax
    import jax.numpy as jnp

    def step_all(states, keys, adapt):
        return jax.vmap(lambda state, chain_tuned, k: da.step(levels, config.base, chain_tuned, config.subchain,
                                                              adapt, state, k))(states, tuned, keys)

    window = compiled_window(step_all)
    warm_key, draw_key = jax.random.split(key)
    states = jax.jit(jax.vmap(functools.partial(da.initial_state, levels)))(tuned.position)
    seconds, coarse_evaluations, warm_acceptance = {}, 0, None
    started = time.perf_counter()
    if config.fine_warmup:
        say(f"fine warmup: {config.fine_warmup} delayed-acceptance iterations"
            + (f", adapting the error model of {', '.join(sorted(levels.corrected))}" if levels.corrected else ""))
        states, warm = _windows(window, states, config.fine_warmup, warm_key, "fine warmup", config.chains,
                                config.progress, jnp.asarray(True))
        coarse_evaluations += int(warm.coarse_evaluations.sum())
        warm_acceptance = float(warm.accepted.mean())
    states = jax.vmap(lambda s: da.freeze(levels, s, config.error_model))(states)
    seconds["fine_warmup"] = time.perf_counter() - started
    started = time.perf_counter()
    states, stats = _windows(window, states, config.draws, draw_key, "sampling", config.chains,
                             config.progress, jnp.asarray(False))
    seconds["sampling"] = time.perf_counter() - started
    chain_major = {name: np.swapaxes(value, 0, 1) for name, value in stats._asdict().items()}
    positions = chain_major.pop("position")
    costs = {
        "fine_solves": config.chains * (1 + config.fine_warmup + config.draws),
        "fine_solves_sampling": config.chains * config.draws,
        "coarse_evaluations": coarse_evaluations + int(stats.coarse_evaluations.sum()),
        "stage2_acceptance": float(stats.accepted.mean()),
        "fine_warmup_stage2_acceptance": warm_acceptance,
        "subchain_acceptance": float(stats.subchain_acceptance.mean()),
        "error_model_sites": sorted(levels.corrected),
    }
    per_draw = {"lp": chain_major["fine_lp"], "coarse_lp": chain_major["coarse_lp"],
                "accepted": chain_major["accepted"], "subchain_acceptance": chain_major["subchain_acceptance"],
                "coarse_evaluations": chain_major["coarse_evaluations"]}
    return Run(positions, per_draw, costs, seconds)


def _run_estimator(levels: Levels, config: TwoLevelConfig, tuned, key, say) -> Run:
    import jax
    import jax.numpy as jnp

    level0_key, correct_key = jax.random.split(key)
    started = time.perf_counter()
    walk_all = jax.vmap(lambda position, chain_tuned, k: kernels.walk(config.base, levels.coarse, chain_tuned, k,
                                                                      position, config.subchain))

    def base_step(positions, keys):
        walked = walk_all(positions, tuned, keys)
        return walked.positions[:, -1], walked

    say(f"level 0: {config.draws * config.subchain} base-chain steps per chain on the coarse level")
    _, walked = _windows(compiled_window(base_step), tuned.position, config.draws, level0_key, "level 0", config.chains,
                         config.progress)
    level0 = np.moveaxis(walked.positions, 0, 1).reshape(config.chains, config.draws * config.subchain, -1)
    proposals = np.moveaxis(walked.positions[:, :, -1], 0, 1)        # (chains, draws, dim)
    seconds = {"level0": time.perf_counter() - started}
    started = time.perf_counter()
    flat = proposals.reshape(-1, levels.dim)
    fine_lp = _in_batches(levels.fine, flat, "fine solves", config.progress).reshape(proposals.shape[:2])
    coarse_lp = _in_batches(levels.coarse, flat, None, False).reshape(proposals.shape[:2])
    corrected = jax.jit(jax.vmap(estimator.correct))(
        jnp.asarray(proposals), jnp.asarray(fine_lp), jnp.asarray(coarse_lp), jax.random.split(correct_key, config.chains))
    seconds["correction"] = time.perf_counter() - started
    positions = np.asarray(corrected.positions)
    quantities = _quantities(levels)
    estimate = estimator.estimate(_in_batches(quantities, level0.reshape(-1, levels.dim), None, False)
                                  .reshape(*level0.shape[:2], -1),
                                  _in_batches(quantities, positions.reshape(-1, levels.dim), None, False)
                                  .reshape(*positions.shape[:2], -1),
                                  _in_batches(quantities, flat, None, False).reshape(*proposals.shape[:2], -1))
    costs = {
        "fine_solves": config.chains * config.draws,
        "fine_solves_sampling": config.chains * config.draws,
        "coarse_evaluations": int(walked.evaluations.sum()),
        "stage2_acceptance": float(np.asarray(corrected.accepted).mean()),
        "subchain_acceptance": float(walked.acceptance.mean()),
        "level0_draws": int(level0.shape[0] * level0.shape[1]),
    }
    per_draw = {"lp": np.asarray(corrected.fine_lp), "coarse_lp": np.asarray(corrected.coarse_lp),
                "accepted": np.asarray(corrected.accepted)}
    return Run(positions, per_draw, costs, seconds, estimate)


def _in_batches(function, points: np.ndarray, label: str | None, progress: bool) -> np.ndarray:
    """``function`` at each row of ``points``, vmapped over batches of ``BATCH`` rows."""
    import jax
    import jax.numpy as jnp

    batched = jax.jit(jax.vmap(function))
    bar = progress_bar(label, len(points), show_progress(progress)) if label else None
    out = []
    for start in range(0, len(points), BATCH):
        chunk = points[start:start + BATCH]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], BATCH - len(chunk), axis=0)])
        out.append(np.asarray(batched(jnp.asarray(padded)))[:len(chunk)])
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return np.concatenate(out)


def _quantities(levels: Levels):
    """The constrained parameter values at a flat unconstrained point, flattened (the estimator's Q)."""
    from jax.flatten_util import ravel_pytree

    def q(theta):
        return ravel_pytree(_params(levels, levels.unravel(theta)))[0]

    return q


def _params(levels: Levels, unconstrained: dict) -> dict:
    model = levels.fine_model
    return only(model.constrain(unconstrained), site_names(model, PARAM))


def _quantity_labels(levels: Levels) -> list[str]:
    """``name[i,j]`` for each element of ``_quantities`` (1-based, in its order)."""
    import jax
    import jax.numpy as jnp

    shapes = jax.eval_shape(lambda: _params(levels, levels.unravel(jnp.zeros(levels.dim))))
    labels = []
    for name in sorted(shapes):
        shape = shapes[name].shape
        labels += [name] if not shape else [f"{name}[{','.join(str(i + 1) for i in index)}]"
                                            for index in np.ndindex(*shape)]
    return labels


def _result(model, levels: Levels, config: TwoLevelConfig, seed: int, run: Run, surrogate: dict, key):
    import arviz as az
    import jax
    import xarray as xr

    constrain = jax.jit(jax.vmap(jax.vmap(lambda theta: model.constrain(levels.unravel(theta)))))
    samples = {k: np.asarray(v) for k, v in constrain(run.positions).items()}
    posterior, log_lik, predictive = posterior_groups(model, samples, key)
    params = only(posterior, site_names(model, PARAM))
    ess = az.ess(az.convert_to_dataset(params))
    min_ess = float(min(np.nanmin(ess[name].values) for name in ess.data_vars))
    costs = dict(run.costs)
    costs["min_ess_bulk"] = min_ess
    costs["ess_per_fine_solve"] = min_ess / costs["fine_solves"]
    record = {"method": "twolevel", "mode": config.mode, "base": config.base, "subchain": config.subchain,
              "chains": config.chains, "warmup": config.warmup, "draws": config.draws,
              "fine_warmup": config.fine_warmup if config.mode == "da" else 0,
              "error_model": bool(levels.corrected), **surrogate, **costs,
              **{f"{name}_seconds": value for name, value in run.seconds.items()}}
    idata = build_inference_data(model, posterior, run.per_draw, log_lik, predictive, record, seed)
    if run.estimate is not None:
        labels = _quantity_labels(levels)
        idata.add_groups({"twolevel_estimate": xr.Dataset(
            {name: ("quantity", np.asarray(values)) for name, values in run.estimate._asdict().items()},
            coords={"quantity": labels})})
    return idata
