"""Stochastic-gradient samplers against NUTS on a large logistic regression.

    python bench/sg/run.py --make-reference        # once: the long NUTS reference (bench/sg/reference.json)
    python bench/sg/run.py                         # N = 10^6, D = 20: speed table and bias-vs-step table
    python bench/sg/run.py --rows 20000 --quick    # a small, fast version (the smoke test runs this)
    python bench/sg/run.py --csv big.csv           # also write the data as CSV, for `probdsl fit ... --method sghmc`

Data: X ~ N(0, 1) (rows x 20), coefficients ~ N(0, 0.5^2), intercept 0.3, y ~ Bernoulli(logit^-1),
from one seed.  Model: ``logistic.pdl`` (alpha ~ normal(0, 2.5), beta ~ normal(0, 1)).

Speed table, one row per method: NUTS (full-data gradients, 4 chains) and each stochastic-gradient
integrator at its defaults (tuned step, friction 1, tuned batch, control variates).  Time to 1000
effective draws = the fixed cost (compilation, tuning, warmup) + the sampling time scaled to a
minimum bulk ESS of 1000 over the 21 parameters.  Errors are against the reference: the largest
|mean - mean_ref| / sd_ref and |sd / sd_ref - 1| over the parameters, and the mean over parameters
of var / var_ref - 1 (the signed variance error).

Bias-vs-step table: every integrator at 0.5x, 1x and 2x the tuned step, with two batch sizes,
without control variates by default (so that the minibatch noise shows), the same number of steps each.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL = HERE / "logistic.pdl"
REFERENCE = HERE / "reference.json"
INTEGRATORS = ("splitting", "baoab", "euler", "sgld", "psgld")
BIAS_INTEGRATORS = ("splitting", "baoab", "euler", "sgld")
DATA_SEED = 20261124


def make_data(rows: int, dim: int = 20, seed: int = DATA_SEED) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    beta = rng.normal(0.0, 0.5, size=dim)
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(0.3 + x.astype(np.float64) @ beta))))
    return {"N": rows, "D": dim, "X": x, "y": y}


def write_csv(data: dict, path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(data["X"], columns=[f"X.{j + 1}" for j in range(data["D"])])
    frame["y"] = data["y"]
    frame.to_csv(path, index=False, float_format="%.5f")


def parameter_table(draws) -> dict[str, np.ndarray]:
    """Draws of every scalar parameter, ``(chain, draw)`` each: alpha, beta[1..D] (``draws``: a posterior
    dataset or a dict of arrays)."""
    alpha, beta = np.asarray(draws["alpha"]), np.asarray(draws["beta"])
    return {"alpha": alpha, **{f"beta[{j + 1}]": beta[..., j] for j in range(beta.shape[-1])}}


def accuracy(table: dict[str, np.ndarray], reference: dict) -> dict:
    import arviz as az

    mean_err, sd_err, var_err, ess = [], [], [], []
    for name, draws in table.items():
        ref = reference["parameters"][name]
        mean_err.append(abs(draws.mean() - ref["mean"]) / ref["sd"])
        sd_err.append(abs(draws.std() / ref["sd"] - 1.0))
        var_err.append(draws.var() / ref["sd"] ** 2 - 1.0)
        ess.append(float(az.ess(draws)))
    return {"mean_error_sd": float(max(mean_err)), "sd_error": float(max(sd_err)),
            "variance_error": float(np.mean(var_err)), "min_ess_bulk": float(min(ess))}


def run_nuts(bound, chains: int, warmup: int, draws: int, seed: int):
    """NUTS on the compiled model, timing warmup (compilation included) and sampling separately."""
    import jax
    from numpyro.infer import MCMC, NUTS

    from probdsl.backends.draws import to_numpy

    mcmc = MCMC(NUTS(bound.numpyro_model), num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method="vectorized", progress_bar=False)
    key = jax.random.PRNGKey(seed)
    start = time.perf_counter()
    mcmc.warmup(key, bound.data, extra_fields=("num_steps",))
    jax.block_until_ready(mcmc.last_state)
    warm = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, bound.data, extra_fields=("num_steps",))
    samples = to_numpy(mcmc.get_samples(group_by_chain=True))
    done = time.perf_counter()
    steps = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    table = parameter_table(samples)
    return table, {"setup_s": warm - start, "sampling_s": done - warm, "gradients": steps}


def make_reference(bound, seed: int, warmup: int, draws: int) -> dict:
    table, timing = run_nuts(bound, chains=4, warmup=warmup, draws=draws, seed=seed)
    import arviz as az

    return {
        "what": f"NUTS (NumPyro via probdsl's compiled model), 4 chains x {warmup} warmup / {draws} draws, full data",
        "rows": int(bound.data["N"]), "data_seed": DATA_SEED, "seed": seed, **timing,
        "device": _device(),
        "parameters": {name: {"mean": float(d.mean()), "sd": float(d.std()), "ess_bulk": float(az.ess(d)),
                              "mcse_mean": float(d.std() / np.sqrt(az.ess(d)))} for name, d in table.items()},
    }


def run_sg(bound, integrator: str, seed: int, **options):
    from probdsl.backends.sg import SgConfig, fit_sg

    start = time.perf_counter()
    idata = fit_sg(bound, SgConfig(integrator=integrator, seed=seed, progress=False, **options))
    total = time.perf_counter() - start
    config = json.loads(idata.attrs["config"])
    timing = {"setup_s": config["tuning_seconds"] + config["warmup_seconds"], "sampling_s": config["sampling_seconds"],
              "fit_s": total, "gradients": config["minibatch_gradients"], "step_size": config["step_size"],
              "batch_size": config["batch_size"],
              "noise_ratio": float(np.median(idata.sample_stats["noise_ratio"].values))}
    return parameter_table(idata.posterior), timing


def time_to_ess(timing: dict, ess: float, target: float = 1000.0) -> float:
    return timing["setup_s"] + timing["sampling_s"] * target / ess


def speed_rows(bound, reference: dict, args) -> list[dict]:
    rows = []
    if "nuts" in args.methods:
        table, timing = run_nuts(bound, args.chains, args.nuts_warmup, args.nuts_draws, args.seed)
        rows.append({"method": "nuts", **timing, **accuracy(table, reference)})
    for name in [m for m in INTEGRATORS if m in args.methods]:
        table, timing = run_sg(bound, name, args.seed, chains=args.chains, draws=args.draws, thin=args.thin,
                               warmup=args.warmup)
        rows.append({"method": name, **timing, **accuracy(table, reference)})
    for row in rows:
        row["time_to_1000_ess_s"] = time_to_ess(row, row["min_ess_bulk"])
    return rows


def bias_rows(bound, reference: dict, tuned_step: float, args) -> list[dict]:
    rows = []
    for name in BIAS_INTEGRATORS:
        for factor in (0.5, 1.0, 2.0):
            for batch in args.bias_batches:
                for control in args.bias_control_variates:
                    table, timing = run_sg(bound, name, args.seed, chains=args.chains, draws=args.draws,
                                           thin=args.thin, warmup=args.warmup, step_size=factor * tuned_step,
                                           batch_size=batch, control_variates=control)
                    rows.append({"integrator": name, "step_factor": factor, "step_size": factor * tuned_step,
                                 "batch_size": batch, "control_variates": control, **timing,
                                 **accuracy(table, reference)})
                    print(_format_bias(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _format_bias(r: dict) -> str:
    return (f"| {r['integrator']} | {r['step_size']:.3g} ({r['step_factor']:g}x) | {r['batch_size']} | "
            f"{'yes' if r['control_variates'] else 'no'} | {r['variance_error']:+.3f} | {r['mean_error_sd']:.3f} | "
            f"{r['noise_ratio']:.3g} | {r['min_ess_bulk']:.0f} |")


def print_tables(speed: list[dict], bias: list[dict], reference: dict) -> None:
    nuts = next((r for r in speed if r["method"] == "nuts"), None)
    print(f"\nlogistic regression, {reference['rows']} rows, D = 20; reference: {reference['what']}\n")
    print("| method | setup s | sampling s | min ESS | time to 1000 ESS s | vs NUTS | gradients | batch | "
          "mean err (sd) | sd err | var err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in speed:
        print(f"| {r['method']} | {r['setup_s']:.1f} | {r['sampling_s']:.1f} | {r['min_ess_bulk']:.0f} | "
              f"{r['time_to_1000_ess_s']:.1f} | "
              f"{nuts['time_to_1000_ess_s'] / r['time_to_1000_ess_s'] if nuts else float('nan'):.1f}x | "
              f"{r['gradients']} | {r.get('batch_size', reference['rows'])} | {r['mean_error_sd']:.3f} | "
              f"{r['sd_error']:.3f} | {r['variance_error']:+.3f} |")
    if bias:
        print("\n| integrator | step | batch | control variates | var err | mean err (sd) | noise ratio | min ESS |")
        print("|---|---|---|---|---|---|---|---|")
        for r in bias:
            print(_format_bias(r))


def _device() -> str:
    import jax

    return f"{jax.devices()[0].device_kind} ({jax.default_backend()}), {platform.machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000, help="SG burn-in steps")
    parser.add_argument("--draws", type=int, default=1000, help="SG kept draws per chain")
    parser.add_argument("--thin", type=int, default=10)
    parser.add_argument("--nuts-warmup", type=int, default=500)
    parser.add_argument("--nuts-draws", type=int, default=500)
    parser.add_argument("--methods", nargs="+", default=["nuts", *INTEGRATORS], choices=["nuts", *INTEGRATORS])
    parser.add_argument("--bias-batches", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--bias-control-variates", type=lambda v: v == "on", nargs="+", default=[False],
                        metavar="on|off", help="with control variates, without, or both (default: off)")
    parser.add_argument("--no-bias", action="store_true", help="skip the bias-vs-step table")
    parser.add_argument("--quick", action="store_true", help="few draws: a smoke run")
    parser.add_argument("--make-reference", action="store_true")
    parser.add_argument("--reference-warmup", type=int, default=500)
    parser.add_argument("--reference-draws", type=int, default=1500)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--csv", type=Path, help="also write the data to this CSV file")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.draws, args.nuts_warmup, args.nuts_draws, args.bias_batches = 200, 200, 200, 200, [100]
        args.reference_warmup, args.reference_draws = 200, 400

    import probdsl

    data = make_data(args.rows)
    if args.csv:
        write_csv(data, args.csv)
    bound = probdsl.compile(MODEL).bind(data)
    if args.make_reference:
        reference = make_reference(bound, args.seed, args.reference_warmup, args.reference_draws)
        args.reference.write_text(json.dumps(reference, indent=1))
        print(f"wrote {args.reference}")
        return
    if not args.reference.exists() or json.loads(args.reference.read_text())["rows"] != args.rows:
        print(f"computing a reference for {args.rows} rows (no matching {args.reference})", file=sys.stderr)
        reference = make_reference(bound, args.seed, args.reference_warmup, args.reference_draws)
    else:
        reference = json.loads(args.reference.read_text())
    speed = speed_rows(bound, reference, args)
    bias = []
    if not args.no_bias:
        tuned = next(r for r in speed if r["method"] == "splitting")["step_size"]
        bias = bias_rows(bound, reference, tuned, args)
    print_tables(speed, bias, reference)
    args.out.write_text(json.dumps({"device": _device(), "rows": args.rows, "args": {k: str(v) for k, v in
                                    vars(args).items()}, "speed": speed, "bias": bias}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
