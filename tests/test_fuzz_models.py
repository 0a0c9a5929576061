"""Fuzzing the front end: every program ends in a compiled model or a located probdsl error.

The default suite runs a few hundred generated and mutated programs (seeded, derandomized) and
a list of hostile inputs, in process and through the CLI.  ``-m slow`` runs more than 10,000
programs and writes the count of each outcome to ``$PROBDSL_FUZZ_REPORT`` (default: a file
under pytest's ``tmp_path``).  ``tests/fuzz_models.py`` makes the programs and judges them.
"""

import collections
import json
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from typer.testing import CliRunner

import fuzz_models as fm
from probdsl.cli import app

pytestmark = pytest.mark.filterwarnings("ignore:Out-of-support values:UserWarning")  # invalid points are fine
SEEDED = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SLOW_PROGRAMS = 10_000


@pytest.fixture(autouse=True, scope="module")
def small_memory_budget():
    """Huge sizes are refused by the memory budget (E230) long before anything large is allocated."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROBDSL_MEMORY_BUDGET", "256M")
        yield


@pytest.mark.parametrize("name", sorted(fm.SEEDS))
def test_seed_programs(name):
    result = fm.outcome(fm.SEEDS[name])
    assert result.startswith("error ") == name.startswith("tests/golden/") or result.startswith("error E2"), result


@settings(max_examples=100, **SEEDED)
@given(fm.grammar_programs())
def test_programs_from_the_grammar(text):
    fm.outcome(text)


@settings(max_examples=100, **SEEDED)
@given(fm.structured_programs())
def test_structured_programs(text):
    fm.outcome(text)


@settings(max_examples=200, **SEEDED)
@given(fm.mutated_programs())
def test_mutated_examples(text):
    fm.outcome(text)


HOSTILE = {
    "empty": "",
    "blank": " \n\t\r\n\f",
    "nul": "param real x\x00 ~ normal(0, 1);",
    "bom": "\ufeffparam real x ~ normal(0, 1);",
    "crlf": "param real x ~ normal(0, 1);\r\ndata vector[3] y;\r\ny ~ normal(x, 1);\r\n",
    "cr": "param real x ~ normal(0, 1);\rdata vector[3] y;\ry ~ normal(x, 1);\r",
    "homoglyph": "param real \u0445 ~ normal(0, 1);",  # a Cyrillic x
    "rtl mark": "param real x\u200f ~ normal(0, 1);",
    "combining": "param real x\u0301 ~ normal(0, 1);",
    "emoji": "param real x ~ normal(0, 1); // \U0001f600\n\U0001f600 = x;",
    "unterminated comment": "param real x ~ normal(0, 1); /* no end",
    "deep brackets": "param real x ~ normal(" + "(" * 10_000 + "0" + ")" * 10_000 + ", 1);",
    "deep signs": "param real x ~ normal(" + "-" * 20_000 + "1, 1);",
    "deep transposes": "data vector[2] v;\nw = v" + "'" * 20_000 + ";",
    "deep calls": "param real x ~ normal(0, 1);\ny = " + "exp(" * 150 + "x" + ")" * 150 + ";",
    "long sum": "param real x ~ normal(0, 1);\ny = " + " + ".join(["x"] * 5_000) + ";",
    "long line": "param real x ~ normal(0, 1);" + " " * 1_000_000 + "y = x;",
    "many statements": "".join(f"param real x{i} ~ normal(0, 1);\n" for i in range(300)),
    "huge int": "param real x ~ normal(99999999999999999999999999999999999999, 1);",
    "huge int in a size": "param vector[99999999999999999999999999999999] x ~ normal(0, 1);",
    "huge real": "param real x ~ normal(1e999, 1e-999);",
    "negative size": "param vector[-3] x ~ normal(0, 1);",
    "empty parameter": "param vector[0] x ~ normal(0, 1) T[0, ];",
    "self prior": "param real<lower=0> s ~ exponential(s);",
    "loop over itself": "param real s ~ normal(0, 1);\nfor (t in 1:x) x[t] = s;",
    "loop variable outside": "for (n in 1:3) a[n] = n;\nparam real s ~ normal(0, 1);\nb = s + n;",
    "scalar with a vector argument": "data vector[3] y;\nparam real s ~ normal(y, 1);",
    "size from a call": "data vector[3] y;\nparam vector[num_elements(y)] b ~ normal(0, 1);",
    "formula blow-up": "data vector[3] a;\n" + "".join(f"data vector[3] x{i};\n" for i in range(30))
                       + "mu = lm(" + "*".join(f"x{i}" for i in range(30)) + ");\na ~ normal(mu, 1);",
    "deep powers": "param real x ~ normal(0, 1);\ny = " + "x ^ " * 1_000 + "x;",
    "nested loops": "param real x ~ normal(0, 1);\n" + "".join(f"for (i{k} in 1:1) " for k in range(40)) + "target += x;",
    "chain of functions": "".join(f"fun f{k}(x) = f{k + 1}(x) + 1;\n" for k in range(40)) + "fun f40(x) = x;\n"
                          "param real a ~ normal(0, 1);\nb = f0(a);",
    "chain of definitions": "param real a0 ~ normal(0, 1);\n" + "".join(f"a{k + 1} = a{k} + 1;\n"
                                                                          for k in reversed(range(2_000))),
    "likelihood in a data declaration": "data vector[3] y ~ normal(m, 1);\nparam real m ~ normal(0, 1);",
    "no rows": "data int<upper=0> N;\ndata array[N] real g;\nparam real m ~ normal(0, 1);\ng ~ normal(m, 1);",
    "structured prior with a multivariate base": "data int K;\nparam sum_to_zero_vector[K] z ~ "
                                                 "multi_normal(rep_vector(0, K), identity_matrix(K));",
    "integer division in a size": "data int N;\nparam vector[N / 2] z ~ normal(0, 1);",
    "keywords as names": "param real data ~ normal(0, 1); param real for ~ normal(0, 1);",
    "binary junk": bytes(range(256)).decode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_programs(name):
    fm.outcome(HOSTILE[name], evaluate=name != "chain of definitions")  # (its density: 2,000 eager steps, 8 s)


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x80", b"param real x ~ normal(0, 1)", b"\x00" * 64,
                                     ("(" * 5_000).encode(), b"data vector[99999999999999999999] y;",
                                     "param real \u202ex ~ normal(0, 1);".encode()],
                         ids=["not utf-8", "no semicolon", "nul bytes", "deep nesting", "huge size", "rtl override"])
@pytest.mark.parametrize("command", ["check", "compile"])
def test_cli_reports_hostile_files_without_a_traceback(tmp_path, command, content):
    model = tmp_path / "model.pdl"
    model.write_bytes(content)
    result = CliRunner().invoke(app, [command, str(model)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "error[E" in result.stderr


@pytest.mark.slow
def test_ten_thousand_programs(tmp_path):
    """Generated and mutated programs: the count of each outcome, and none unhandled."""
    report = os.environ.get("PROBDSL_FUZZ_REPORT") or str(tmp_path / "fuzz_models.json")
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unhandled: list[dict] = []

    @settings(max_examples=SLOW_PROGRAMS + 100, phases=[Phase.generate], **SEEDED)
    @given(fm.all_programs())
    def run(case):
        generator, text = case
        try:
            result = fm.outcome(text)
        except Exception as error:  # noqa: BLE001 - counted and reported below
            result = f"unhandled {type(error).__name__}"
            unhandled.append({"generator": generator, "error": repr(error)[:2000], "program": text[:5000]})
        counts[generator][result] += 1

    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    total = collections.Counter()
    for c in counts.values():
        total.update(c)
    summary = {"programs": sum(total.values()), "seconds": round(seconds, 1),
               "outcomes": dict(total.most_common()), "unhandled": len(unhandled),
               "by_generator": {g: dict(c.most_common()) for g, c in sorted(counts.items())},
               "unhandled_programs": unhandled[:50]}
    with open(report, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"\n{summary['programs']} programs in {seconds:.0f} s, {len(unhandled)} unhandled; report: {report}")
    for outcome, n in total.most_common():
        print(f"  {n:6d}  {outcome}")
    assert summary["programs"] >= SLOW_PROGRAMS
    assert not unhandled, json.dumps(unhandled[:3], indent=1)
