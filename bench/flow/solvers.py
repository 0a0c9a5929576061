"""The cost of one flow posterior against its accuracy, per ODE solver setting.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/flow/solvers.py --problems two_moons slcp gaussian_linear

Per problem, one flow is trained as ``run.py`` trains it (default settings, ``--budget`` simulations,
``--seed``); then, for the same observations and references as ``run.py``, each solver setting draws
10,000 posterior draws (no log density) and is scored by C2ST against the reference, and timed: the
compiled solve alone, for 10,000 and for 1,000 draws.  The settings are the adaptive solver (Tsit5)
at the default tolerance and at 1e-3, and 4 to 32 fixed midpoint steps (``--ode-steps``).
Rows are merged into ``--out`` by (problem, budget, solver).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from run import PROBLEMS, REFERENCE_DRAWS, flatten, observations, reference, trained
from results_table import merge_row

HERE = Path(__file__).resolve().parent
SETTINGS = {"adaptive 1e-5": {}, "adaptive 1e-3": {"tolerance": 1e-3}, "midpoint 4": {"steps": 4},
            "midpoint 8": {"steps": 8}, "midpoint 16": {"steps": 16}, "midpoint 32": {"steps": 32}}


def sampling_ms(flow, bound, draws: int, seed: int, options: dict):
    """``(InferenceData, milliseconds of the compiled solve, ODE steps)`` for ``draws`` flow draws."""
    from probdsl.backends.flow import FlowConfig, fit_flow

    idata = fit_flow(bound, FlowConfig(flow=flow, draws=draws, density=False, seed=seed, progress=False, **options))
    record = json.loads(idata.attrs["config"])
    return idata, 1000 * record["sampling_seconds"], record["ode_steps"]


def run_problem(name: str, args) -> list[dict]:
    from probdsl.results.c2st import c2st

    problem = PROBLEMS[name]
    model, data, flow = trained(problem, args.budget, args.seed)
    measured = {label: {"c2st": [], "ms_10000": [], "ms_1000": [], "steps": []} for label in SETTINGS}
    for k, (_, obs) in enumerate(observations(model, data, problem, args.observations, args.seed)):
        ref = reference(name, problem, model, data, obs, k, args.seed)
        bound = model.bind({**(data or {}), **obs})
        for label, options in SETTINGS.items():
            idata, ms, steps = sampling_ms(flow, bound, REFERENCE_DRAWS, args.seed + 1 + k, options)
            draws = flatten({p: idata.posterior[p].values[0] for p in problem.params}, problem.params)
            row = measured[label]
            row["c2st"].append(c2st(ref, draws, seed=1))
            row["ms_10000"].append(ms)
            row["ms_1000"].append(sampling_ms(flow, bound, 1000, args.seed + 1 + k, options)[1])
            row["steps"].append(steps)
    return [{"problem": name, "budget": args.budget, "solver": label, **values,
             "c2st_mean": float(np.mean(values["c2st"])), "ms_10000_median": float(np.median(values["ms_10000"])),
             "ms_1000_median": float(np.median(values["ms_1000"]))} for label, values in measured.items()]


HEADER = f"{'problem':17}{'solver':15}{'C2ST':>7}{'ms/10k':>8}{'ms/1k':>7}{'steps':>7}"


def format_row(r: dict) -> str:
    return (f"{r['problem']:17}{r['solver']:15}{r['c2st_mean']:>7.3f}{r['ms_10000_median']:>8.0f}"
            f"{r['ms_1000_median']:>7.0f}{np.mean(r['steps']):>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=["two_moons", "slcp", "gaussian_linear"],
                        choices=list(PROBLEMS))
    parser.add_argument("--budget", type=int, default=10_000, help="simulations to train on (default 10000)")
    parser.add_argument("--observations", type=int, default=3, help="observations per problem (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="observations, training and references (default 0)")
    parser.add_argument("--out", type=Path, default=HERE / "solvers.json")
    args = parser.parse_args()
    settings = {k: v for k, v in vars(args).items() if k not in ("problems", "out")}
    print(HEADER, flush=True)
    for name in args.problems:
        for row in run_problem(name, args):
            merge_row(args.out, row, ("problem", "budget", "solver"), settings)
            print(format_row(row), flush=True)


if __name__ == "__main__":
    main()
