"""Synthetic data for the 1-D Darcy inverse problem of the two-level (delayed-acceptance) benchmark.

    .venv/bin/python bench/twolevel/make_darcy_data.py [--out bench/twolevel/darcy.json] [--seed 20261124]

The forward problem is steady diffusion -(k(x) u'(x))' = 1 on [0, 1] with u(0) = u(1) = 0 and
log k(x) = sum_{j=1..J} theta[j] sqrt(2) sin(j pi x) / j. It is discretised with finite volumes
on N equal cells: u at the nodes x_i = i / N, k evaluated at the cell midpoints (the faces
between nodes), which gives a symmetric tridiagonal system for u at the N - 1 interior nodes.
This script solves it with SciPy's banded solver, the same scheme as darcy_fine.pdl and
darcy_coarse.pdl, which solve it as a dense system.

It draws theta_true ~ normal(0, 1) (J = 6), solves on the fine grid (N_fine = 400 cells), and
observes u at M = 19 points x_m = m / 20, nodes of both the fine grid and the coarse grid
(N_coarse = 40 cells: a dense solve has 1000 times fewer flops), with normal noise of sd
sigma = 2% of max u. It writes the data both models read (J, M, y, sigma, and each grid's size
and observation node indices) plus, for checking only, x_obs, theta_true and u_obs_true (keys
a model does not declare are ignored). The fine model is thus the exact likelihood.
It prints the coarse model's error at theta_true in units of sigma.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.linalg import solve_banded

J = 6
N_FINE = 400
N_COARSE = 40
M = 19  # observations at x_m = m / (M + 1)
NOISE = 0.02  # sigma as a fraction of max u
DEFAULT_SEED = 20261124


def solve_interior(theta: np.ndarray, n: int) -> np.ndarray:
    """u at the interior nodes i / n, i = 1..n-1, of the finite-volume scheme on n cells."""
    faces = (np.arange(n) + 0.5) / n
    j = np.arange(1, theta.size + 1)
    k = np.exp(np.sqrt(2.0) * np.sin(np.pi * np.outer(faces, j)) / j @ theta)
    bands = np.zeros((3, n - 1))
    bands[0, 1:] = -k[1:-1]             # superdiagonal: -k at the face between nodes i and i + 1
    bands[1] = k[:-1] + k[1:]           # diagonal: the two faces around node i
    bands[2, :-1] = -k[1:-1]            # subdiagonal
    return solve_banded((1, 1), bands, np.full(n - 1, 1.0 / n**2))


def make(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=J)
    m = np.arange(1, M + 1)
    x_obs = m / (M + 1)
    obs_fine, obs_coarse = m * (N_FINE // (M + 1)), m * (N_COARSE // (M + 1))  # nodes i with i / N = x_m
    u_fine = solve_interior(theta, N_FINE)
    u_obs = u_fine[obs_fine - 1]
    sigma = NOISE * u_fine.max()
    y = u_obs + rng.normal(0.0, sigma, size=u_obs.size)
    bias = solve_interior(theta, N_COARSE)[obs_coarse - 1] - u_obs
    print(f"max u {u_fine.max():.5f}, sigma {sigma:.3g}; coarse - fine at theta_true: "
          f"max |.| {np.abs(bias).max() / sigma:.2f} sigma, rms {np.sqrt(np.mean(bias**2)) / sigma:.2f} sigma")
    return {
        "J": J, "M": int(x_obs.size), "y": y.round(7).tolist(), "sigma": round(float(sigma), 7),
        "N_fine": N_FINE, "obs_fine": obs_fine.tolist(),
        "N_coarse": N_COARSE, "obs_coarse": obs_coarse.tolist(),
        "x_obs": x_obs.tolist(), "theta_true": theta.round(6).tolist(), "u_obs_true": u_obs.round(7).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("darcy.json"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    args.out.write_text(json.dumps(make(args.seed)) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
