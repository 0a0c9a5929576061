"""Maximising the ELBO: Adam on the guide's parameters, stopped on a plateau.

Each step follows NumPyro's ``Trace_ELBO`` gradient (reparameterised draws from the
guide); a step whose ELBO estimate or gradient is not finite is skipped
(``optax.apply_if_finite``'s rule), and a window where most steps are skipped stops
the fit with the ``.pdl`` statement at fault.

Steps run in compiled windows of ``WINDOW``.  Progress is judged on a smooth
objective: after each window the ELBO is estimated from ``PLATEAU_DRAWS`` draws of
the guide made from one fixed key (common random numbers: the same base draws
pushed through the current parameters), so two windows' estimates differ by the
guide's change, not by Monte Carlo noise.  A *plateau* is ``PATIENCE`` windows
without a gain of ``MIN_GAIN`` nats (scaled with the learning rate) over the best
estimate so far: the first plateau
divides the learning rate by ``DECAY`` (Adam's parameters jitter at the scale of
the rate), the second stops the fit.  The fitted parameters (and those the
plateau test judges) are an exponential moving average of the iterates, which
averages Adam's jitter away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import progress_bar
from probdsl.errors import Diagnostic, RuntimeModelError

WINDOW = 100
PLATEAU_DRAWS = 256
MIN_GAIN = 1e-3
PATIENCE = 2
DECAY = 10.0
PHASES = 2
CLIP_NORM = 10.0
AVERAGING = 0.99  # the result is this exponential moving average of the iterates (~100 steps)
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
                  progress: bool, label: str, init_params: dict | None = None,
                  step_scales: dict | None = None) -> Optimized:
    """Fit ``guide`` to ``model`` from ``init_params`` (constrained; default: the guide's own), as
    the module docstring says; ``step_scales`` multiply the learning rate of the named parameters."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import optax
    from numpyro.infer import SVI, Trace_ELBO

    from probdsl.backends.vi.guides import draw_with_log_q, unpack

    arrays = {k: jnp.asarray(v) for k, v in model.data.items() if isinstance(v, np.ndarray)}
    statics = {k: v for k, v in model.data.items() if k not in arrays}
    init_key, run_key = jax.random.split(key)
    svi = SVI(model.numpyro_model, guide, optax.identity(), Trace_ELBO(num_particles=particles))
    with numpyro.validation_enabled(False):  # a first draw outside the support is the loop's business
        params = svi.optim.get_params(svi.init(init_key, model.data, init_params=init_params).optim_state)  # unconstrained
    plateau_key = jax.random.fold_in(key, 1)
    optimizer = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.scale_by_adam())
    scales = {k: (step_scales or {}).get(k, 1.0) for k in params}

    def negative_elbo(unconstrained, step_key, arrays):
        return svi.loss.loss(step_key, svi.constrain_fn(unconstrained), model.numpyro_model, guide,
                             {**statics, **arrays})

    def step(carry, step_key, arrays, rate):
        params, opt_state, average = carry
        loss, grads = jax.value_and_grad(negative_elbo)(params, step_key, arrays)
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        updates, new_state = optimizer.update(grads, opt_state)
        scaled = {k: jax.tree.map(lambda x, k=k: -rate * scales[k] * x, u) for k, u in updates.items()}
        new_params = optax.apply_updates(params, scaled)
        keep = lambda new, old: jnp.where(finite, new, old)  # noqa: E731
        params = jax.tree.map(keep, new_params, params)
        average = jax.tree.map(lambda a, p: AVERAGING * a + (1 - AVERAGING) * p, average, params)
        return (params, jax.tree.map(keep, new_state, opt_state), average), jnp.where(finite, -loss, jnp.nan)

    def smooth_elbo(unconstrained, arrays):
        """The ELBO from ``PLATEAU_DRAWS`` draws made from one fixed key (common random numbers)."""
        z, log_q = draw_with_log_q(guide.get_posterior(svi.constrain_fn(unconstrained)), plateau_key, PLATEAU_DRAWS)
        data = {**statics, **arrays}
        log_p = jax.vmap(lambda u: model.log_density(u, data))(unpack(guide, z))
        return jnp.mean(log_p - log_q)

    @jax.jit
    def run_window(carry, keys, arrays, rate):
        carry, elbos = jax.lax.scan(lambda c, k: step(c, k, arrays, rate), carry, keys)
        return carry, elbos, smooth_elbo(carry[2], arrays)

    carry = (params, optimizer.init(params), params)
    rate, phase, best, stalled, stopped = learning_rate, 0, -np.inf, 0, "max_steps"
    trace: list[np.ndarray] = []
    bar = progress_bar(label, max_steps, progress)
    for index in range(-(-max_steps // WINDOW)):
        keys = jax.random.split(jax.random.fold_in(run_key, index), WINDOW)
        new_carry, elbos, smooth = run_window(carry, keys, arrays, rate)
        elbos = np.asarray(elbos)
        if np.isfinite(elbos).sum() < WINDOW / 2:
            if bar is not None:
                bar.close()
            raise _nonfinite_error(model, guide, svi.constrain_fn(carry[0]), key, index * WINDOW)
        carry = new_carry
        trace.append(elbos)
        if bar is not None:
            bar.update(WINDOW)
            bar.set_postfix(elbo=f"{float(smooth):.6g}", lr=f"{rate:.2g}")
        if float(smooth) > best + MIN_GAIN * rate / learning_rate:
            best, stalled = float(smooth), 0
            continue
        stalled += 1
        if stalled == PATIENCE:
            phase += 1
            if phase == PHASES:
                stopped = "plateau"
                break
            rate, stalled, best = rate / DECAY, 0, float(smooth)  # the new phase is judged on its own gains
    if bar is not None:
        bar.close()
    elbo = np.concatenate(trace)
    return Optimized(params=svi.constrain_fn(carry[2]), elbo=elbo, steps=elbo.size, stopped=stopped,
                     skipped=int((~np.isfinite(elbo)).sum()), gradients=elbo.size * particles)


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
    import numpyro
    from numpyro.infer.util import constrain_fn

    from probdsl.backends.vi.guides import draw_with_log_q, unpack

    z, _ = draw_with_log_q(guide.get_posterior(params), key, EXPLAIN_DRAWS)
    unconstrained = unpack(guide, z)
    log_p = np.asarray(jax.vmap(model.log_density)(unconstrained))
    bad = np.flatnonzero(~np.isfinite(log_p))
    if bad.size == 0 or not np.all(np.isfinite(np.asarray(z))):
        return None
    one = {k: v[bad[0]] for k, v in unconstrained.items()}
    with numpyro.validation_enabled(False):  # the draw makes the density not finite: that is what is explained
        return constrain_fn(model.numpyro_model, (model.data,), {}, one)
