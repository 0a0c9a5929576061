"""Variational inference and Pathfinder against NUTS: gradient evaluations, time and accuracy.

    python bench/vi/run.py                                      # every model and method (~1 h on 2 cores)
    python bench/vi/run.py --models kidiq sblrc --methods nuts meanfield pathfinder
    python bench/vi/run.py --methods pathfinder flow --merge    # rerun some methods, keep the other rows of --out
    python bench/vi/run.py --make-reference                     # recompute the examples' NUTS references

Models: the posteriordb regressions with a port in examples/posteriordb/ and data and a reference
in ../shared/posteriordb (or tests/posteriordb), located as bench/posteriordb.py does; and the
examples eight_schools, logistic_regression, poisson_glm and radon, whose reference is a long NUTS
run (4 chains x 2000/2000) cached in bench/vi/reference.json.

Methods: NUTS at probdsl's defaults (4 chains x 1000/1000, adapt_delta 0.8, max_treedepth 10,
diagonal metric), ``--method vi`` with each guide, and ``--method pathfinder``, all at their defaults.
Per fit: gradient evaluations of the log density (NUTS: leapfrog steps of warmup and sampling;
VI: the ``gradients`` of the fit's config, Adam steps x particles plus those of its Laplace start;
Pathfinder: counted as they run), Pathfinder's evaluations of the log density alone (counted), VI
steps, wall time (JIT compilation included), Pareto k̂, and the error against the reference: over
the reference quantities, the max and the mean of |mean - ref mean| / ref sd and of |sd / ref sd - 1|.

Targets checked: (1) on the well-conditioned regressions (posterior correlation condition number
< 100), Pathfinder and mean-field VI reach a max mean error < 0.2 sd with >= 10x fewer gradient
evaluations than NUTS; (2) no fit with k̂ < 0.7 has a max mean error > 0.3 sd.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import posteriordb_reference as ref  # noqa: E402
from posteriordb import finite  # noqa: E402

REFERENCE = HERE / "reference.json"
METHODS = ("nuts", "meanfield", "lowrank", "fullrank", "flow", "pathfinder")
GUIDES = ("meanfield", "lowrank", "fullrank", "flow")
# the posteriordb regressions: ports whose name starts with one of these
REGRESSIONS = ("kidiq-", "kidiq_with_mom_work-", "earnings-", "mesquite-", "kilpisjarvi_mod-", "nes", "sblrc-",
               "diamonds-")
EXAMPLES = {  # name: (model, data, whether it is a regression)
    "eight_schools": ("eight_schools/eight_schools.pdl", "eight_schools/eight_schools.json", False),
    "logistic_regression": ("logistic_regression/logistic_regression.pdl",
                            "logistic_regression/logistic_regression.csv", True),
    "poisson_glm": ("poisson_glm/poisson_glm.pdl", "poisson_glm/poisson_glm.csv", True),
    "radon": ("radon/radon.pdl", "radon/radon.csv", True),
}
WELL_CONDITIONED = 100.0   # posterior correlation condition number below which a regression counts as well-conditioned
MEAN_TARGET, SPEEDUP_TARGET = 0.2, 10.0
K_USABLE, MEAN_LIMIT = 0.7, 0.3
INDEX_ROW = re.compile(r"^\| ([\w.]+-[\w.]+) \| \d+ \| [\d,]+ \| \d \| \d \| ([^|]+) \|", re.MULTILINE)


@dataclass
class Case:
    name: str
    model: Path
    data: Path | dict
    regression: bool
    reference: dict | None = None   # {name: {mean, sd}} (Stan-style names)
    cond: float = math.nan          # condition number of the posterior correlation matrix


def all_cases(roots: tuple[Path, ...]) -> list[Case]:
    cases = []
    for name in ref.ports():
        folder = ref.find_data(name, roots)
        if name.startswith(REGRESSIONS) and folder is not None:
            cases.append(Case(name, ref.PORTS / f"{name}.pdl", folder / "data.json", True,
                              ref.load_reference(folder), index_condition_numbers(folder.parent).get(name, math.nan)))
    examples = ref.ROOT / "examples"
    cases += [Case(name, examples / model, examples / data, regression) for name, (model, data, regression)
              in EXAMPLES.items()]
    return cases


def index_condition_numbers(root: Path) -> dict[str, float]:
    """The ``cond`` column of ``root/INDEX.md`` (computed there from the reference draws)."""
    index = root / "INDEX.md"
    if not index.is_file():
        return {}
    return {name: float(cond) if cond.strip() != "n/a" else math.nan
            for name, cond in INDEX_ROW.findall(index.read_text())}


# -- fits -------------------------------------------------------------------------------------------

def run_nuts(bound, seed: int, chains: int, warmup: int, draws: int):
    """NUTS at probdsl's defaults; gradients = leapfrog steps of warmup and sampling together."""
    import arviz as az
    import jax
    from numpyro.infer import MCMC, NUTS, init_to_uniform

    from probdsl.backends import devices
    from probdsl.backends.draws import to_numpy

    kernel = NUTS(bound.numpyro_model, init_strategy=init_to_uniform(radius=2.0))
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=devices.chain_method(chains), progress_bar=False)
    start = time.perf_counter()
    mcmc.warmup(jax.random.PRNGKey(seed), bound.data, collect_warmup=True, extra_fields=("num_steps",))
    warmup_steps = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    mcmc.run(mcmc.post_warmup_state.rng_key, bound.data, extra_fields=("num_steps", "diverging"))
    samples = to_numpy(mcmc.get_samples(group_by_chain=True))
    wall = time.perf_counter() - start
    extra = mcmc.get_extra_fields()
    sampling_steps = int(np.asarray(extra["num_steps"]).sum())
    record = {"gradients": warmup_steps + sampling_steps, "warmup_gradients": warmup_steps, "wall_s": wall,
              "divergences": int(np.asarray(extra["diverging"]).sum())}
    return az.from_dict(posterior=samples), record


