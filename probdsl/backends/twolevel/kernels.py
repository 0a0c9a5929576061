"""The base chains: Markov kernels on the coarse level, tuned in a warmup and then fixed.

A delayed-acceptance proposal is the end of a subchain of one of these kernels,
so each must leave the coarse posterior invariant with fixed settings (detailed
balance): NUTS with the step size and diagonal mass matrix of BlackJAX's window
adaptation; random-walk Metropolis with the covariance of its own warmup draws
(scaled by 2.38 / sqrt(d)); preconditioned Crank-Nicolson around the Gaussian of
those draws (``x' = m + sqrt(1 - b^2) (x - m) + b L z``, reversible for that
Gaussian, so its Metropolis ratio is the target over the Gaussian).  The last
two need no gradient.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

BASES = ("nuts", "rwm", "pcn")
ROUND = 100          # steps per adaptation round of rwm and pcn
TARGET_ACCEPT = {"rwm": 0.234, "pcn": 0.3}


class Tuned(NamedTuple):
    """The fixed settings of one chain's kernel (leading axis: chain, once vmapped)."""

    position: object          # where the warmup left the chain
    step_size: object         # nuts: step size; rwm: scale of the Cholesky factor; pcn: b
    inverse_mass: object      # nuts: diagonal inverse mass matrix
    mean: object              # rwm, pcn: mean of the warmup draws
    cholesky: object          # rwm, pcn: Cholesky factor of their covariance


class Walk(NamedTuple):
    positions: object         # (steps, dim): the state after each step
    acceptance: object        # the kernel's mean acceptance probability over the steps
    evaluations: object       # coarse log-density (and gradient) evaluations


def walk(kind: str, logdensity: Callable, tuned: Tuned, key, position, steps: int) -> Walk:
    """``steps`` transitions of the ``kind`` kernel on ``logdensity`` from ``position``."""
    import jax
    import jax.numpy as jnp

    algorithm = _algorithm(kind, logdensity, tuned)

    def one(state, step_key):
        state, info = algorithm.step(step_key, state)
        return state, (state.position, info.acceptance_rate, _evaluations(kind, info))

    _, (positions, acceptance, evaluations) = jax.lax.scan(one, algorithm.init(position),
                                                           jax.random.split(key, steps))
    return Walk(positions, jnp.mean(acceptance), jnp.sum(evaluations) + (kind == "nuts"))


def warm_up(kind: str, logdensity: Callable, key, position, steps: int) -> Tuned:
    """Tune one chain's kernel on ``logdensity`` in ``steps`` transitions from ``position``."""
    if kind == "nuts":
        return _warm_up_nuts(logdensity, key, position, steps)
    return _warm_up_metropolis(kind, logdensity, key, position, steps)


def _warm_up_nuts(logdensity, key, position, steps) -> Tuned:
    import blackjax
    import jax.numpy as jnp

    adaptation = blackjax.window_adaptation(blackjax.nuts, logdensity)
    (state, parameters), _ = adaptation.run(key, position, num_steps=steps)
    dim = position.shape[0]
    return Tuned(state.position, parameters["step_size"], parameters["inverse_mass_matrix"],
                 jnp.zeros(dim), jnp.eye(dim))


def _warm_up_metropolis(kind, logdensity, key, position, steps) -> Tuned:
    """Rounds of ``ROUND`` steps: each round's draws give the next round's covariance (and the pcn
    Gaussian's mean), its acceptance rate moves the scale towards ``TARGET_ACCEPT``.  pcn first runs
    half its rounds as rwm: its Gaussian must come from draws of the target."""
    import jax
    import jax.numpy as jnp

    dim = position.shape[0]
    rounds = max(steps // ROUND, 1)
    rwm_key, pcn_key = jax.random.split(key)
    start = Tuned(position, 2.38 / jnp.sqrt(dim), jnp.ones(dim), position, 0.1 * jnp.eye(dim))
    if kind == "rwm":
        return _rounds("rwm", logdensity, rwm_key, start, rounds)
    tuned = _rounds("rwm", logdensity, rwm_key, start, max(rounds // 2, 1))
    return _rounds("pcn", logdensity, pcn_key, tuned._replace(step_size=jnp.asarray(0.5)), max(rounds - rounds // 2, 1))


def _rounds(kind, logdensity, key, tuned: Tuned, rounds: int) -> Tuned:
    import jax
    import jax.numpy as jnp

    dim = tuned.position.shape[0]

    def round_(tuned, round_key):
        algorithm = _algorithm(kind, logdensity, tuned)

        def one(state, step_key):
            state, info = algorithm.step(step_key, state)
            return state, (state.position, info.acceptance_rate)

        state, (draws, acceptance) = jax.lax.scan(one, algorithm.init(tuned.position), jax.random.split(round_key, ROUND))
        rate = jnp.mean(acceptance)
        covariance = jnp.cov(draws, rowvar=False).reshape(dim, dim) + 1e-8 * jnp.eye(dim)
        cholesky = jnp.linalg.cholesky(covariance)
        usable = (rate > 0.02) & jnp.all(jnp.isfinite(cholesky))  # too few moves: keep the old covariance
        scale = tuned.step_size * jnp.exp(jnp.clip(2.0 * (rate - TARGET_ACCEPT[kind]), -1.0, 1.0))
        if kind == "pcn":
            scale = jnp.clip(scale, 0.01, 1.0)
            return tuned._replace(position=state.position, step_size=scale), rate  # its Gaussian stays fixed
        return Tuned(state.position, scale, tuned.inverse_mass, jnp.where(usable, jnp.mean(draws, axis=0), tuned.mean),
                     jnp.where(usable, cholesky, tuned.cholesky)), rate

    tuned, _ = jax.lax.scan(round_, tuned, jax.random.split(key, rounds))
    return tuned


def _algorithm(kind: str, logdensity: Callable, tuned: Tuned):
    import blackjax
    import jax
    import jax.numpy as jnp

    if kind == "nuts":
        return blackjax.nuts(logdensity, tuned.step_size, tuned.inverse_mass)
    if kind == "rwm":
        return blackjax.normal_random_walk(logdensity, tuned.step_size * tuned.cholesky)
    b = tuned.step_size

    def move(key, position):
        noise = tuned.cholesky @ jax.random.normal(key, position.shape, position.dtype)
        return tuned.mean + jnp.sqrt(1.0 - b ** 2) * (position - tuned.mean) + b * noise

    def relative(x):  # the target over the Gaussian the move is reversible for
        z = jax.scipy.linalg.solve_triangular(tuned.cholesky, x - tuned.mean, lower=True)
        return logdensity(x) + 0.5 * jnp.sum(z ** 2)

    return blackjax.rmh(relative, move)


def _evaluations(kind: str, info):
    return info.num_integration_steps if kind == "nuts" else 1
