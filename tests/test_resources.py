"""Resource limits: sizes past the memory budget are refused before anything is traced or allocated."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

import probdsl
from probdsl.errors import ModelError, UsageError
from probdsl.sema import budget

ROOT = Path(__file__).parent.parent
RADON = (ROOT / "examples/radon/radon.pdl", ROOT / "examples/radon/radon.csv")


def refused(source: str, data=None) -> str:
    """The E230 message for ``source`` bound to ``data``, asserting it came fast (nothing allocated)."""
    started = time.perf_counter()
    with pytest.raises(ModelError) as error:
        probdsl.compile(source).bind(data)
    assert time.perf_counter() - started < 5
    assert "E230" in str(error.value)
    return str(error.value)


def test_literal_size_is_refused_at_compile_time():
    with pytest.raises(ModelError) as error:
        probdsl.compile("param vector[1000000000000] x ~ normal(0, 1);")
    assert "<string>:1:1: error[E230]: `x` (1,000,000,000,000 values) takes the model to 7.28 TiB" in str(error.value)


def test_integer_literal_of_thousands_of_digits_is_located():
    """Python refuses to convert integers past 4,300 digits: a located error, not a traceback."""
    with pytest.raises(probdsl.errors.ProbdslError) as error:
        probdsl.compile("param real x ~ normal(" + "9" * 5000 + ", 1);")
    assert "<string>:1:23: error[E168]" in str(error.value) and "(5000 digits)" in str(error.value)


def test_a_size_past_any_float_is_refused():
    message = refused("param vector[" + "9" * 400 + "] x ~ normal(0, 1);")
    assert "about 2^" in message


def test_size_from_the_data_is_refused_before_the_transformed_data_is_computed():
    message = refused("data int N;\nparam real mu ~ normal(0, 1);\nK = rep_matrix(0, N, N);\n", {"N": 3_000_000})
    assert "<string>:3:1" in message and "`K` (9,000,000,000,000 values)" in message


def test_loop_bound_is_refused():
    message = refused("data int N;\nparam real mu ~ normal(0, 1);\nfor (i in 1:N) { target += -mu^2; }\n",
                      {"N": 10**13})
    assert "the loop over `i`" in message


def test_budget_is_configurable_and_the_note_names_the_size_origin(monkeypatch):
    probdsl.compile(RADON[0]).bind(RADON[1])  # within the default budget
    monkeypatch.setenv(budget.ENV, "4K")
    message = refused(RADON[0].read_text(), RADON[1])
    assert "over its memory budget of 4 KiB" in message
    assert "N = 200 (from the length of floor in" in message


def test_bad_budget_setting(monkeypatch):
    monkeypatch.setenv(budget.ENV, "lots")
    with pytest.raises(UsageError, match="E507"):
        probdsl.compile("param real x ~ normal(0, 1);")


@pytest.mark.parametrize("text, expected", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5k", 1536),
                                            ("100", 100), ("2GiB", 2 * 2**30), ("lots", None), ("-1G", None)])
def test_parse_bytes(text, expected):
    assert budget.parse_bytes(text) == expected


def test_result_size_is_refused_before_sampling(monkeypatch):
    monkeypatch.setenv(budget.ENV, "64M")
    bound = probdsl.compile("param vector[10000] x ~ normal(0, 1);").bind()
    with pytest.raises(ModelError) as error:
        probdsl.api.fit_bound(bound, chains=4, draws=1000, progress=False)
    assert "E231" in str(error.value) and "`x` alone holds 10,000 values a draw" in str(error.value)


def test_cli_memory_budget_option(tmp_path):
    result = subprocess.run([sys.executable, "-m", "probdsl", "check", "--memory-budget", "4K", *map(str, RADON)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "error[E230]" in result.stderr and "Traceback" not in result.stderr


def test_nested_loops_are_charged_as_their_product(monkeypatch):
    monkeypatch.setenv(budget.ENV, "1M")
    message = refused("param real mu ~ normal(0, 1);\n"
                      "for (i in 1:100) for (j in 1:100) for (k in 1:100) { target += -mu^2; }\n")
    assert "the loops over `i`, `j`, `k` (1,000,000 values)" in message