class EvaluationCounter:
    """Counts the evaluations of ``bound.log_density`` as they run: value only, and gradients.

    ``install`` replaces the bound model's ``log_density`` by a ``jax.custom_vjp`` of it whose primal
    and backward passes each make an ``io_callback`` (once per element under ``vmap``, in a rolled
    loop: ``jax.debug.callback`` unrolls it, and compiling Pathfinder then took minutes); the value
    computed along with a gradient is not counted separately.
    """

    def __init__(self):
        self.values = 0
        self.gradients = 0

    def _value(self, value) -> None:
        self.values += 1

    def _gradient(self, value) -> None:
        self.gradients += 1

    def install(self, bound) -> None:
        import jax
        from jax.experimental import io_callback

        log_density = bound.log_density

        def counted(unconstrained, *rest):  # ``rest``: the model's data, when the caller passes it
            @jax.custom_vjp
            def evaluate(u):
                value = log_density(u, *rest)
                io_callback(self._value, None, value)
                return value

            def forward(u):
                value, pullback = jax.vjp(lambda v: log_density(v, *rest), u)
                return value, (value, pullback)

            def backward(residuals, cotangent):
                value, pullback = residuals
                io_callback(self._gradient, None, value)  # the value, batched like the point (the cotangent may not be)
                return pullback(cotangent)

            evaluate.defvjp(forward, backward)
            return evaluate(unconstrained)

        bound.log_density = counted


def run_approximation(bound, method: str, args):
    """``--method vi`` with guide ``method``, or ``--method pathfinder``, through ``fit_bound``.

    VI's gradients are its config's ``gradients``.  Pathfinder's are counted by ``EvaluationCounter``,
    in a second run with the same seed since counting slows it (by ~20% on radon): the wall time is
    the first run's, and ``counted_pareto_k`` (the second run's k̂) shows that both made the same fit.
    ``args.count_in_timed_run``: count in the one run instead.
    """
    counter = EvaluationCounter()
    counting = method == "pathfinder"
    if counting and args.count_in_timed_run:
        counter.install(bound)
    try:
        idata, config, wall = _fit(bound, method, args)
        record = {"wall_s": wall, "fit_s": config["fit_seconds"], "pareto_k": config["pareto_k"],
                  "elbo": config["elbo"], "draws_from": config["draws_from"]}
        if counting and not args.count_in_timed_run:
            counter.install(bound)
            record["counted_pareto_k"] = _fit(bound, method, args)[1]["pareto_k"]
    finally:
        vars(bound).pop("log_density", None)  # the class's method again
    if counting:
        record.update(gradients=counter.gradients, density_evaluations=counter.values)
    else:
        record.update(gradients=config["gradients"], steps=config["steps"], stopped=config["stopped"],
                      skipped_steps=config["skipped_steps"])
    return idata, record


