"""Conditional flow matching on the model's simulations (FMPE: Dax et al. 2023).

Convention: ``t = 0`` is noise, ``t = 1`` the posterior.  For a pair
``(theta_1, x)`` from the simulations (standardised) and ``theta_0 ~ N(0, I)``,
the path is ``theta_t = (1 - (1 - s) t) theta_0 + t theta_1`` with ``s = 1e-4``
and the target velocity ``theta_1 - (1 - s) theta_0``; the loss is the mean
squared error of the network's velocity.  The time density is written out, not
an exponent with three meanings: ``t ~ Beta(a + 1, 1)``, density ``∝ t^a``,
more weight toward the data end for ``a > 0`` (``time_exponent``).

Adam with weight decay; the learning rate is halved when the validation loss
has not improved for ``patience // 3`` epochs, and training stops after
``patience`` epochs without improvement, keeping the best network seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import progress_bar, show_progress, status_printer

SIGMA_MIN = 1e-4


@dataclass
class TrainConfig:
    simulations: int = 10_000
    network: str = "mlp"        # mlp or transformer
    width: int = 128
    depth: int = 4
    context: int = 64
    max_rows: int | None = None  # transformer: the most rows a dataset may have (default: the data's)
    min_rows: int = 1            # transformer: the fewest rows a training dataset has
    time_column: str | None = None  # transformer: a data column that orders the rows (given Fourier features)
    params: list[str] | None = None  # the parameters to learn (default: all; the others are integrated over)
    batch_size: int = 256
    repeats: int = 4             # draws of (time, noise) per example and step
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 1000
    patience: int = 30
    validation: float = 0.1
    time_exponent: float = 1.0
    seed: int | None = None
    x64: bool = False
    progress: bool = True


@dataclass
class TrainingData:
    """Standardised training pairs: ``theta (n, d)``, ``x`` (``(n, m)``, or ``(n, rows, features)`` tokens)
    and ``rows`` (``(n,)``: how many rows of each example are real; all, for fixed-size data)."""

    theta: np.ndarray
    x: np.ndarray
    rows: np.ndarray


def cfm_loss(flow, theta1, x, rows, key, time_exponent: float, repeats: int = 1):
    """The flow-matching loss of a batch (see the module docstring), with ``repeats`` draws of the time and
    the noise per example: the data are encoded once for all of them."""
    import jax
    import jax.numpy as jnp

    context = jnp.repeat(jax.vmap(flow.encoder)(x, _mask(x, rows)), repeats, axis=0)
    theta1 = jnp.repeat(theta1, repeats, axis=0)
    n, d = theta1.shape
    k_time, k_noise = jax.random.split(key)
    t = jax.random.uniform(k_time, (n,)) ** (1.0 / (1.0 + time_exponent))  # Beta(a + 1, 1)
    theta0 = jax.random.normal(k_noise, (n, d), theta1.dtype)
    theta_t = (1 - (1 - SIGMA_MIN) * t[:, None]) * theta0 + t[:, None] * theta1
    target = theta1 - (1 - SIGMA_MIN) * theta0
    velocity = jax.vmap(flow.field)(t, theta_t, context)
    return jnp.mean(jnp.sum((velocity - target) ** 2, axis=1)) / d


def _mask(x, rows):
    """Per example, True for its real rows (tokens), or a placeholder for flat observations."""
    import jax.numpy as jnp

    if x.ndim == 2:
        return jnp.ones((x.shape[0], 1), bool)
    return jnp.arange(x.shape[1])[None, :] < rows[:, None]


def train(flow, data: TrainingData, config: TrainConfig, key, log=None):
    """Fit ``flow`` to ``data``; returns the best network (by validation loss) and a training record."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    say = log or status_printer(False)
    n = len(data.theta)
    held = max(1, int(round(config.validation * n)))
    order = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1))).permutation(n)
    valid, fit = order[:held], order[held:]
    batch = min(config.batch_size, len(fit))
    steps = max(1, len(fit) // batch)
    arrays = [jnp.asarray(a) for a in (data.theta, data.x, data.rows)]
    fit_arrays = [a[fit] for a in arrays]
    valid_arrays = [a[valid] for a in arrays]
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=config.learning_rate,
                                                      weight_decay=config.weight_decay)
    params, static = eqx.partition(flow, eqx.is_inexact_array)
    state = optimizer.init(params)

    def loss(params, batch_arrays, key):
        return cfm_loss(eqx.combine(params, static), *batch_arrays, key, config.time_exponent, config.repeats)

    @jax.jit
    def epoch(params, state, key):
        k_perm, k_steps = jax.random.split(key)
        index = jax.random.permutation(k_perm, len(fit))[: steps * batch].reshape(steps, batch)

        def step(carry, inputs):
            params, state = carry
            rows, k = inputs
            value, grads = jax.value_and_grad(loss)(params, [a[rows] for a in fit_arrays], k)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        (params, state), values = jax.lax.scan(step, (params, state), (index, jax.random.split(k_steps, steps)))
        return params, state, jnp.mean(values)

    validation_keys = jax.random.split(jax.random.fold_in(key, 1), 4)  # the same noise every epoch: comparable

    @jax.jit
    def validation_loss(params):
        return jnp.mean(jax.vmap(lambda k: loss(params, valid_arrays, k))(validation_keys))

    bar = progress_bar("training", config.max_epochs, show_progress(config.progress))
    best, best_params, since, history = np.inf, params, 0, []
    learning_rate = config.learning_rate
    start = time.perf_counter()
    for number in range(config.max_epochs):
        params, state, train_loss = epoch(params, state, jax.random.fold_in(key, 2 + number))
        valid_loss = float(validation_loss(params))
        history.append((float(train_loss), valid_loss))
        if not np.isfinite(valid_loss):
            say(f"training stopped at epoch {number + 1}: the loss is not finite")
            break
        if valid_loss < best:
            best, best_params, since = valid_loss, params, 0
        else:
            since += 1
            if since % max(1, config.patience // 3) == 0:
                learning_rate /= 2
                state.hyperparams["learning_rate"] = jnp.asarray(learning_rate)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(train=f"{float(train_loss):.4f}", validation=f"{valid_loss:.4f}", refresh=False)
        if since >= config.patience:
            break
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    say(f"trained {len(history)} epochs in {seconds:.1f} s; best validation loss {best:.4f}")
    record = {"epochs": len(history), "best_validation_loss": float(best), "final_train_loss": history[-1][0],
              "training_seconds": seconds, "training_pairs": len(fit), "validation_pairs": held,
              "steps_per_epoch": steps, "batch_size": batch}
    return eqx.combine(best_params, static), record, np.asarray(history)
