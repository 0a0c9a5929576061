"""Maximising the ELBO: Adam on the guide's parameters, stopped on a smoothed plateau.

The ELBO is estimated by NumPyro's ``Trace_ELBO`` (reparameterised draws from the
guide).  Steps run in compiled windows of ``WINDOW``; after each window its mean
ELBO is compared with the previous window's.  A *plateau* is a gain smaller than
``PLATEAU_Z`` standard errors of that difference (or than ``ABS_TOL`` nats): the
first plateau divides the learning rate by ``DECAY`` (the parameters stop jittering
at the scale of the rate), the second stops the fit.  A step whose ELBO estimate or
gradient is not finite is skipped (``optax.apply_if_finite``'s rule); a window where
most steps are skipped stops the fit with the ``.pdl`` statement at fault.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from probdsl.errors import Diagnostic, RuntimeModelError

WINDOW = 100
PLATEAU_Z = 2.0
ABS_TOL = 0.01
DECAY = 10.0
PHASES = 2
CLIP_NORM = 10.0
EXPLAIN_DRAWS = 256


@dataclass
class Optimized:
    params: dict              # the guide's (constrained) parameters
    elbo: np.ndarray          # the ELBO estimate at every step (NaN where the step was skipped)
    steps: int
    stopped: str              # "plateau" or "max_steps"
    skipped: int              # steps skipped for a non-finite ELBO or gradient
    gradients: int            # model gradient evaluations (steps x particles)


def maximize_elbo(model, guide, key, *, learning_rate: float, max_steps: int, particles: int,
                  progress: bool, label: str) -> Optimized:
    """Fit ``guide`` to ``model`` from the guide's initial parameters (see the module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax
    from numpyro.infer import SVI, Trace_ELBO

    arrays = {k: jnp.asarray(v) for k, v in model.data.items() if isinstance(v, np.ndarray)}
    statics = {k: v for k, v in model.data.items() if k not in arrays}
    init_key, run_key = jax.random.split(key)
    svi = SVI(model.numpyro_model, guide, optax.identity(), Trace_ELBO(num_particles=particles))
    params = svi.optim.get_params(svi.init(init_key, model.data).optim_state)  # unconstrained
    optimizer = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.scale_by_adam())

    def negative_elbo(unconstrained, step_key, arrays):
        return svi.loss.loss(step_key, svi.constrain_fn(unconstrained), model.numpyro_model, guide,
                             {**statics, **arrays})

    def step(carry, step_key, arrays, rate):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(negative_elbo)(params, step_key, arrays)
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        updates, new_state = optimizer.update(grads, opt_state)
        new_params = optax.apply_updates(params, jax.tree.map(lambda u: -rate * u, updates))
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        carry = (jax.tree.map(keep, new_params, params), jax.tree.map(keep, new_state, opt_state))
        return carry, jnp.where(finite, -loss, jnp.nan)

    @jax.jit
    def run_window(params, opt_state, keys, arrays, rate):
        return jax.lax.scan(lambda c, k: step(c, k, arrays, rate), (params, opt_state), keys)

    opt_state = optimizer.init(params)
    rate, phase, previous, stopped = learning_rate, 0, None, "max_steps"
    trace: list[np.ndarray] = []
    bar = _progress_bar(label, max_steps, progress)
    windows = -(-max_steps // WINDOW)
    for index in range(windows):
        keys = jax.random.split(jax.random.fold_in(run_key, index), WINDOW)
        (new_params, new_state), elbos = run_window(params, opt_state, keys, arrays, rate)
        elbos = np.asarray(elbos)
        finite = np.isfinite(elbos)
        if finite.sum() < WINDOW / 2:
            if bar is not None:
                bar.close()
            raise _nonfinite_error(model, guide, svi.constrain_fn(params), key, index * WINDOW)
        params, opt_state = new_params, new_state
        trace.append(elbos)
        current = (float(elbos[finite].mean()), float(elbos[finite].var()), int(finite.sum()))
        if bar is not None:
            bar.update(WINDOW)
            bar.set_postfix(elbo=f"{current[0]:.6g}", lr=f"{rate:.2g}")
        if previous is not None and _plateau(previous, current):
            phase += 1
            if phase == PHASES:
                stopped = "plateau"
                break
            rate, previous = rate / DECAY, None
        else:
            previous = current
    if bar is not None:
        bar.close()
    elbo = np.concatenate(trace)
    return Optimized(params=svi.constrain_fn(params), elbo=elbo, steps=elbo.size, stopped=stopped,
                     skipped=int((~np.isfinite(elbo)).sum()), gradients=elbo.size * particles)


def _plateau(previous: tuple[float, float, int], current: tuple[float, float, int]) -> bool:
    """The mean ELBO gained from the previous window is within noise (or under ``ABS_TOL``)."""
    gain = current[0] - previous[0]
    standard_error = np.sqrt(previous[1] / previous[2] + current[1] / current[2])
    return gain < max(PLATEAU_Z * standard_error, ABS_TOL)


def _nonfinite_error(model, guide, params, key, step: int) -> RuntimeModelError:
    """The ELBO stopped being finite: name the ``.pdl`` statement, from draws of the last good guide."""
    notes = ()
    culprit = _nonfinite_draw(model, guide, params, key)
    if culprit is not None and hasattr(model, "explain_nonfinite"):
        explanation = model.explain_nonfinite(culprit)
        notes = (explanation,) if explanation else ()
    hint = ("the guide puts mass where the model's density is not finite; check the support of the priors and data"
            if culprit is not None else
            "the optimiser diverged; pass a smaller --learning-rate")
    return RuntimeModelError(Diagnostic("E404", f"the ELBO is not finite from step {step} on", notes=notes, hint=hint))


def _nonfinite_draw(model, guide, params, key) -> dict | None:
    """Constrained values of a draw from ``q`` where the model's log density is not finite, if one is found."""
    import jax
    from numpyro.infer.util import constrain_fn

    from probdsl.backends.vi.guides import unpack

    z = guide.get_posterior(params).sample(key, (EXPLAIN_DRAWS,))
    unconstrained = unpack(guide, z)
    log_p = np.asarray(jax.vmap(model.log_density)(unconstrained))
    bad = np.flatnonzero(~np.isfinite(log_p))
    if bad.size == 0 or not np.all(np.isfinite(np.asarray(z))):
        return None
    one = {k: v[bad[0]] for k, v in unconstrained.items()}
    return constrain_fn(model.numpyro_model, (model.data,), {}, one)


def _progress_bar(label: str, total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, file=sys.stderr)