def _fit(bound, method: str, args):
    from probdsl.api import fit_bound

    options = {"guide": method} if method in GUIDES else {}
    start = time.perf_counter()
    idata = fit_bound(bound, "vi" if method in GUIDES else "pathfinder", seed=args.seed, chains=args.chains,
                      draws=args.draws, x64=args.x64, progress=False, **options)
    return idata, json.loads(idata.attrs["config"]), time.perf_counter() - start


def accuracy(idata, reference: dict) -> dict:
    """Max and mean over the reference quantities of the mean error (in ref sds) and of |sd / ref sd - 1|."""
    quantities = ref.compare(idata, reference)
    found = [q for q in quantities if q.found]
    if not found:
        return {"missing": len(quantities)}
    mean_err = [q.mean_error for q in found]
    sd_err = [abs(q.sd_ratio - 1.0) for q in found]
    worst = max(found, key=lambda q: q.mean_error)
    return {"mean_err_max": max(mean_err), "mean_err_mean": float(np.mean(mean_err)), "sd_err_max": max(sd_err),
            "sd_err_mean": float(np.mean(sd_err)), "worst_mean": worst.name, "missing": len(quantities) - len(found)}


def run_case(case: Case, methods, args) -> list[dict]:
    """One row per method for ``case``; a failure becomes a row with ``error`` and the run goes on."""
    import probdsl

    rows = []
    bound = probdsl.compile(case.model).bind(case.data)
    for method in methods:
        row = {"model": case.name, "method": method}
        try:
            if method == "nuts":
                idata, record = run_nuts(bound, args.seed, args.chains, args.nuts_warmup, args.nuts_draws)
            else:
                idata, record = run_approximation(bound, method, args)
            row.update(record, **accuracy(idata, case.reference))
        except Exception as error:  # noqa: BLE001 - a failing fit is a row of the table
            row["error"] = describe(error)
            row["traceback"] = traceback.format_exc()
        rows.append(row)
        if not args.quiet:
            print(format_row(row), file=sys.stderr, flush=True)
    return rows


def describe(error: Exception) -> str:
    """The error's type and first line, and the innermost probdsl line it came through."""
    lines = str(error).strip().splitlines() or [""]
    package = ref.ROOT / "probdsl"
    ours = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).is_relative_to(package)]
    where = f" (from {Path(ours[-1].filename).relative_to(ref.ROOT)}:{ours[-1].lineno})" if ours else ""
    return f"{type(error).__name__}: {lines[0]}".rstrip(": ") + where


# -- references of the examples -----------------------------------------------------------------------

def example_reference(case: Case, args) -> dict:
    """Long NUTS run on ``case``: mean and sd of every scalar component of its parameters, Stan-style names."""
    import arviz as az
    import probdsl
    from probdsl.model_interface import PARAM

    bound = probdsl.compile(case.model).bind(case.data)
    seed = args.seed + 1  # not the seed of the NUTS fit it judges
    idata, record = run_nuts(bound, seed, 4, args.reference_warmup, args.reference_draws)
    draws = {}
    for site in bound.sites:
        if site.role != PARAM:
            continue
        values = idata.posterior[site.name].values
        for index in np.ndindex(values.shape[2:]):
            name = site.name + (f"[{','.join(str(i + 1) for i in index)}]" if index else "")
            draws[name] = values[(slice(None), slice(None), *index)]
    rhat = max(float(az.rhat(d)) for d in draws.values())
    ess = min(float(az.ess(d)) for d in draws.values())
    flat = np.stack([d.reshape(-1) for d in draws.values()])
    return {"what": f"NUTS (probdsl's defaults), 4 chains x {args.reference_warmup} warmup / "
                    f"{args.reference_draws} draws", "seed": seed, "x64": args.x64, **record,
            "max_rhat": rhat, "min_ess_bulk": ess,
            "cond": float(np.linalg.cond(np.corrcoef(flat))) if len(draws) > 1 else 1.0,
            "params": {k: {"mean": float(d.mean()), "sd": float(d.std(ddof=1))} for k, d in draws.items()}}


