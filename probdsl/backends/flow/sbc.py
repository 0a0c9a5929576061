"""Simulation-based calibration of a trained flow (Talts et al. 2018).

Held-out pairs ``(theta*, x*)`` are drawn from the prior predictive with a seed
the training did not use; for each, ``draws`` posterior draws come from the
flow, and the rank of ``theta*`` among them is recorded per parameter element
(in the unconstrained space the flow learns, where each element's bijection is
monotone).  A calibrated flow gives uniform ranks: a chi-square test on the
rank histogram and a Kolmogorov-Smirnov test on the (jittered) rank fractions
say how far they are from it.  Expected coverage compares each central interval's
nominal mass with the fraction of ``theta*`` it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probdsl.backends.flow import simulate as simulation
from probdsl.backends.flow.amortized import TrainedFlow
from probdsl.backends.flow.fit import posterior_sampler
from probdsl.model_interface import ModelLike
from probdsl.results.io import atomic_path

LEVELS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclass
class Calibration:
    labels: list[str]            # one per parameter element, e.g. "beta[2]"
    ranks: np.ndarray            # (simulations, elements), in 0..draws
    draws: int
    bins: int
    chi2_p: np.ndarray           # per element
    ks_p: np.ndarray
    coverage: dict               # nominal level -> observed fraction (all elements together)
    dropped: int

    def to_json(self) -> dict:
        return {"labels": self.labels, "draws": self.draws, "simulations": int(len(self.ranks)), "bins": self.bins,
                "chi2_p": self.chi2_p.tolist(), "ks_p": self.ks_p.tolist(),
                "coverage": {str(k): v for k, v in self.coverage.items()}, "dropped_simulations": self.dropped}

    def table(self) -> str:
        lines = [f"SBC: {len(self.ranks)} held-out simulations, {self.draws} draws each, {self.bins} rank bins",
                 f"{'parameter':<16}{'chi2 p':>10}{'KS p':>10}"]
        lines += [f"{label:<16}{c:>10.3f}{k:>10.3f}" for label, c, k in zip(self.labels, self.chi2_p, self.ks_p)]
        lines.append("expected coverage: " + ", ".join(f"{level:.0%} -> {observed:.1%}"
                                                      for level, observed in self.coverage.items()))
        return "\n".join(lines)


def element_labels(flow: TrainedFlow) -> list[str]:
    labels = []
    for block in flow.layout.params:
        name = block.name.removesuffix("__u")
        if block.shape == ():
            labels.append(name)
        else:
            labels += [f"{name}[{','.join(str(i + 1) for i in index)}]" for index in np.ndindex(*block.shape)]
    return labels


def calibrate(model: ModelLike, flow: TrainedFlow, simulations: int = 200, draws: int = 100,
              seed: int = 0) -> Calibration:
    """SBC of ``flow`` on ``simulations`` held-out simulations from ``model``'s prior predictive."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    key = jax.random.fold_in(jax.random.PRNGKey(seed), 7919)  # apart from the training draws of any seed
    k_sim, k_rows, k_draw = jax.random.split(key, 3)
    held = simulation.simulate(model, flow.layout, k_sim, simulations, flow.rows)
    x = (held.x - flow.x_mean) / flow.x_sd
    if flow.rows is None:
        masks = np.ones((len(x), 1), bool)
    else:
        counts = np.random.default_rng(seed).integers(flow.rows.min_rows, flow.rows.max_rows + 1, len(x))
        masks = np.arange(flow.rows.max_rows)[None, :] < counts[:, None]
        x = np.where(masks[..., None], x, 0.0)
    sampler = posterior_sampler(flow, draws, density=False)
    keys = jax.random.split(k_draw, len(x))
    theta = jax.lax.map(lambda args: sampler(*args)[0], (jnp.asarray(x), jnp.asarray(masks), keys), batch_size=16)
    ranks = (np.asarray(theta) < held.theta[:, None, :]).sum(axis=1)
    bins = _bins(len(ranks), draws)
    edges = np.linspace(0, draws + 1, bins + 1)
    counts = np.stack([np.histogram(r, edges)[0] for r in ranks.T])
    chi2_p = stats.chisquare(counts, axis=1).pvalue
    jitter = np.random.default_rng(seed + 1).uniform(size=ranks.shape)
    ks_p = np.array([stats.kstest((r + u) / (draws + 1), "uniform").pvalue for r, u in zip(ranks.T, jitter.T)])
    fraction = (ranks + 0.5) / (draws + 1)
    coverage = {level: float(np.mean(np.abs(fraction - 0.5) <= level / 2)) for level in LEVELS}
    return Calibration(element_labels(flow), ranks, draws, bins, np.atleast_1d(chi2_p), ks_p, coverage, held.dropped)


def _bins(simulations: int, draws: int) -> int:
    """About 10 simulations per bin expected (and at most one bin per possible rank)."""
    return int(max(2, min(20, simulations // 10, draws + 1)))


def plot(calibration: Calibration, path) -> None:
    """Rank histograms, with the band that holds 99% of a uniform histogram's bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    shown = calibration.labels[:16]
    columns = min(4, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    n, bins = len(calibration.ranks), calibration.bins
    low, high = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
    for axis, label, ranks in zip(axes.flat, shown, calibration.ranks.T):
        axis.axhspan(low, high, color="0.85")
        axis.axhline(n / bins, color="0.5", linewidth=0.8)
        axis.hist(ranks, np.linspace(0, calibration.draws + 1, bins + 1), color="C0", edgecolor="white")
        axis.set_title(label, fontsize=9)
        axis.set_yticks([])
    for axis in list(axes.flat)[len(shown):]:
        axis.set_visible(False)
    figure.suptitle(f"SBC ranks ({n} simulations, {calibration.draws} draws each)", fontsize=10)
    figure.tight_layout()
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=100)
    finally:
        plt.close(figure)
