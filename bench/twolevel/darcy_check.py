"""Checks and costs of the two Darcy models (darcy_fine.pdl, darcy_coarse.pdl) on darcy.json.

    .venv/bin/python bench/twolevel/darcy_check.py [--x64] [--coarse-fit COARSE.nc]

1. Each model's log density (FlatDensity: a function of the flat unconstrained vector) against
   the SciPy reference solver of make_darcy_data.py, at theta_true and at prior draws.
2. The median time of one jit-compiled log density, and of its value and gradient, over 200 calls.
3. With --coarse-fit (posterior draws of the coarse model): the coarse model's bias, from the
   draws reweighted to the fine posterior (weights p_fine / p_coarse, self-normalised), as
   (coarse mean - fine mean) / fine sd per theta[j], with the weights' effective sample size.

OpenBLAS is limited to one thread: on a loaded machine its spinning threads make a dense
399 x 399 solve up to 100 times slower (a 1.4 ms log density becomes 0.4 s).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from make_darcy_data import solve_interior  # noqa: E402

GRIDS = ("fine", "coarse")


def densities(data_path: Path) -> dict:
    import jax
    import probdsl
    from probdsl.backends.vi.flat import FlatDensity

    return {g: jax.jit(FlatDensity(probdsl.compile(HERE / f"darcy_{g}.pdl").bind(data_path))) for g in GRIDS}


def reference_log_density(theta: np.ndarray, data: dict, grid: str) -> float:
    u = solve_interior(theta, data[f"N_{grid}"])[np.asarray(data[f"obs_{grid}"]) - 1]
    return float(norm.logpdf(theta).sum() + norm.logpdf(data["y"], u, data["sigma"]).sum())


def median_seconds(f, x, calls: int = 200) -> float:
    import jax

    jax.block_until_ready(f(x))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def coarse_bias(coarse_fit: Path, logp: dict) -> None:
    import arviz as az
    import jax

    theta = az.from_netcdf(coarse_fit).posterior["theta"].values.reshape(-1, 6)
    logw = np.concatenate([np.asarray(jax.vmap(logp["fine"])(chunk) - jax.vmap(logp["coarse"])(chunk))
                           for chunk in np.array_split(theta, max(1, len(theta) // 500))])
    w = np.exp(logw - logw.max())
    w /= w.sum()
    fine_mean = w @ theta
    fine_sd = np.sqrt(w @ (theta - fine_mean) ** 2)
    print(f"reweighted {len(theta)} coarse draws: weight ESS {1 / np.sum(w**2):.0f}")
    print("coarse mean - fine mean, in fine sd:", np.round((theta.mean(0) - fine_mean) / fine_sd, 3))
    print("coarse sd / fine sd:", np.round(theta.std(0) / fine_sd, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "darcy.json")
    parser.add_argument("--x64", action="store_true", help="double precision")
    parser.add_argument("--coarse-fit", type=Path, help="a netCDF fit of darcy_coarse.pdl to reweight")
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", args.x64)
    data = json.loads(args.data.read_text())
    logp = densities(args.data)
    rng = np.random.default_rng(0)
    points = [np.asarray(data["theta_true"])] + [rng.normal(size=data["J"]) for _ in range(4)]
    seconds = {}
    for g in GRIDS:
        errors = [float(logp[g](p)) - reference_log_density(p, data, g) for p in points]
        theta = jax.numpy.asarray(points[0])
        seconds[g] = (median_seconds(logp[g], theta), median_seconds(jax.jit(jax.value_and_grad(logp[g])), theta))
        print(f"{g:6s} log density - SciPy reference: {np.array2string(np.array(errors), precision=4)}; "
              f"median {seconds[g][0] * 1e6:.0f} us, with gradient {seconds[g][1] * 1e6:.0f} us")
    print(f"fine / coarse cost: log density {seconds['fine'][0] / seconds['coarse'][0]:.0f}x, "
          f"with gradient {seconds['fine'][1] / seconds['coarse'][1]:.0f}x "
          f"({'float64' if args.x64 else 'float32'}, {jax.devices()[0].platform})")
    if args.coarse_fit:
        coarse_bias(args.coarse_fit, logp)


if __name__ == "__main__":
    main()