def attach_references(cases: list[Case], args) -> None:
    """Give each example its cached reference, computing (and caching) the missing ones."""
    cached = json.loads(args.reference.read_text()) if args.reference.exists() else {}
    for case in cases:
        if case.reference is not None:
            continue
        if args.make_reference or case.name not in cached:
            print(f"{case.name}: computing the NUTS reference", file=sys.stderr, flush=True)
            cached[case.name] = example_reference(case, args)
            args.reference.write_text(json.dumps(finite(cached), indent=1) + "\n")
        case.reference, case.cond = cached[case.name]["params"], cached[case.name]["cond"]


# -- tables ------------------------------------------------------------------------------------------------

COLUMNS = ("model", "method", "gradients", "density evals", "steps", "wall s", "mean err max", "mean err mean",
           "sd err max", "sd err mean", "k̂", "note")


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf" if isinstance(value, float) and math.isinf(value) else ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def format_row(r: dict) -> str:
    if "error" in r:
        note = "FAILED: " + r["error"]
    else:
        note = ", ".join(filter(None, [
            f"{r['divergences']} divergences" if r.get("divergences") else "",
            "step budget reached" if r.get("stopped") == "max_steps" else "",
            "draws from q (k̂ >= 0.7)" if r.get("draws_from") == "q" else "",
            f"{r['missing']} quantities not in the fit" if r.get("missing") else "",
            f"worst: {r['worst_mean']}" if r.get("mean_err_max", 0) > MEAN_LIMIT else ""]))
    cells = [r["model"], r["method"], _number(r.get("gradients")), _number(r.get("density_evaluations")),
             _number(r.get("steps")), _number(r.get("wall_s"), 1), _number(r.get("mean_err_max")),
             _number(r.get("mean_err_mean")), _number(r.get("sd_err_max")), _number(r.get("sd_err_mean")),
             _number(r.get("pareto_k"), 2), note]
    return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"


def targets(rows: list[dict], cases: dict[str, Case]) -> dict:
    """The two targets, per model and method, from this run's rows."""
    by = {(r["model"], r["method"]): r for r in rows}
    first = []
    for name, case in cases.items():
        if not (case.regression and case.cond < WELL_CONDITIONED):
            continue
        nuts = by.get((name, "nuts"))
        for method in ("pathfinder", "meanfield"):
            r = by.get((name, method))
            if r is None or nuts is None or "error" in nuts:
                continue
            speedup = nuts["gradients"] / r["gradients"] if "error" not in r and r["gradients"] else None
            met = ("error" not in r and r.get("mean_err_max", math.inf) < MEAN_TARGET
                   and speedup is not None and speedup >= SPEEDUP_TARGET)
            first.append({"model": name, "method": method, "cond": case.cond, "speedup": speedup,
                          "mean_err_max": r.get("mean_err_max"), "met": met, "error": r.get("error")})
    second = [{"model": r["model"], "method": r["method"], "pareto_k": r["pareto_k"],
               "mean_err_max": r.get("mean_err_max")}
              for r in rows if "error" not in r and r.get("pareto_k", math.inf) < K_USABLE
              and r.get("mean_err_max", math.inf) > MEAN_LIMIT]
    checked = sum(1 for r in rows if "error" not in r and r.get("pareto_k", math.inf) < K_USABLE)
    return {"well_conditioned": first, "first_met": bool(first) and all(t["met"] for t in first),
            "usable_fits": checked, "usable_but_wrong": second, "second_met": not second}


