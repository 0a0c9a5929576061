"""Two-level surrogate MCMC against single-level samplers: fine solves per effective sample.

    python bench/twolevel/run.py                                   # both problems, every method
    python bench/twolevel/run.py --problems darcy --draws 500 --chains 2
    python bench/twolevel/run.py --methods nuts da                 # some methods only

Problems (``.pdl`` files in this folder and in examples/twolevel/):
- ``lotka_volterra``: examples/twolevel/lotka_volterra.pdl (hare-lynx data), fine ODE solve at
  tolerance 1e-10, coarse level (its ``fine_coarse`` call) at 1e-6;
- ``darcy``: a 1-D Darcy inverse problem, fine grid of 400 cells (darcy_fine.pdl), coarse grid of
  40 cells (darcy_coarse.pdl, given as ``--surrogate``), data from make_darcy_data.py.

Methods, each on the same data and seed:
- ``nuts``: NUTS on the fine model (fine solves: leapfrog steps of warmup and sampling, each a
  solve *with its gradient*, so the count flatters NUTS);
- ``rwm``: random-walk Metropolis on the fine model, covariance tuned on its own warmup draws,
  started at Pathfinder draws (fine solves: every step);
- ``da``: ``--method twolevel`` (delayed acceptance, NUTS base chains on the coarse level, started
  at Pathfinder draws of the coarse level);
- ``estimator``: ``--method twolevel --mode estimator``.

Per fit: fine solves (all, warmup included), the minimum bulk ESS over the parameters, fine solves
per effective sample, wall time (compilation included), stage-two acceptance, and the posterior
error against the reference (posteriordb's for Lotka-Volterra, else a long NUTS run of the fine
model, cached in reference.json): the max
over parameters of |mean - ref mean| / ref sd, and of |mean - ref mean| / MCSE (the estimator: its
own standard error).  Target: da needs >= 5x fewer fine solves per effective sample than the best
single-level sampler, with means within Monte Carlo error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # dense solves on a loaded 2-core machine: threads slow them 100x

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
from results_table import merge_row  # noqa: E402
from vi.run import run_nuts  # noqa: E402 (NUTS counting its leapfrog steps of warmup and sampling)
PROBLEMS = {
    "lotka_volterra": (ROOT / "examples/twolevel/lotka_volterra.pdl", ROOT / "examples/twolevel/lynx_hare.json", None),
    "darcy": (HERE / "darcy_fine.pdl", HERE / "darcy.json", HERE / "darcy_coarse.pdl"),
}
METHODS = ("da", "estimator", "rwm", "nuts")


def summarise(draws: dict[str, np.ndarray]) -> dict[str, dict]:
    import arviz as az

    out = {}
    for name, values in draws.items():
        out[name] = {"mean": float(values.mean()), "sd": float(values.std()),
                     "ess": float(np.ravel(az.ess(values))[0]), "mcse": float(np.ravel(az.mcse(values))[0])}
    return out


def fit(problem: str, method: str, args) -> tuple[dict, dict]:
    """One fit: (per-parameter summary, cost record)."""
    import probdsl

    model_path, data_path, coarse_path = PROBLEMS[problem]
    bound = probdsl.compile(str(model_path)).bind(str(data_path))
    started = time.perf_counter()
    from probdsl.api import bind_surrogate, fit_bound

    if method == "nuts":
        import numpyro

        with numpyro.validation_enabled(False):  # a failed ODE solve at an initial point is NaN, tried again
            idata, counts = run_nuts(bound, args.seed, args.chains, args.warmup, args.draws)
        record = {"fine_solves": counts["gradients"], "divergences": counts["divergences"]}
    elif method == "rwm":
        idata, record = _rwm(bound, args)
    else:
        surrogate = bind_surrogate(str(coarse_path), str(data_path)) if coarse_path else "coarse"
        idata = fit_bound(bound, "twolevel", surrogate=surrogate, mode=method, subchain=args.subchain,
                          init="pathfinder", x64=args.x64, chains=args.chains, warmup=args.warmup,
                          draws=args.draws, seed=args.seed, progress=False)
        config = json.loads(idata.attrs["config"])
        record = {k: config[k] for k in ("fine_solves", "stage2_acceptance", "subchain_acceptance",
                                         "coarse_evaluations")}
    record["seconds"] = time.perf_counter() - started
    summary = summarise(_param_draws(bound, idata))
    if "twolevel_estimate" in idata.groups():
        estimate = idata.twolevel_estimate
        for i, name in enumerate(estimate["quantity"].values):
            summary[str(name)]["estimate"] = float(estimate["mean"][i])
            summary[str(name)]["estimate_se"] = float(estimate["standard_error"][i])
    return summary, record


def _param_draws(bound, idata) -> dict[str, np.ndarray]:
    out = {}
    for site in bound.sites:
        if site.role != "param":
            continue
        values = idata.posterior[site.name].values
        flat = values.reshape(values.shape[0], values.shape[1], -1)
        for i in range(flat.shape[-1]):
            out[site.name if not site.shape else f"{site.name}[{i + 1}]"] = flat[..., i]
    return out


def _rwm(bound, args):
    """Random-walk Metropolis on the fine model: the tuned kernel of the two-level base chains,
    on the fine density itself."""
    import arviz as az
    import jax

    from probdsl.backends.twolevel import kernels
    from probdsl.backends.vi.flat import FlatDensity

    from jax.flatten_util import ravel_pytree

    from probdsl.backends.vi.pathfinder import pathfinder_inits

    density = FlatDensity(bound)
    key = jax.random.PRNGKey(args.seed)
    starts = jax.vmap(lambda u: ravel_pytree(u)[0])(pathfinder_inits(bound, args.chains, args.seed))
    steps = args.draws * args.thin
    tuned = jax.jit(jax.vmap(lambda k, x: kernels.warm_up("rwm", density, k, x, args.warmup * args.thin)))(
        jax.random.split(key, args.chains), starts)
    walked = jax.jit(jax.vmap(lambda t, k, x: kernels.walk("rwm", density, t, k, x, steps)))(
        tuned, jax.random.split(jax.random.fold_in(key, 1), args.chains), tuned.position)
    thinned = walked.positions[:, args.thin - 1::args.thin]
    constrained = jax.vmap(jax.vmap(lambda u: bound.constrain(density.unravel(u))))(thinned)
    idata = az.from_dict(posterior={k: np.asarray(v) for k, v in constrained.items()})
    return idata, {"fine_solves": int(args.chains * (args.warmup + args.draws) * args.thin),
                   "acceptance": float(np.mean(walked.acceptance))}


POSTERIORDB = {"lotka_volterra": "hudson_lynx_hare-lotka_volterra"}


def reference(problem: str, args) -> dict:
    """The posteriordb reference where there is one (MCSE: sd / sqrt(draws), its draws are nearly
    independent), else a long NUTS run of the fine model (4 chains x 2000 / 2000), cached in reference.json."""
    for root in (ROOT.parent / "shared/posteriordb", ROOT / "tests/posteriordb"):
        found = root / POSTERIORDB.get(problem, "-") / "reference.json"
        if found.exists():
            ref = json.loads(found.read_text())
            return {k: {"mean": v["mean"], "sd": v["sd"], "mcse": v["sd"] / np.sqrt(ref.get("n_draws", 10000))}
                    for k, v in ref["params"].items()}
    path = HERE / "reference.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    if problem not in cached:
        import probdsl

        model_path, data_path, _ = PROBLEMS[problem]
        bound = probdsl.compile(str(model_path)).bind(str(data_path))
        idata, _ = run_nuts(bound, 12345, 4, 2000, 2000)
        cached[problem] = summarise(_param_draws(bound, idata))
        path.write_text(json.dumps(cached, indent=1))
    return cached[problem]


def row(problem, method, summary, record, ref) -> dict:
    min_ess = min(v["ess"] for v in summary.values())
    sd_error = max(abs(v["mean"] - ref[k]["mean"]) / ref[k]["sd"] for k, v in summary.items())
    z = max(abs(v["mean"] - ref[k]["mean"]) / np.hypot(v["mcse"], ref[k]["mcse"]) for k, v in summary.items())
    out = {"problem": problem, "method": method, **record, "min_ess": min_ess,
           "fine_solves_per_ess": record["fine_solves"] / min_ess, "max_mean_error_sd": sd_error,
           "max_mean_error_mcse": z}
    if method == "estimator":
        out["estimate_max_error_se"] = max(abs(v["estimate"] - ref[k]["mean"]) / np.hypot(v["estimate_se"],
                                                                                         ref[k]["mcse"])
                                           for k, v in summary.items())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--subchain", type=int, default=5)
    parser.add_argument("--thin", type=int, default=10, help="rwm: steps per kept draw")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--x64", action=argparse.BooleanOptionalAction, default=True,
                        help="double precision (the fine ODE tolerance is 1e-10)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    rows = []
    for problem in args.problems:
        ref = reference(problem, args)
        for method in args.methods:
            summary, record = fit(problem, method, args)
            rows.append(row(problem, method, summary, record, ref))
            r = rows[-1]
            _write(args, rows[-1])  # after every row: a long run stopped halfway keeps what it measured
            print(f"{problem:15} {method:10} fine solves {r['fine_solves']:>9,}  min ESS {r['min_ess']:8.0f}  "
                  f"solves/ESS {r['fine_solves_per_ess']:8.2f}  max |mean err| {r['max_mean_error_sd']:.3f} sd "
                  f"({r['max_mean_error_mcse']:.1f} MCSE)  {r['seconds']:7.1f} s", flush=True)
    for problem in args.problems:
        single = [r for r in rows if r["problem"] == problem and r["method"] in ("nuts", "rwm")]
        da = [r for r in rows if r["problem"] == problem and r["method"] == "da"]
        if single and da:
            best = min(r["fine_solves_per_ess"] for r in single)
            print(f"{problem}: da needs {best / da[0]['fine_solves_per_ess']:.1f}x fewer fine solves per effective "
                  f"sample than the best single-level sampler (target >= 5x)")


def _write(args, new: dict) -> None:
    settings = {k: v for k, v in vars(args).items() if k not in ("problems", "methods", "out")}
    merge_row(args.out, new, ("problem", "method"), settings)


if __name__ == "__main__":
    main()
