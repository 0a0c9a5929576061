"""One step of each stochastic-gradient sampler, in whitened coordinates.

The sampler works on ``z`` with ``theta = centre + scale * z`` (``scale`` from
the curvature at the mode, see ``tuning.py``), so the mass matrix is the
identity and the step size ``h`` and friction ``gamma`` are unit-free.
``grad(z, key)`` is an unbiased estimate of the gradient of the log density
(one fresh minibatch per call: ``key`` chooses it); ``xi`` is the step's
standard normal noise, drawn by the caller so a step is a plain function of
(state, noise) (the order tests read its linear map off with ``jax.jacfwd``).

- ``splitting``: the Lie-Trotter sampler of Franzese et al. (ICML 2022): one
  leapfrog step with one minibatch for both half kicks, then the exact
  Ornstein-Uhlenbeck refresh ``r <- a r + sqrt(1 - a^2) xi``, ``a = exp(-gamma h)``.
  Two gradients per step; second-order accurate with exact gradients.
- ``baoab``: kick h/2, drift h/2, exact OU over h, drift h/2, kick h/2 (Leimkuhler
  and Matthews); the end-of-step gradient is reused by the next step: one
  gradient per step; exact for Gaussian targets with exact gradients.
- ``euler``: SGHMC as in Chen et al. (2014) and BlackJAX: ``z += h r``,
  ``r += -gamma h r + h g + sqrt(2 gamma h) xi``; one gradient; first order.
- ``sgld``: Welling and Teh (2011) with step ``eps = h^2``: ``z += eps/2 g + sqrt(eps) xi``.
- ``psgld``: SGLD preconditioned by RMSProp statistics of the gradient (Li et
  al. 2016; alpha = 0.99, lambda = 1e-5), step ``eps = h^2``; the small
  correction term Gamma is dropped, as in the paper's experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax.numpy as jnp

PSGLD_ALPHA = 0.99
PSGLD_LAMBDA = 1e-5


class State(NamedTuple):
    position: jnp.ndarray
    momentum: jnp.ndarray   # zeros for the Langevin (first-order) samplers
    grad: jnp.ndarray       # the last gradient estimate (reused by BAOAB's next step)
    sq_grad: jnp.ndarray    # pSGLD's running mean of squared gradients


Grad = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]


def _refresh(r, xi, h, gamma):
    a = jnp.exp(-gamma * h)
    return a * r + jnp.sqrt(1.0 - a * a) * xi


def splitting_step(state: State, grad: Grad, key, xi, h, gamma) -> State:
    z, r = state.position, state.momentum
    r = r + 0.5 * h * grad(z, key)
    z = z + h * r
    g = grad(z, key)  # the same minibatch for both half kicks: a symplectic step of one potential
    r = r + 0.5 * h * g
    return state._replace(position=z, momentum=_refresh(r, xi, h, gamma), grad=g)


def baoab_step(state: State, grad: Grad, key, xi, h, gamma) -> State:
    z, r = state.position, state.momentum + 0.5 * h * state.grad
    z = z + 0.5 * h * r
    r = _refresh(r, xi, h, gamma)
    z = z + 0.5 * h * r
    g = grad(z, key)
    return state._replace(position=z, momentum=r + 0.5 * h * g, grad=g)


def euler_step(state: State, grad: Grad, key, xi, h, gamma) -> State:
    z, r = state.position, state.momentum
    g = grad(z, key)
    return state._replace(position=z + h * r,
                          momentum=(1.0 - gamma * h) * r + h * g + jnp.sqrt(2.0 * gamma * h) * xi, grad=g)


def sgld_step(state: State, grad: Grad, key, xi, h, gamma) -> State:
    g = grad(state.position, key)
    return state._replace(position=state.position + 0.5 * h * h * g + h * xi, grad=g)


def psgld_step(state: State, grad: Grad, key, xi, h, gamma) -> State:
    g = grad(state.position, key)
    v = PSGLD_ALPHA * state.sq_grad + (1.0 - PSGLD_ALPHA) * g * g
    precond = 1.0 / (PSGLD_LAMBDA + jnp.sqrt(v))
    z = state.position + 0.5 * h * h * precond * g + h * jnp.sqrt(precond) * xi
    return state._replace(position=z, grad=g, sq_grad=v)


@dataclass(frozen=True)
class Integrator:
    name: str
    step: Callable[..., State]
    gradients_per_step: int
    hamiltonian: bool  # has a momentum and a friction

    def initial_state(self, z, momentum, grad_at_z) -> State:
        """The state at ``z``; ``grad_at_z`` is one gradient estimate there (BAOAB and pSGLD use it)."""
        return State(z, momentum if self.hamiltonian else jnp.zeros_like(z), grad_at_z, grad_at_z * grad_at_z)

    def noise_ratio(self, noise_var, h, gamma):
        """Variance the gradient noise adds per step over the variance the sampler injects.

        ``noise_var``: the variance of one gradient estimate (whitened units, mean over
        coordinates).  Hamiltonian schemes kick the momentum by ``h g`` per step against
        an injected ``1 - exp(-2 gamma h)`` (Euler: ``2 gamma h``); the Langevin schemes
        move the position by ``h^2/2 g`` against an injected ``h^2``.  Above about 1 the
        minibatch noise, not the sampler, sets the temperature: the variance is inflated.
        """
        if not self.hamiltonian:
            return noise_var * h * h / 4.0
        injected = 2.0 * gamma * h if self.name == "euler" else 1.0 - jnp.exp(-2.0 * gamma * h)
        return noise_var * h * h / injected


INTEGRATORS = {
    "splitting": Integrator("splitting", splitting_step, 2, True),
    "baoab": Integrator("baoab", baoab_step, 1, True),
    "euler": Integrator("euler", euler_step, 1, True),
    "sgld": Integrator("sgld", sgld_step, 1, False),
    "psgld": Integrator("psgld", psgld_step, 1, False),
}