def print_tables(rows: list[dict], cases: dict[str, Case], result: dict) -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---:|" * 9 + "---|")
    for r in rows:
        print(format_row(r))
    print(f"\nTarget 1: on the well-conditioned regressions (posterior correlation condition number "
          f"< {WELL_CONDITIONED:g}), max mean error < {MEAN_TARGET} sd with >= {SPEEDUP_TARGET:g}x fewer gradients "
          "than NUTS\n")
    print("| model | cond | method | NUTS gradients / method's | mean err max | met |")
    print("|---|---:|---|---:|---:|---|")
    for t in result["well_conditioned"]:
        speedup = f"{t['speedup']:.1f}x" if t["speedup"] else ""
        verdict = "yes" if t["met"] else ("no: " + t["error"] if t["error"] else "no")
        print(f"| {t['model']} | {t['cond']:.3g} | {t['method']} | {speedup} | {_number(t['mean_err_max'])} | "
              f"{verdict} |")
    met = sum(t["met"] for t in result["well_conditioned"])
    checked = len(result["well_conditioned"])
    print(f"\nTarget 1: {met} of {checked} met -> " + ("MET" if result["first_met"] else "NOT MET" if checked else
                                                         "nothing to check (no well-conditioned regression with NUTS)"))
    print(f"Target 2: of {result['usable_fits']} fits with k̂ < {K_USABLE}, {len(result['usable_but_wrong'])} have "
          f"max mean error > {MEAN_LIMIT} sd -> {'MET' if result['second_met'] else 'NOT MET'}")
    for t in result["usable_but_wrong"]:
        print(f"  {t['model']} {t['method']}: k̂ {t['pareto_k']:.3f}, max mean error {t['mean_err_max']:.3f} sd")


def _device() -> str:
    import jax

    return f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.machine()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", metavar="NAME", help="models whose name contains a NAME (default: all)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seed", type=int, default=ref.DEFAULTS["seed"])
    parser.add_argument("--chains", type=int, default=4, help="NUTS chains; VI and Pathfinder: groups of draws")
    parser.add_argument("--nuts-warmup", type=int, default=1000)
    parser.add_argument("--nuts-draws", type=int, default=1000, help="per chain")
    parser.add_argument("--draws", type=int, default=1000, help="VI and Pathfinder draws per chain")
    parser.add_argument("--count-in-timed-run", action="store_true",
                        help="count Pathfinder's evaluations in its timed run (one run, not two; its time then "
                             "includes the counting's overhead)")
    parser.add_argument("--x64", action=argparse.BooleanOptionalAction, default=True, help="double precision")
    parser.add_argument("--posteriordb", type=Path,
                        help="data folder (default: ../shared/posteriordb beside the repo, then tests/posteriordb)")
    parser.add_argument("--reference", type=Path, default=REFERENCE, help="the examples' cached NUTS references")
    parser.add_argument("--make-reference", action="store_true", help="recompute the examples' references")
    parser.add_argument("--reference-warmup", type=int, default=2000)
    parser.add_argument("--reference-draws", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of --out for the (model, method) pairs this run does not redo")
    parser.add_argument("--quiet", action="store_true", help="no progress line per fit on stderr")
    args = parser.parse_args()

    from probdsl.backends.devices import configure_host_devices

    configure_host_devices(args.chains)  # parallel NUTS chains; JAX has not initialised yet
    import jax

    jax.config.update("jax_enable_x64", args.x64)
    roots = (args.posteriordb,) if args.posteriordb else (ref.SHARED, ref.TEST_COPIES)
    every = all_cases(roots)
    cases = [c for c in every if not args.models or any(part in c.name for part in args.models)]
    attach_references(cases, args)
    rows = [row for case in cases for row in run_case(case, args.methods, args)]
    if args.merge and args.out.exists():
        done = {(r["model"], r["method"]) for r in rows}
        rows += [r for r in json.loads(args.out.read_text())["rows"] if (r["model"], r["method"]) not in done]
        order = [c.name for c in every]
        rows.sort(key=lambda r: (order.index(r["model"]), METHODS.index(r["method"])))
        cases = [c for c in every if c.name in {r["model"] for r in rows}]
        attach_references(cases, args)
    by_name = {c.name: c for c in cases}
    result = targets(rows, by_name)
    print(f"\n{len(by_name)} models; NUTS {args.chains} chains x {args.nuts_warmup}/{args.nuts_draws}; VI and "
          f"Pathfinder {args.chains} x {args.draws} draws; seed {args.seed}; {'x64' if args.x64 else 'x32'}; "
          f"{_device()}\n")
    print_tables(rows, by_name, result)
    run = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args.out.write_text(json.dumps(finite({"device": _device(), "args": run,
                                           "cond": {c.name: c.cond for c in cases}, "rows": rows,
                                           "targets": result}), indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
