"""Compile-time benchmark: parse + check + codegen of every example and bench/nuts model, JAX tracing excluded.

Target: <= 50 ms per model.  Prints a table and writes JSON (default bench/compile_time.json).

    python bench/compile_time.py [--repeat 20] [--out bench/compile_time.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from probdsl.compiled import compile_source

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0


def time_model(path: Path, repeat: int) -> dict:
    text = path.read_text()
    compile_source(text, str(path)).python_source()  # warm caches (grammar, imports)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        compile_source(text, str(path)).python_source()
        samples.append((time.perf_counter() - start) * 1000)
    return {"model": str(path.relative_to(ROOT)), "median_ms": statistics.median(samples),
            "max_ms": max(samples), "lines": len(text.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "compile_time.json")
    args = parser.parse_args()
    models = sorted((ROOT / "examples").rglob("*.pdl")) + sorted((ROOT / "bench" / "nuts" / "models").glob("*.pdl"))
    rows = [time_model(p, args.repeat) for p in models]
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}}  lines  median ms  max ms  <= {TARGET_MS:g} ms")
    for r in rows:
        ok = "yes" if r["median_ms"] <= TARGET_MS else "NO"
        print(f"{r['model']:<{width}}  {r['lines']:5d}  {r['median_ms']:9.2f}  {r['max_ms']:6.2f}  {ok}")
    result = {"target_ms": TARGET_MS, "repeat": args.repeat, "models": rows,
              "all_within_target": all(r["median_ms"] <= TARGET_MS for r in rows)}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
