"""Pareto-smoothed importance sampling of ``q``'s draws: how far ``q`` is from the posterior
(the Pareto shape k̂ of the weights ``p(x, z) / q(z)``) and draws corrected by the weights.

Thresholds (Yao, Vehtari, Simpson, Gelman 2018; Vehtari et al. 2024): below 0.5 ``q`` is
close to the posterior; up to 0.7 importance weighting corrects what it misses and the
resampled draws are usable; above 0.7 ``q`` misses posterior mass that no reweighting of
these draws can recover: its draws and its ELBO are unreliable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K_GOOD = 0.5
K_USABLE = 0.7
DENSITY_BATCH = 256  # draws per batch when the log density is evaluated at many draws


@dataclass
class Importance:
    log_p: np.ndarray         # log p(x, z) at each draw (Jacobians included), -inf where not finite
    log_q: np.ndarray
    log_weights: np.ndarray   # Pareto-smoothed, normalised
    pareto_k: float
    ess: float                # effective sample size of the weights, 1 / sum(w^2)

    @property
    def elbo(self) -> float:
        """The ELBO estimated from these draws: mean of ``log p - log q``."""
        ratio = self.log_p - self.log_q
        return float(np.mean(ratio)) if np.all(np.isfinite(ratio)) else -np.inf

    @property
    def usable(self) -> bool:
        return self.pareto_k < K_USABLE


def importance(log_p, log_q) -> Importance:
    """PSIS (ArviZ's ``psislw``) of the log ratios ``log_p - log_q``."""
    import arviz as az

    log_p, log_q = np.asarray(log_p, dtype=float), np.asarray(log_q, dtype=float)
    log_p = np.where(np.isfinite(log_p), log_p, -np.inf)
    ratio = log_p - log_q
    finite = np.isfinite(ratio)
    if not finite.any():
        return Importance(log_p, log_q, np.full(ratio.shape, -np.log(ratio.size)), np.inf, 0.0)
    floor = ratio[finite].min() - 1000.0  # a draw with no density gets (all but) no weight
    smoothed, k = az.psislw(np.where(finite, ratio, floor))
    weights = np.exp(smoothed)
    return Importance(log_p, log_q, smoothed, float(k), float(1.0 / np.sum(weights**2)))


def verdict(pareto_k: float) -> str:
    """One line reading k̂ for the user."""
    if not np.isfinite(pareto_k):
        return "k̂ could not be computed (no draw has a finite density): the approximation failed"
    if pareto_k < K_GOOD:
        return f"k̂ = {pareto_k:.2f} < {K_GOOD}: good, q is close to the posterior"
    if pareto_k < K_USABLE:
        return (f"k̂ = {pareto_k:.2f} in [{K_GOOD}, {K_USABLE}): usable after importance resampling, "
                "which corrects what q misses")
    return (f"k̂ = {pareto_k:.2f} >= {K_USABLE}: unreliable, q misses posterior mass that reweighting "
            "cannot recover; try a richer --guide (or --guide auto), or NUTS")


def resample(rng: np.random.Generator, log_weights: np.ndarray, size: int) -> np.ndarray:
    """Indices of ``size`` draws taken with replacement with probabilities ``exp(log_weights)``, sorted.

    The pool is a sequence of independent draws, so sorting keeps the result a random
    sequence while putting the repeats of a draw next to each other: autocorrelation-based
    ESS (the summary's ``ess_bulk``) then counts them as the correlated draws they are.
    """
    weights = np.exp(log_weights - log_weights.max())
    return np.sort(rng.choice(log_weights.size, size=size, replace=True, p=weights / weights.sum()))


def log_density_at(model, unconstrained: dict) -> np.ndarray:
    """``model.log_density`` at each of a batch of unconstrained draws (leading axis), in batches."""
    import jax

    return np.asarray(jax.lax.map(model.log_density, unconstrained, batch_size=DENSITY_BATCH))
