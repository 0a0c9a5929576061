"""Validation harness: fit every posteriordb port and compare it with its reference posterior.

Each examples/posteriordb/<posterior>.pdl is fitted to <posteriordb>/<posterior>/data.json with the
sampler settings of posteriordb_reference.SETTINGS and checked against reference.json by the rule in
bench/posteriordb_reference.py.  Prints a markdown table and writes JSON (default bench/posteriordb.json).
Posteriors in INDEX.md without a port are "missing" rows; a model that fails to compile or fit is a
FAIL row with the error's first line, and the run goes on.  Exit status 1 when any row is a FAIL.

    python bench/posteriordb.py [--only NAME ...] [--chains 4] [--warmup 1000] [--draws 1000] [--seed N]
                                [--posteriordb PATH] [--json PATH] [--no-x64] [--quiet]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpyro

import posteriordb_reference as ref

INDEX_ROW = re.compile(r"^\| ([\w.]+-[\w.]+) \| \d+ \|", re.MULTILINE)
COLUMNS = ["posterior", "#params", r"worst \|mean-ref\|/ref sd", "worst sd ratio", "min ESS", "divergences",
           "seconds", "settings", "result"]


def indexed_posteriors(roots: tuple[Path, ...]) -> set[str]:
    """Posterior names listed in the INDEX.md of any data root."""
    return {name for root in roots if (root / "INDEX.md").is_file()
            for name in INDEX_ROW.findall((root / "INDEX.md").read_text())}


def run_one(posterior: str, roots: tuple[Path, ...], args) -> dict:
    """One row: fit ``posterior`` and compare it with its reference (or say why not)."""
    row = dict(posterior=posterior, settings=ref.describe_settings(posterior))
    if not (ref.PORTS / f"{posterior}.pdl").is_file():
        return dict(row, status="missing", note="no .pdl port yet")
    folder = ref.find_data(posterior, roots)
    if folder is None:
        return dict(row, status="no data", note="no data.json and reference.json under " + ", ".join(map(str, roots)))
    reference = ref.load_reference(folder)
    row.update(n_params=len(reference), data=str(folder))
    start = time.perf_counter()
    try:
        idata = ref.fit(posterior, folder, chains=args.chains, warmup=args.warmup, draws=args.draws,
                        seed=args.seed, x64=args.x64)
    except Exception as error:  # noqa: BLE001 - any failure becomes a FAIL row
        lines = str(error).strip().splitlines() or [""]
        return dict(row, status="FAIL", seconds=time.perf_counter() - start,
                    note=f"{type(error).__name__}: {lines[0]}")
    row["seconds"] = time.perf_counter() - start
    quantities = ref.compare(idata, reference)
    found = [q for q in quantities if q.found]
    row.update(
        worst_mean_error=max((q.mean_error for q in found), default=None),
        worst_sd_ratio=max((q.sd_ratio for q in found), key=lambda r: abs(r - 1), default=None),
        min_ess=min((q.ess for q in found), default=None),
        divergences=int(idata.sample_stats["diverging"].sum()),
        status="PASS" if all(q.ok for q in quantities) else "FAIL",
        note=failure_note(quantities),
        quantities=[dict(vars(q), mean_ok=q.mean_ok, sd_ok=q.sd_ok) for q in quantities],
    )
    return row


def failure_note(quantities: list[ref.Quantity]) -> str:
    """Which quantities failed: absent from the fit (grouped by variable), mean off, sd off."""
    absent = Counter(q.name.partition("[")[0] for q in quantities if not q.found)
    parts = [f"not in the fit: {', '.join(f'{name} ({n})' if n > 1 else name for name, n in absent.items())}"] if absent else []
    for label, bad in (("mean", [q.name for q in quantities if q.found and not q.mean_ok]),
                       ("sd", [q.name for q in quantities if q.found and not q.sd_ok])):
        if bad:
            parts.append(f"{label}: {', '.join(bad[:3])}" + (f" +{len(bad) - 3} more" if len(bad) > 3 else ""))
    return "; ".join(parts)


def markdown(rows: list[dict]) -> str:
    def number(value, digits):
        return "" if value is None else f"{value:.{digits}f}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * 6 + "---|---|"]
    for r in rows:
        result = r["status"] + (f": {r['note']}" if r.get("note") else "")
        cells = [r["posterior"], str(r.get("n_params", "")), number(r.get("worst_mean_error"), 3),
                 number(r.get("worst_sd_ratio"), 3), number(r.get("min_ess"), 0), str(r.get("divergences", "")),
                 number(r.get("seconds"), 1), r["settings"], result]
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |")
    return "\n".join(lines)


def finite(value):
    """JSON has no inf or nan: None instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run the posteriors whose name contains a NAME")
    parser.add_argument("--chains", type=int, default=ref.DEFAULTS["chains"])
    parser.add_argument("--warmup", type=int, default=ref.DEFAULTS["warmup"])
    parser.add_argument("--draws", type=int, default=ref.DEFAULTS["draws"], help="per chain")
    parser.add_argument("--seed", type=int, default=ref.DEFAULTS["seed"])
    parser.add_argument("--posteriordb", type=Path,
                        help="data folder (default: ../shared/posteriordb beside the repo, then tests/posteriordb)")
    parser.add_argument("--json", type=Path, default=ref.ROOT / "bench" / "posteriordb.json")
    parser.add_argument("--x64", action=argparse.BooleanOptionalAction, default=True, help="double precision")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args()
    # One CPU device per chain so that chains run in parallel; JAX has not initialised yet.
    numpyro.set_host_device_count(args.chains)

    roots = (args.posteriordb,) if args.posteriordb else (ref.SHARED, ref.TEST_COPIES)
    names = sorted(set(ref.ports()) | indexed_posteriors(roots))
    if args.only:
        names = [n for n in names if any(part in n for part in args.only)]
    rows = []
    for name in names:
        rows.append(run_one(name, roots, args))
        if not args.quiet:
            r = rows[-1]
            took = f" ({r['seconds']:.1f} s)" if "seconds" in r else ""
            print(f"{name}: {r['status']}{took} {r.get('note', '')}", file=sys.stderr, flush=True)

    run = dict(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed, x64=args.x64)
    print(f"chains {args.chains}, warmup {args.warmup}, draws {args.draws} per chain, seed {args.seed}, "
          f"{'x64' if args.x64 else 'x32'}; pass: every quantity's mean within max(0.1 ref sd, 4 MCSE) "
          "and sd within 10%\n")
    print(markdown(rows))
    counts = Counter(r["status"] for r in rows)
    print("\n" + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    args.json.write_text(json.dumps(finite(dict(run=run, counts=counts, posteriors=rows)), indent=1) + "\n")
    print(f"wrote {args.json}")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
