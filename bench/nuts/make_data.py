"""Seeded data for the NUTS benchmark: one JSON file per model, read by every tool.

    python bench/nuts/make_data.py OUT_DIR [--seed 20261124]

- eight_schools: the classic data (J = 8).
- logistic: N = 5000 rows, D = 20 standard-normal predictors, coefficients drawn from N(0, 0.5^2).
- radon: a radon-like hierarchical regression, 85 counties and 919 homes with very unequal
  county sizes (many counties with one to three homes, as in the Minnesota radon survey),
  a floor indicator per home and a uranium-like covariate per county.
- stochastic_volatility: T = 1000 returns from the AR(1) log-volatility model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODELS = ("eight_schools", "logistic", "radon", "stochastic_volatility")
DEFAULT_SEED = 20261124


def eight_schools(rng: np.random.Generator) -> dict:
    return {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}


def logistic(rng: np.random.Generator, n: int = 5000, d: int = 20) -> dict:
    x = rng.normal(size=(n, d))
    beta = rng.normal(0.0, 0.5, size=d)
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(0.3 + x @ beta))))
    return {"N": n, "D": d, "X": x.round(5).tolist(), "y": y.tolist()}


def radon(rng: np.random.Generator, counties: int = 85, homes: int = 919) -> dict:
    sizes = 1 + rng.multinomial(homes - counties, rng.dirichlet(np.full(counties, 0.6)))
    county = np.repeat(np.arange(counties), sizes)
    uranium = rng.normal(0.0, 0.35, size=counties)
    a = rng.normal(1.5 + 0.7 * uranium, 0.2)
    floor = rng.binomial(1, 0.17, size=homes)
    log_radon = rng.normal(a[county] - 0.65 * floor, 0.75)
    return {"N": homes, "J": counties, "county": (county + 1).tolist(), "floor": floor.tolist(),
            "u": uranium.round(5).tolist(), "log_radon": log_radon.round(5).tolist()}


def stochastic_volatility(rng: np.random.Generator, t: int = 1000) -> dict:
    mu, phi, sigma = -1.0, 0.95, 0.25
    h = np.empty(t)
    h[0] = rng.normal(mu, sigma / np.sqrt(1 - phi**2))
    for i in range(1, t):
        h[i] = mu + phi * (h[i - 1] - mu) + sigma * rng.normal()
    y = rng.normal(0.0, np.exp(h / 2))
    return {"T": t, "y": y.round(6).tolist()}


def write_all(out: Path, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write ``<model>.json`` for every model into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for index, name in enumerate(MODELS):
        rng = np.random.default_rng([seed, index])
        paths[name] = out / f"{name}.json"
        paths[name].write_text(json.dumps(globals()[name](rng)))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    for name, path in write_all(args.out, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
