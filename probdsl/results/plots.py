"""Diagnostic plots through ArviZ, written as PNG files.

Works with any matplotlib backend (nothing is shown); the CLI selects Agg.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from probdsl.errors import Diagnostic, UsageError
from probdsl.results.io import atomic_path

KINDS = ("trace", "rank", "forest", "ppc", "elbo")
ELBO_SMOOTHING = 100  # steps per point of the smoothed ELBO curve


def plot(idata, kind: str, out_path: str | os.PathLike) -> None:
    """Draw a ``kind`` plot (trace, rank, forest, ppc or elbo) of a result into a PNG at ``out_path``."""
    if kind not in KINDS:
        raise UsageError(Diagnostic("E504", f"unknown plot kind `{kind}`", hint=f"choose one of: {', '.join(KINDS)}"))
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        axes = _draw(idata, kind)
    figure = np.ravel(axes)[0].figure
    try:
        with atomic_path(out_path) as tmp:
            figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)


def _draw(idata, kind: str):
    import arviz as az

    if kind == "elbo":
        return _elbo(idata)
    group = "posterior" if "posterior" in idata.groups() else "prior"
    if kind == "ppc":
        predictive = f"{group}_predictive"
        if predictive not in idata.groups() or "observed_data" not in idata.groups():
            raise UsageError(Diagnostic("E506", f"a ppc plot needs the `{predictive}` and `observed_data` groups, "
                                                "which this file does not have"))
        return az.plot_ppc(idata, group=group, num_pp_samples=min(100, _n_draws(idata[predictive])))
    if group not in idata.groups():
        raise UsageError(Diagnostic("E506", f"a {kind} plot needs draws, and this file has neither posterior nor prior"))
    draws = idata[group]
    if kind == "trace":
        return az.plot_trace(draws, compact=True)
    if kind == "rank":
        return az.plot_rank(draws)
    return az.plot_forest(draws, combined=True)


def _n_draws(dataset) -> int:
    return dataset.sizes["chain"] * dataset.sizes["draw"]


def _elbo(idata):
    """The ELBO estimate at every step of a VI fit, and its running mean over ``ELBO_SMOOTHING`` steps."""
    import matplotlib.pyplot as plt

    if "sample_stats" not in idata.groups() or "elbo_trace" not in idata.sample_stats:
        raise UsageError(Diagnostic("E506", "an elbo plot needs the ELBO trace of a `--method vi` fit, "
                                            "which this file does not have"))
    elbo = idata.sample_stats["elbo_trace"].values
    steps = np.arange(1, elbo.size + 1)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(steps, elbo, color="0.75", linewidth=0.5, label="estimate per step")
    window = min(ELBO_SMOOTHING, elbo.size)
    smoothed = np.convolve(np.nan_to_num(elbo, nan=np.nanmean(elbo)), np.ones(window) / window, mode="valid")
    axes.plot(steps[window - 1:], smoothed, color="C0", label=f"mean of the last {window} steps")
    low, high = np.nanpercentile(elbo[elbo.size // 10:], [1, 100])  # the first steps would squash the scale
    axes.set_ylim(low - 0.1 * (high - low), high + 0.1 * (high - low))
    axes.set_xlabel("step")
    axes.set_ylabel("ELBO")
    axes.legend(loc="lower right")
    return axes
