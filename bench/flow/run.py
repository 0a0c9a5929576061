"""Flow-matching posteriors on the sbibm benchmark problems: C2ST against reference posteriors.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/flow/run.py --problems two_moons gaussian_linear \\
        --budgets 1000 10000 --observations 3

Per problem and simulation budget, one flow is trained on the model's own simulations
(``probdsl.train``: default network and training settings).  Then, per observation (a true theta
drawn from the prior with ``--seed``, and data simulated from it):

- 10,000 flow draws (``fit(..., method="flow")``); the time of the compiled ODE solve alone
  (``sampling_seconds``, no compilation) is the cost of one posterior;
- C2ST of the flow's draws against 10,000 reference draws (``probdsl.results.c2st``: sbibm's
  classifier layout, 5-fold; 0.5 = indistinguishable, 1.0 = disjoint).

Once per budget: simulation-based calibration on 200 held-out simulations (100 draws each):
the smallest chi-square p-value over parameter elements and the coverage of 90% intervals.

References are exact where the posterior is known (gaussian_linear, gaussian_mixture; two_moons and
sir on fine grids of their tractable likelihoods), otherwise NUTS on the same model (4 chains x 2500);
they are cached in ``bench/flow/references/`` and recomputed when the observation changes.
Rows are merged into ``--out`` by (problem, budget) after each one, so runs add up to one table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
from results_table import merge_row  # noqa: E402
REFERENCES = HERE / "references"
REFERENCE_DRAWS = 10_000

# published C2ST by simulation budget (shared/design/backends-research.md section 4.7): NPE from the sbibm paper
# (mean of its 10 observations; bernoulli_glm_raw, the layout closest to ours), GenSBI's flow matching (Flux1)
NPE = {"two_moons": (0.725, 0.606, 0.542), "gaussian_linear": (0.694, 0.552, 0.506),
       "gaussian_mixture": (0.731, 0.661, 0.555), "slcp": (0.975, 0.901, 0.831),
       "bernoulli_glm": (0.900, 0.765, 0.607), "sir": (0.815, 0.680, 0.585)}
GENSBI = {"two_moons": (None, 0.549, 0.525), "gaussian_linear": (None, 0.714, 0.504),
          "gaussian_mixture": (None, 0.553, 0.510), "slcp": (None, 0.833, 0.602), "bernoulli_glm": (None, 0.722, 0.550)}
ANCHOR_BUDGETS = (1000, 10_000, 100_000)


def anchor(table: dict, problem: str, budget: int) -> float | None:
    """The published C2ST for this problem and budget, if there is one."""
    if problem not in table or budget not in ANCHOR_BUDGETS:
        return None
    return table[problem][ANCHOR_BUDGETS.index(budget)]


# -- reference posteriors: (model, data, observation, params, seed) -> (REFERENCE_DRAWS, dim) -------------

def gaussian_linear_reference(model, data, obs, params, seed):
    """Prior N(0, 0.1 I), likelihood N(theta, 0.1 I): posterior N(x / 2, 0.05 I)."""
    x = np.asarray(obs["x"], float)
    return x / 2 + np.sqrt(0.05) * np.random.default_rng(seed).normal(size=(REFERENCE_DRAWS, len(x)))


def gaussian_mixture_reference(model, data, obs, params, seed):
    """The mixture 0.5 N(x, I) + 0.5 N(x, 0.01 I) restricted to the prior's box (by rejection)."""
    x, rng, kept = np.asarray(obs["x"], float), np.random.default_rng(seed), []
    while sum(len(k) for k in kept) < REFERENCE_DRAWS:
        sd = np.where(rng.random(REFERENCE_DRAWS) < 0.5, 1.0, 0.1)[:, None]
        theta = x + sd * rng.normal(size=(REFERENCE_DRAWS, 2))
        kept.append(theta[np.all(np.abs(theta) <= 10, axis=1)])
    return np.concatenate(kept)[:REFERENCE_DRAWS]


def grid_draws(edges: list[np.ndarray], weights: np.ndarray, rng) -> np.ndarray:
    """``REFERENCE_DRAWS`` draws from a density given by ``weights`` over the cells of a grid with these
    ``edges`` per axis: a cell in proportion to its weight, then uniformly inside it."""
    cell = rng.choice(weights.size, REFERENCE_DRAWS, p=weights.ravel() / weights.sum())
    index = np.unravel_index(cell, weights.shape)
    width = np.array([e[1] - e[0] for e in edges])
    return np.stack([e[i] for e, i in zip(edges, index)], axis=1) + width * rng.random((REFERENCE_DRAWS, len(edges)))


