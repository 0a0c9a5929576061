"""Fuzzing the data layer with corrupted CSV and JSON files (``tests/fuzz_data.py`` makes them).

Every corrupted file must give a probdsl error naming the file (and the column and row the
corruption touched), or bind to the values the file means.  The default suite runs one file per
(pair, kind of corruption); ``-m slow`` runs eight per pair and kind, writes the counts to
``$PROBDSL_FUZZ_REPORT`` (default: ``tmp_path/fuzz_data.json``), and loads a 10^6-row CSV.
"""

import json
import os
import subprocess
import sys
import traceback
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fuzz_data as fuzz
from probdsl.cli import app

ROOT = Path(__file__).parent.parent


def run(folder: Path, seeds) -> tuple[dict[str, Counter], list[str]]:
    """Counts of outcomes per kind of corruption, and every problem found."""
    counts: dict[str, Counter] = defaultdict(Counter)
    problems = []
    for pair in fuzz.pairs(folder):
        clean = fuzz.outcome(pair.model, pair.data)
        assert clean.status == "bound", clean.message
        for kind in fuzz.kinds(pair):
            for seed in seeds:
                case = fuzz.corrupt(pair, kind, seed, folder)
                if case is None:
                    continue
                try:
                    result = fuzz.outcome(pair.model, case.path)
                except Exception as e:  # noqa: BLE001 - an unhandled exception is what the fuzzer looks for
                    counts[kind]["unhandled"] += 1
                    problems.append(f"{kind} {case.path.name}: unhandled {type(e).__name__}: {e}\n"
                                    + "".join(traceback.format_tb(e.__traceback__)[-3:]))
                    continue
                counts[kind][result.status] += 1
                found = fuzz.judge(case, result, clean)
                counts[kind]["wrong"] += bool(found)
                problems += found
    return counts, problems


def table(counts: dict[str, Counter]) -> str:
    lines = [f"{'kind':<20} {'files':>6} {'bound':>6} {'error':>6} {'wrong':>6} {'unhandled':>9}"]
    for kind, c in sorted(counts.items()):
        lines.append(f"{kind:<20} {c.total() - c['wrong']:>6} {c['bound']:>6} {c['error']:>6} {c['wrong']:>6} "
                     f"{c['unhandled']:>9}")
    return "\n".join(lines)


def test_corrupted_files_give_located_errors_or_right_values(tmp_path):
    counts, problems = run(tmp_path, seeds=[0])
    assert sum(c.total() - c["wrong"] for c in counts.values()) >= 300
    assert not problems, "\n\n".join(problems[:10]) + f"\n\n{len(problems)} problems"


@pytest.mark.slow
def test_thousands_of_corrupted_files(tmp_path):
    counts, problems = run(tmp_path, seeds=range(1, 9))
    files = sum(c.total() - c["wrong"] for c in counts.values())
    report = Path(os.environ.get("PROBDSL_FUZZ_REPORT", tmp_path / "fuzz_data.json"))
    report.write_text(json.dumps({"files": files, "kinds": {k: dict(c) for k, c in sorted(counts.items())},
                                  "problems": problems}, indent=1))
    print(f"\n{table(counts)}\n{files} corrupted files, {len(problems)} problems; report: {report}")
    assert files >= 1000
    assert sum(c["unhandled"] for c in counts.values()) == 0, "\n\n".join(problems[:10])
    assert not problems, "\n\n".join(problems[:10])


MILLION_ROWS = """\
import json, resource, sys, time
from probdsl import api
model = api.compile_file(sys.argv[1])
model.bind([sys.argv[3]])  # the small example first: the baseline memory of a bound model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
bound = model.bind([sys.argv[2]])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "added_mib": (peak - before) / 1024,
                  "N": int(bound.bound.sizes["N"]), "y_sum": int(bound.bound.values["y"].sum())}))
"""


@pytest.mark.slow
def test_million_row_csv_binds_in_reasonable_time_and_memory(tmp_path):
    small = ROOT / "examples" / "poisson_glm" / "poisson_glm.csv"
    lines = small.read_text().splitlines()
    rows = lines[1:] * (10 ** 6 // (len(lines) - 1))
    path = tmp_path / "million.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    model = ROOT / "examples" / "poisson_glm" / "poisson_glm.pdl"
    out = subprocess.run([sys.executable, "-c", MILLION_ROWS, str(model), str(path), str(small)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    print(f"\n10^6-row CSV ({path.stat().st_size / 2 ** 20:.0f} MiB): bound in {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_mib']:.0f} MiB, {result['added_mib']:.0f} MiB above binding the 100-row file")
    assert result["N"] == len(rows) == 10 ** 6
    assert result["y_sum"] == sum(int(r.rsplit(",", 1)[1]) for r in rows)
    assert result["seconds"] < 60 and result["added_mib"] < 2048


# ---------------------------------------------------------------------- the CLI


@pytest.fixture
def corrupted(tmp_path):
    pair = next(p for p in fuzz.pairs(tmp_path) if p.name == "radon")
    return pair, [fuzz.corrupt(pair, kind, 0, tmp_path) for kind in ("wrong_type", "non_utf8", "ragged_row")]


def test_check_reports_corrupted_data_without_a_traceback(corrupted):
    pair, cases = corrupted
    for case in cases:
        result = CliRunner().invoke(app, ["check", str(pair.model), str(case.path)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert case.path.name in result.stderr and "Traceback" not in result.stderr


def test_fit_exits_non_zero_on_corrupted_data(corrupted, tmp_path):
    pair, cases = corrupted
    out = subprocess.run([sys.executable, "-m", "probdsl", "fit", str(pair.model), str(cases[0].path), "--draws", "10",
                          "--warmup", "10", "--out", str(tmp_path / "fit.nc")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "error[E302]" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "fit.nc").exists()
