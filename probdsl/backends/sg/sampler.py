"""The stochastic-gradient backend: tune, run vectorized chains on minibatches, build the result.

Every step touches one minibatch of rows (two for the splitting scheme's half kicks
share one; control variates evaluate it at two points).  Chains run vectorized on
one device, the data stay on the device, batches are drawn there.  The result is
an ``InferenceData`` like NUTS's: the posterior, sample_stats with the step size
and the minibatch-noise diagnostic per kept draw, and (when they fit in memory)
log_likelihood and posterior_predictive computed on the full data.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import (
    begin_fit, only, option_error, pointwise_log_likelihood, predict_sites, progress_bar, show_progress, site_names,
    status_printer, to_numpy,
)
from probdsl.backends.sg import tuning
from probdsl.backends.sg.integrators import INTEGRATORS
from probdsl.backends.sg.target import Target
from probdsl.errors import Diagnostic, RuntimeModelError
from probdsl.model_interface import DETERMINISTIC, GENERATED, OBSERVED, PARAM, ModelLike
from probdsl.results.inference_data import build_inference_data

OUTPUT_VALUES_LIMIT = 100_000_000  # chains x draws x rows above which per-row outputs are left out
PROGRESS_CHUNKS = 20
MODE_BATCH = 1024
PILOT_BATCH = 256


@dataclass
class SgConfig:
    """Settings of the stochastic-gradient samplers; None means "from the tuning phase"."""

    integrator: str = "splitting"
    chains: int = 4
    warmup: int = 1000          # steps run and discarded after tuning
    draws: int = 1000           # draws kept per chain
    thin: int = 10              # steps per kept draw
    step_size: float | None = None   # whitened units (see tuning.py)
    friction: float | None = None
    batch_size: int | None = None
    control_variates: bool = True
    mode_steps: int = 1000      # Adam steps of the mode search
    seed: int | None = None
    x64: bool = False
    progress: bool = True


def fit_sg(model: ModelLike, config: SgConfig):
    """Sample ``model`` with a stochastic-gradient sampler; returns an ``InferenceData``."""
    import jax

    _validate(config)
    seed, key = begin_fit(config)
    integrator = INTEGRATORS[config.integrator]
    keys = dict(zip(("init", "mode", "curvature", "eigen", "noise", "chains", "predict"),
                    jax.random.split(key, 7)))
    status = status_printer(config.progress)
    started = time.perf_counter()

    target = Target(model, keys["init"])
    status(f"{config.integrator}: {target.rows} rows, {target.dim} unconstrained parameters; tuning")
    mode = tuning.find_mode(target, keys["mode"], config.mode_steps, config.batch_size or min(target.rows, MODE_BATCH))
    if not bool(np.all(np.isfinite(mode))):
        raise _blew_up("the mode search diverged (non-finite parameters)", "check the priors, or pass --batch-size")
    scale = tuning.whitening_scale(tuning.hessian_diagonal(target, mode, keys["curvature"]))
    lambda_max = tuning.largest_eigenvalue(target, mode, scale, keys["eigen"])
    step = config.step_size or tuning.STEP_FRACTION / math.sqrt(max(lambda_max, 1e-12))
    friction = tuning.DEFAULT_FRICTION if config.friction is None else config.friction
    anchor = None
    if config.control_variates:
        mode, anchor = tuning.refine_mode(target, mode, scale, lambda_max)
    pilot = min(target.rows, PILOT_BATCH)
    noise_pilot = tuning.gradient_noise_var(_whitened_gradient(target, mode, scale, pilot, anchor), keys["noise"],
                                            target.dim, target.arrays)
    batch = config.batch_size or tuning.default_batch(integrator, noise_pilot, pilot, step, friction, target.rows)
    grad_z = _whitened_gradient(target, mode, scale, batch, anchor)
    tuned_s = time.perf_counter() - started
    status(f"tuned in {tuned_s:.1f} s: step {step:.3g}, friction {friction:g}, batch {batch}"
           f"{' with control variates' if anchor is not None else ''}")

    run = _runner(integrator, grad_z, step, friction)
    init_key, warmup_key, sample_key = jax.random.split(keys["chains"], 3)
    states = _initial_states(integrator, grad_z, target, config.chains, init_key)
    warmup_started = time.perf_counter()
    states, _ = _in_chunks(run, states, warmup_key, target.arrays, config.warmup, thin=1, diagnose=False,
                           label="warmup", progress=show_progress(config.progress))
    jax.block_until_ready(states)
    sampling_started = time.perf_counter()
    states, (positions, noise_var) = _in_chunks(run, states, sample_key, target.arrays, config.draws,
                                                thin=config.thin, diagnose=True, label="sampling",
                                                progress=show_progress(config.progress))
    positions.block_until_ready()
    sampling_s = time.perf_counter() - sampling_started

    thetas = np.asarray(mode + scale * positions)
    noise_var = np.asarray(noise_var)
    steps = config.warmup + config.draws * config.thin
    gradients = config.chains * (steps * integrator.gradients_per_step + 2 * config.draws) * (2 if anchor is not None else 1)
    record = {**dataclasses.asdict(config), "method": "sghmc", "seed": seed, "step_size": step, "friction": friction,
              "batch_size": batch, "lambda_max": lambda_max, "rows": target.rows, "minibatch_gradients": gradients,
              "tuning_seconds": tuned_s, "warmup_seconds": sampling_started - warmup_started,
              "sampling_seconds": sampling_s}
    stats = {
        "step_size": np.full(noise_var.shape, step),
        "gradient_noise": noise_var,
        "noise_ratio": np.asarray(integrator.noise_ratio(noise_var, step, friction)),
        "diverging": ~np.all(np.isfinite(thetas), axis=-1),
    }
    samples, row_outputs = _outputs(model, target, thetas, keys["predict"], status)
    return build_inference_data(model, samples, stats, row_outputs["log_likelihood"],
                                row_outputs["posterior_predictive"], record, seed)


def _whitened_gradient(target: Target, mode, scale, batch: int, anchor_grad):
    """``grad_z(z, key, arrays)`` at ``theta = mode + scale * z`` from one minibatch.

    With ``anchor_grad`` (the full gradient at the mode) it is the control-variate
    estimate ``full(mode) + batch(theta) - batch(mode)`` (Baker et al. 2019), both
    batch terms on the same rows.
    """
    import jax
    import jax.numpy as jnp

    grad, batch_grad = jax.grad(target.log_density), target.batch_grad(batch)

    def plain(z, key, arrays):
        return scale * batch_grad(mode + scale * z, key, arrays)

    def controlled(z, key, arrays):
        rows = target.draw_rows(key, batch)
        here, there = jax.vmap(grad, (0, None, None))(jnp.stack([mode + scale * z, mode]), rows, arrays)
        return scale * (anchor_grad + here - there)

    return plain if anchor_grad is None else controlled


def _initial_states(integrator, grad_z, target: Target, chains: int, key):
    """Chains start one posterior sd from the mode (``z ~ N(0, I)``) with momentum ``N(0, I)``."""
    import jax

    z_key, r_key, g_key = jax.random.split(key, 3)
    z = jax.random.normal(z_key, (chains, target.dim))
    r = jax.random.normal(r_key, (chains, target.dim))
    g = jax.jit(jax.vmap(grad_z, (0, 0, None)))(z, jax.random.split(g_key, chains), target.arrays)
    return jax.vmap(integrator.initial_state)(z, r, g)


def _runner(integrator, grad_z, step: float, friction: float):
    """``run(states, keys, arrays, thin, diagnose)``: per chain, one kept draw per key after
    ``thin`` steps; with ``diagnose``, the gradient-noise variance at each kept draw from two
    independent minibatches (``E[(g1 - g2)^2] / 2``, mean over coordinates)."""
    import jax
    import jax.numpy as jnp

    def one_step(state, key, arrays):
        batch_key, noise_key = jax.random.split(key)
        xi = jax.random.normal(noise_key, state.position.shape, state.position.dtype)
        return integrator.step(state, lambda z, k: grad_z(z, k, arrays), batch_key, xi, step, friction)

    def kept(state, key, arrays, thin, diagnose):
        step_keys = jax.random.split(key, thin + 1)
        state, _ = jax.lax.scan(lambda s, k: (one_step(s, k, arrays), None), state, step_keys[:thin])
        noise = jnp.zeros((), state.position.dtype)
        if diagnose:
            k1, k2 = jax.random.split(step_keys[thin])
            g1, g2 = grad_z(state.position, k1, arrays), grad_z(state.position, k2, arrays)
            noise = jnp.mean(jnp.square(g1 - g2)) / 2.0
        return state, (state.position, noise)

    @functools.partial(jax.jit, static_argnames=("thin", "diagnose"))
    def run(states, keys, arrays, thin: int, diagnose: bool):
        def chain(state, chain_keys):
            return jax.lax.scan(lambda s, k: kept(s, k, arrays, thin, diagnose), state, chain_keys)

        return jax.vmap(chain)(states, keys)

    return run


def _in_chunks(run, states, key, arrays, count: int, thin: int, diagnose: bool, label: str, progress: bool):
    """``count`` kept draws per chain in equal chunks (one compiled program), with a progress bar."""
    import jax
    import jax.numpy as jnp

    if count == 0:
        return states, None
    chains = jax.tree_util.tree_leaves(states)[0].shape[0]
    chunk = _chunk_size(count)
    outputs = []
    bar = progress_bar(label, count, progress)
    for index in range(count // chunk):
        keys = jax.random.split(jax.random.fold_in(key, index), chains * chunk).reshape(chains, chunk, -1)
        states, out = run(states, keys, arrays, thin=thin, diagnose=diagnose)
        outputs.append(out)
        if bar is not None:
            jax.block_until_ready(out)
            bar.update(chunk)
    if bar is not None:
        bar.close()
    return states, jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=1), *outputs)


def _chunk_size(count: int) -> int:
    """The largest divisor of ``count`` at most ``count / PROGRESS_CHUNKS`` (at least 1)."""
    for size in range(max(count // PROGRESS_CHUNKS, 1), 0, -1):
        if count % size == 0:
            return size
    return 1


def _outputs(model: ModelLike, target: Target, thetas: np.ndarray, key, status):
    """Posterior draws of every site, and the per-row groups when they fit in memory.

    Parameters, and deterministic sites without rows, come from the parameters alone
    (the model run on one row); sites over rows, generated quantities, the pointwise
    log likelihood and the posterior predictive need the full data: they are computed
    only when ``chains x draws x rows`` is at most ``OUTPUT_VALUES_LIMIT``.
    """
    import jax
    from numpyro.infer.util import constrain_fn

    chains, draws = thetas.shape[:2]
    unconstrained = target.unravel_draws(thetas)
    constrain = jax.jit(jax.vmap(lambda u: constrain_fn(model.numpyro_model, (target.one_row,), {}, u,
                                                        return_deterministic=True)))
    flat = {k: v.reshape((chains * draws,) + v.shape[2:]) for k, v in unconstrained.items()}
    constrained = {k: np.asarray(v).reshape((chains, draws) + v.shape[1:]) for k, v in constrain(flat).items()}
    row_size = model.row_plan.size
    per_row = {s.name for s in model.sites if s.dims[:1] == (row_size,)}
    params = only(constrained, site_names(model, PARAM))
    samples = {k: v for k, v in constrained.items() if k not in per_row}
    wanted = (site_names(model, DETERMINISTIC) & per_row) | site_names(model, GENERATED)
    empty = {"log_likelihood": {}, "posterior_predictive": {}}
    if chains * draws * target.rows > OUTPUT_VALUES_LIMIT:
        status(f"left out: log_likelihood, posterior_predictive and per-row sites "
               f"({chains} x {draws} draws x {target.rows} rows is over {OUTPUT_VALUES_LIMIT:,} values; "
               "keep fewer draws with --draws or --thin)")
        return samples, empty
    predicted = predict_sites(model, params, key, wanted | site_names(model, OBSERVED))
    return ({**samples, **only(predicted, wanted)},
            {"log_likelihood": pointwise_log_likelihood(model, constrained),
             "posterior_predictive": only(to_numpy(predicted), site_names(model, OBSERVED))})


def _blew_up(message: str, hint: str) -> RuntimeModelError:
    return RuntimeModelError(Diagnostic("E403", message, hint=hint))


def _validate(config: SgConfig) -> None:
    checks = [
        (config.integrator in INTEGRATORS,
         f"unknown --integrator `{config.integrator}`; choose one of: {', '.join(INTEGRATORS)}"),
        (config.chains >= 1, "--chains must be at least 1"),
        (config.warmup >= 0, "--warmup must be at least 0"),
        (config.draws >= 1, "--draws must be at least 1"),
        (config.thin >= 1, "--thin must be at least 1"),
        (config.step_size is None or config.step_size > 0, "--step-size must be positive"),
        (config.friction is None or config.friction > 0, "--friction must be positive"),
        (config.batch_size is None or config.batch_size >= 1, "--batch-size must be at least 1"),
        (config.mode_steps >= 0, "--mode-steps must be at least 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise option_error(message)