def two_moons_reference(model, data, obs, params, seed, cells=2500):
    """The likelihood is tractable: given x and theta, the radius r and angle a are determined, and
    p(x | theta) = N(r; 0.1, 0.01) / (pi r) for a in (-pi/2, pi/2).  Sampled on a grid over the
    prior's square, with a uniform jitter inside each cell."""
    from scipy import stats

    x, rng = np.asarray(obs["x"], float), np.random.default_rng(seed)
    edges = np.linspace(-1, 1, cells + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    t1, t2 = np.meshgrid(mid, mid, indexing="ij")
    u = x[0] - 0.25 + np.abs(t1 + t2) / np.sqrt(2)
    v = x[1] - (-t1 + t2) / np.sqrt(2)
    r = np.hypot(u, v)
    density = np.where(u > 0, stats.norm.pdf(r, 0.1, 0.01) / np.maximum(r, 1e-12), 0.0)
    return grid_draws([edges, edges], density, rng)


def nuts_reference(model, data, obs, params, seed):
    """NUTS on the same model: 4 chains of 2500 draws."""
    idata = model.fit({**(data or {}), **obs}, chains=4, draws=REFERENCE_DRAWS // 4, seed=seed, progress=False)
    return flatten({p: idata.posterior[p].values.reshape(-1, *idata.posterior[p].shape[2:]) for p in params}, params)


def slcp_reference(model, data, obs, params, seed):
    """NUTS, then independent random signs for theta[3] and theta[4]: the likelihood depends on their
    squares only, so the posterior has four mirrored modes that one NUTS chain would not all visit."""
    draws = nuts_reference(model, data, obs, params, seed)
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(len(draws), 2))
    draws[:, 2:4] *= signs
    return draws


def sir_reference(model, data, obs, params, seed, cells=400):
    """The likelihood is tractable but each gradient needs an ODE solve with its sensitivities, which makes
    NUTS far too slow here (about 5 s per iteration), so the 2-D posterior is computed on a grid of
    (log beta, log gamma): first over +-5 prior sds, then over the box where that grid has mass (every
    cell within 25 of the top log density, 1.5 cells of margin), each cell jittered uniformly; the
    log density is that of the unconstrained (log) parameters, Jacobian included, as the grid is."""
    import jax

    bound = model.bind({**(data or {}), **obs})
    density = jax.jit(jax.vmap(lambda b, g: bound.log_density({"beta": b, "gamma": g})))
    rng = np.random.default_rng(seed)

    def grid(lower, upper):
        edges = [np.linspace(lo, hi, cells + 1) for lo, hi in zip(lower, upper)]
        mids = np.meshgrid(*[(e[:-1] + e[1:]) / 2 for e in edges], indexing="ij")
        flat = [m.ravel().astype(np.float32) for m in mids]
        values = np.concatenate([np.asarray(density(b, g)) for b, g in zip(*[np.array_split(f, 40) for f in flat])])
        return edges, mids, np.where(np.isfinite(values), values, -np.inf).reshape(mids[0].shape)

    centre, sd = np.array([np.log(0.4), np.log(1 / 8)]), np.array([0.5, 0.2])
    edges, mids, values = grid(centre - 5 * sd, centre + 5 * sd)
    step = np.array([e[1] - e[0] for e in edges])
    kept = values > values.max() - 25
    lower = np.array([m[kept].min() for m in mids]) - 1.5 * step
    upper = np.array([m[kept].max() for m in mids]) + 1.5 * step
    edges, mids, values = grid(lower, upper)
    return np.exp(grid_draws(edges, np.exp(values - values.max()), rng))


@dataclass
class Problem:
    model: Path
    data: Path | None
    reference: Callable
    params: tuple[str, ...]     # the parameters, in the order their elements are compared
    observed: str               # the data name simulated per observation


PROBLEMS = {
    "two_moons": Problem(ROOT / "examples/flow/two_moons.pdl", None, two_moons_reference, ("theta",), "x"),
    "gaussian_linear": Problem(HERE / "gaussian_linear.pdl", None, gaussian_linear_reference, ("theta",), "x"),
    "gaussian_mixture": Problem(HERE / "gaussian_mixture.pdl", None, gaussian_mixture_reference, ("theta",), "x"),
    "slcp": Problem(HERE / "slcp.pdl", None, slcp_reference, ("theta",), "x"),
    "bernoulli_glm": Problem(HERE / "bernoulli_glm.pdl", HERE / "bernoulli_glm.json", nuts_reference,
                             ("alpha", "beta"), "y"),
    "sir": Problem(HERE / "sir.pdl", None, sir_reference, ("beta", "gamma"), "y"),
}


def flatten(draws: dict, params) -> np.ndarray:
    """``(draws, dim)``: the named parameters' elements side by side."""
    return np.concatenate([np.asarray(draws[p], float).reshape(len(draws[p]), -1) for p in params], axis=1)


def observations(model, data, problem: Problem, count: int, seed: int) -> list[tuple[np.ndarray, dict]]:
    """``count`` pairs (true theta, observed data) from the prior predictive."""
    import jax

    prior = model.bind(data, predicting=True).sample_prior(jax.random.PRNGKey(seed), count)
    theta = flatten(prior, problem.params)
    return [(theta[k], {problem.observed: np.asarray(prior[problem.observed][k])}) for k in range(count)]


def reference(name: str, problem: Problem, model, data, obs: dict, k: int, seed: int) -> np.ndarray:
    """The cached reference draws of observation ``k``, recomputed when the observation differs."""
    path = REFERENCES / f"{name}_seed{seed}_obs{k}.npz"
    x = np.asarray(obs[problem.observed], np.float32)
    if path.exists():
        cached = np.load(path)
        if np.array_equal(cached["observation"], x):
            return cached["draws"].astype(float)
    start = time.perf_counter()
    draws = problem.reference(model, data, obs, problem.params, seed=1000 * seed + k)
    print(f"  reference {name} #{k}: {time.perf_counter() - start:.1f} s", flush=True)
    REFERENCES.mkdir(exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez_compressed(temporary, draws=draws.astype(np.float32), observation=x)
    temporary.replace(path)
    return draws


def trained(problem: Problem, budget: int, seed: int):
    """``(model, data, flow)``: the problem's compiled model, its fixed data (or None) and a flow trained on
    ``budget`` of its simulations with the default settings."""
    import probdsl

    model = probdsl.compile(problem.model)
    data = json.loads(problem.data.read_text()) if problem.data else None
    return model, data, probdsl.train(model, data, simulations=budget, seed=seed, progress=False)


def run_budget(name: str, problem: Problem, budget: int, args) -> dict:
    import probdsl
    from probdsl.results.c2st import c2st

    model, data, flow = trained(problem, budget, args.seed)
    scores, sampling_ms = [], []
    for k, (_, obs) in enumerate(observations(model, data, problem, args.observations, args.seed)):
        ref = reference(name, problem, model, data, obs, k, args.seed)
        idata = model.fit({**(data or {}), **obs}, method="flow", flow=flow, draws=REFERENCE_DRAWS,
                          seed=args.seed + 1 + k, progress=False, density=False)
        sampling_ms.append(1000 * json.loads(idata.attrs["config"])["sampling_seconds"])
        draws = flatten({p: idata.posterior[p].values[0] for p in problem.params}, problem.params)
        scores.append(c2st(ref[: args.c2st_draws], draws[: args.c2st_draws], seed=1))
    sbc = probdsl.api.calibrate(model, flow, data, simulations=200, draws=100, seed=args.seed)
    record = flow.record
    return {"problem": name, "budget": budget, "c2st": scores, "c2st_mean": float(np.mean(scores)),
            "c2st_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            "training_seconds": record["training_seconds"], "epochs": record["epochs"],
            "dropped_simulations": record.get("dropped_simulations", 0), "sampling_ms": sampling_ms,
            "sampling_ms_median": float(np.median(sampling_ms)), "sbc_min_chi2_p": float(np.min(sbc.chi2_p)),
            "sbc_min_ks_p": float(np.min(sbc.ks_p)), "sbc_coverage_90": sbc.coverage[0.9]}


HEADER = (f"{'problem':17}{'budget':>8}  {'C2ST mean ± sd':>15}{'train s':>9}{'ms/post':>9}{'SBC min p':>10}"
          f"{'cov90':>7}  {'NPE':>6}{'GenSBI':>8}")


def format_row(r: dict) -> str:
    """A row of the table, beside the published C2ST at the same budget."""
    shown = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
    npe, gensbi = (anchor(table, r["problem"], r["budget"]) for table in (NPE, GENSBI))
    return (f"{r['problem']:17}{r['budget']:>8}  {r['c2st_mean']:>7.3f} ± {r['c2st_sd']:.3f}"
            f"{r['training_seconds']:>9.0f}{r['sampling_ms_median']:>9.0f}{r['sbc_min_chi2_p']:>10.3f}"
            f"{r['sbc_coverage_90']:>7.2f}  {shown(npe):>6}{shown(gensbi):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--budgets", nargs="+", type=int, default=[1000, 10_000, 100_000])
    parser.add_argument("--observations", type=int, default=3, help="observations per problem (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="observations, training and references (default 0)")
    parser.add_argument("--c2st-draws", type=int, default=REFERENCE_DRAWS,
                        help="draws per side of the C2ST (default 10000, as sbibm)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--show", action="store_true", help="print the table of --out and run nothing")
    args = parser.parse_args()
    if args.show:
        rows = sorted(json.loads(args.out.read_text())["rows"], key=lambda r: (list(PROBLEMS).index(r["problem"]),
                                                                                r["budget"]))
        print(HEADER + "\n" + "\n".join(format_row(r) for r in rows))
        return
    rows = []
    print(HEADER, flush=True)
    for name in args.problems:
        for budget in args.budgets:
            rows.append(run_budget(name, PROBLEMS[name], budget, args))
            _write(args, rows[-1])  # after every row: a long run stopped halfway keeps what it measured
            print(format_row(rows[-1]), flush=True)
    print("\n" + HEADER)
    print("\n".join(format_row(r) for r in rows))


def _write(args, new: dict) -> None:
    settings = {k: v for k, v in vars(args).items() if k not in ("problems", "budgets", "out")}
    merge_row(args.out, new, ("problem", "budget"), settings)


if __name__ == "__main__":
    main()
