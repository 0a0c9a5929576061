"""Diagnostic plots through ArviZ, written as PNG files.

Works with any matplotlib backend (nothing is shown); the CLI selects Agg.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from probdsl.errors import Diagnostic, UsageError
from probdsl.results.io import atomic_path

KINDS = ("trace", "rank", "forest", "ppc")


def plot(idata, kind: str, out_path: str | os.PathLike) -> None:
    """Draw a ``kind`` plot (trace, rank, forest or ppc) of a result into a PNG at ``out_path``."""
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
