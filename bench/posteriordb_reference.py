"""posteriordb reference posteriors: where a port's data are, how it is fitted, and the pass rule.

Shared by the harness (bench/posteriordb.py) and the reference tests (tests/test_posteriors.py).
A port is ``examples/posteriordb/<posterior>.pdl``; its data and reference statistics are
``<posteriordb>/<posterior>/data.json`` and ``reference.json`` (see shared/posteriordb/INDEX.md).

Pass rule, for every reference quantity (Stan-style names, ``theta[1]``, ``beta[2,3]``):

    |mean - ref mean| <= max(0.1 ref sd, 4 MCSE)   and   |sd / ref sd - 1| <= 0.1

The reference's own Monte Carlo error is about sd/100 (10,000 draws), small next to these.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import numpy as np

import probdsl.api as api

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "examples" / "posteriordb"
SHARED = ROOT.parent / "shared" / "posteriordb"
TEST_COPIES = ROOT / "tests" / "posteriordb"

DEFAULTS = dict(chains=4, warmup=1000, draws=1000, seed=20261124)

# Sampler settings that differ from Stan's defaults (adapt_delta 0.8, max_treedepth 10): the
# reference sampler's `control` in posteriordb's reference_posteriors/draws/info/<posterior>.info.json.
SETTINGS: dict[str, dict] = {
    "diamonds-diamonds": dict(adapt_delta=0.99, max_treedepth=20),
    "eight_schools-eight_schools_noncentered": dict(adapt_delta=0.95),
    "gp_pois_regr-gp_pois_regr": dict(adapt_delta=0.99, max_treedepth=15),
    "hudson_lynx_hare-lotka_volterra": dict(adapt_delta=0.99),
    "kilpisjarvi_mod-kilpisjarvi": dict(max_treedepth=15),
    "mcycle_gp-accel_gp": dict(adapt_delta=0.999, max_treedepth=15),
    "mesquite-mesquite": dict(adapt_delta=0.95),
}


def ports() -> list[str]:
    """Names of the posteriors that have a ``.pdl`` port."""
    return sorted(p.stem for p in PORTS.glob("*.pdl"))


def find_data(posterior: str, roots: tuple[Path, ...] = (SHARED, TEST_COPIES)) -> Path | None:
    """The first ``root/posterior`` folder holding both data.json and reference.json, else None."""
    for root in roots:
        folder = root / posterior
        if (folder / "data.json").is_file() and (folder / "reference.json").is_file():
            return folder
    return None


def describe_settings(posterior: str) -> str:
    return ", ".join(f"{k} {v}" for k, v in SETTINGS.get(posterior, {}).items()) or "default"


def fit(posterior: str, folder: Path, *, chains: int, warmup: int, draws: int, seed: int, x64: bool = True):
    """Compile the port of ``posterior`` and fit it to ``folder/data.json`` with its SETTINGS."""
    model = api.compile_file(PORTS / f"{posterior}.pdl")
    return api.fit(model, [folder / "data.json"], chains=chains, warmup=warmup, draws=draws, seed=seed,
                   x64=x64, progress=False, **SETTINGS.get(posterior, {}))


@dataclass
class Quantity:
    """One reference quantity and the fit's estimate of it (``mean`` None: the fit lacks it)."""

    name: str
    ref_mean: float
    ref_sd: float
    mean: float | None = None
    sd: float = math.nan
    mcse: float = math.nan
    ess: float = math.nan

    @property
    def found(self) -> bool:
        return self.mean is not None

    @property
    def mean_error(self) -> float:
        """|mean - ref mean| in reference sds."""
        return abs(self.mean - self.ref_mean) / self.ref_sd if self.found else math.inf

    @property
    def sd_ratio(self) -> float:
        return self.sd / self.ref_sd

    @property
    def mean_ok(self) -> bool:
        return self.found and abs(self.mean - self.ref_mean) <= max(0.1 * self.ref_sd, 4 * self.mcse)

    @property
    def sd_ok(self) -> bool:
        return self.found and abs(self.sd_ratio - 1) <= 0.1

    @property
    def ok(self) -> bool:
        return self.mean_ok and self.sd_ok


def load_reference(folder: Path) -> dict[str, dict]:
    """``{name: {mean, sd, q5, q50, q95}}`` from ``folder/reference.json``."""
    return json.loads((folder / "reference.json").read_text())["params"]


def compare(idata, reference: dict[str, dict]) -> list[Quantity]:
    """Each reference quantity with the posterior's mean, sd, the mean's MCSE and the bulk ESS."""
    quantities = []
    for name, stats in reference.items():
        quantity = Quantity(name, stats["mean"], stats["sd"])
        draws = _draws(idata, name)
        if draws is not None:
            quantity.mean, quantity.sd = float(draws.mean()), float(draws.std(ddof=1))
            quantity.mcse = np.asarray(az.mcse(draws, method="mean")).item()
            quantity.ess = float(az.ess(draws))
        quantities.append(quantity)
    return quantities


def _draws(idata, name: str) -> np.ndarray | None:
    """The (chain, draw) array of ``name`` (``theta[2]``: 1-based, like Stan), or None if absent."""
    base, _, index = name.partition("[")
    if base not in idata.posterior:
        return None
    values = idata.posterior[base].values
    position = tuple(int(i) - 1 for i in index.rstrip("]").split(",")) if index else ()
    if len(position) != values.ndim - 2 or not all(0 <= i < n for i, n in zip(position, values.shape[2:])):
        return None
    return values[(slice(None), slice(None), *position)]
