"""NUTS speed benchmark: probdsl against hand-written NumPyro, Stan (pystan) and nutpie (PyMC).

    python bench/nuts/run.py                       # 4 models x 4 tools x 2 seeds, 4 chains x 1000/1000
    python bench/nuts/run.py --models eight_schools --tools probdsl numpyro --seeds 1 --draws 200

Every (seed, model, tool) runs in a fresh worker process (``worker.py``), one after the other,
on the same data (``make_data.py``, seeded) and the same seed.  Prints a markdown table of
the runs and one of the targets (ratios from this run), and writes everything as JSON.
A peer that is not installed is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_data import MODELS, write_all  # noqa: E402

TOOLS = ("probdsl", "numpyro", "stan", "nutpie")
# Variants written for probdsl alone, fitted to another model's data: same posterior, other parameterisation.
VARIANTS = {"radon_noncentred": "radon"}
REQUIRES = {"probdsl": ("probdsl",), "numpyro": ("numpyro",), "stan": ("stan",), "nutpie": ("nutpie", "pymc")}
INSTALL_HINT = "pip install -e '.[bench]'"


def available(tool: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in REQUIRES[tool])


def run_worker(tool: str, model: str, data: Path, seed: int, args) -> dict:
    command = [sys.executable, str(HERE / "worker.py"), tool, model, str(data), "--seed", str(seed),
               "--chains", str(args.chains), "--warmup", str(args.warmup), "--draws", str(args.draws)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "model": model, "seed": seed, "error": f"did not finish in {args.timeout:.0f} s",
                "process_s": args.timeout}
    wall = time.perf_counter() - start
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"tool": tool, "model": model, "seed": seed, "error": last[:300], "process_s": wall}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall  # interpreter start included
    result["ess_per_s"] = result["min_ess_bulk"] / result["sampling_s"]
    result["ess_per_s_end_to_end"] = result["min_ess_bulk"] / result["end_to_end_s"]
    result["ess_per_1k_steps"] = 1000 * result["min_ess_bulk"] / (result["steps_per_draw"] * result["draws"])
    return result


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summary_of(results: list[dict], model: str, tool: str, key: str) -> float:
    return geometric_mean([r[key] for r in results if r["model"] == model and r["tool"] == tool and key in r])


def targets(results: list[dict], models: list[str]) -> list[dict]:
    """Per model, the ratios the issue sets targets for (geometric means over seeds)."""
    rows = []
    for model in models:
        peers = VARIANTS.get(model, model)  # a variant is compared with the peers on its base model
        ess = {tool: summary_of(results, model if tool == "probdsl" else peers, tool, "ess_per_s") for tool in TOOLS}
        end = {tool: summary_of(results, model if tool == "probdsl" else peers, tool, "end_to_end_s") for tool in TOOLS}
        rows.append({
            "model": model,
            "ess_per_s_vs_numpyro": ess["probdsl"] / ess["numpyro"],
            "end_to_end_vs_numpyro": end["probdsl"] / end["numpyro"],
            "ess_per_s_vs_stan": ess["probdsl"] / ess["stan"],
            "ess_per_s_vs_nutpie": ess["probdsl"] / ess["nutpie"],
            "end_to_end_vs_stan": end["probdsl"] / end["stan"],
            "end_to_end_vs_nutpie": end["probdsl"] / end["nutpie"],
        })
    return rows


def fmt(value, digits: int = 2) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def runs_table(results: list[dict]) -> str:
    header = ("| model | tool | seed | compile s | sampling s | end-to-end s | min bulk ESS | min tail ESS "
              "| ESS/s sampling | ESS/s end-to-end | steps/draw | ESS per 1k steps | divergences | peak RSS MB |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['tool']} | {r['seed']} | error: {r['error']} |||||||||||")
            continue
        lines.append(f"| {r['model']} | {r['tool']} | {r['seed']} | {fmt(r['compile_s'])} | {fmt(r['sampling_s'])} "
                     f"| {fmt(r['end_to_end_s'])} | {r['min_ess_bulk']:.0f} | {r['min_ess_tail']:.0f} "
                     f"| {r['ess_per_s']:.0f} | {r['ess_per_s_end_to_end']:.0f} | {r['steps_per_draw']:.1f} "
                     f"| {r['ess_per_1k_steps']:.1f} | {r['divergences']} "
                     f"| {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def targets_table(rows: list[dict]) -> str:
    lines = ["| model | ESS/s vs NumPyro (>= 0.95) | end-to-end vs NumPyro (<= 1.10) | ESS/s vs Stan (> 1) "
             "| ESS/s vs nutpie (> 1) | end-to-end vs Stan | end-to-end vs nutpie |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {fmt(r['ess_per_s_vs_numpyro'])} | {fmt(r['end_to_end_vs_numpyro'])} "
                     f"| {fmt(r['ess_per_s_vs_stan'])} | {fmt(r['ess_per_s_vs_nutpie'])} "
                     f"| {fmt(r['end_to_end_vs_stan'])} | {fmt(r['end_to_end_vs_nutpie'])} |")
    return "\n".join(lines)


def machine() -> dict:
    import jax

    return {"python": platform.python_version(), "platform": platform.platform(), "jax": jax.__version__,
            "jax_devices": [str(d) for d in jax.devices()], "cpu_count": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=[*MODELS, *VARIANTS], default=list(MODELS))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--data-dir", type=Path, help="where the generated data go (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    tools = []
    for tool in args.tools:
        if available(tool):
            tools.append(tool)
        else:
            print(f"skipped {tool}: not installed here ({INSTALL_HINT})", file=sys.stderr)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="probdsl-bench-nuts-"))
    data = write_all(data_dir)
    results = []
    for seed in args.seeds:
        for model in args.models:
            for tool in (["probdsl"] if model in VARIANTS else tools):
                result = run_worker(tool, model, data[VARIANTS.get(model, model)], seed, args)
                results.append(result)
                status = result.get("error") or f"{result['end_to_end_s']:.1f} s end to end"
                print(f"seed {seed} {model} {tool}: {status}", file=sys.stderr, flush=True)

    print(runs_table(results))
    rows = targets(results, args.models)
    print()
    print(targets_table(rows))
    settings = {k: getattr(args, k) for k in ("chains", "warmup", "draws", "seeds")}
    payload = {"settings": settings, "tools": tools, "machine": machine(), "runs": results, "targets": rows}
    args.json.write_text(json.dumps(payload, indent=1))
    print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
