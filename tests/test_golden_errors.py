"""Golden tests: every error kind has a bad model and its exact expected message.

Regenerate after an intended change with ``PROBDSL_UPDATE_GOLDEN=1 pytest tests/test_golden_errors.py``
and review the diff.
"""

import os
from pathlib import Path

import pytest

import probdsl.api as api
from probdsl.errors import ProbdslError

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.pdl"))


def render(path: Path) -> str:
    relative = path.relative_to(Path(__file__).parent.parent)
    with pytest.raises(ProbdslError) as info:
        api.compile_file(relative)
    return str(info.value) + "\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_message(path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parent.parent)
    expected = path.with_suffix(".expected")
    got = render(path)
    if os.environ.get("PROBDSL_UPDATE_GOLDEN"):
        expected.write_text(got)
    assert expected.exists(), f"missing {expected.name}: run with PROBDSL_UPDATE_GOLDEN=1"
    assert got == expected.read_text()
    first = got.splitlines()[0]
    assert first.startswith(f"tests/golden/{path.name}:"), first
    assert "^" in got


def test_every_error_is_located():
    for path in CASES:
        text = path.with_suffix(".expected").read_text()
        for line in text.splitlines():
            if "error[" in line:
                assert line.startswith("tests/golden/"), line


NOT_UTF8 = b"data vector[N] y;\nparam real mu ~ normal(0, 1);\ny ~ normal(mu, \xb5sigma);\n"  # latin-1 `µ` on line 3


def test_a_model_file_that_is_not_utf8_is_located(tmp_path, monkeypatch):
    """Not a golden file: tests/golden/*.pdl are read as UTF-8 text (the fuzzer's seeds)."""
    monkeypatch.chdir(tmp_path)
    Path("model.pdl").write_bytes(NOT_UTF8)
    with pytest.raises(ProbdslError) as info:
        api.compile_file("model.pdl")
    assert str(info.value) == (
        "model.pdl:3:16: error[E001]: model.pdl is not UTF-8 text: line 3 has the byte 0xb5 (invalid start byte)\n"
        " 3 | y ~ normal(mu, \ufffdsigma);\n"
        "   |                ^ not UTF-8\n"
        "     = hint: save the file as UTF-8")


@pytest.mark.parametrize("command", [["check"], ["compile", "--emit", "python"], ["fit"], ["fmt"], ["expand"]])
def test_the_cli_reports_a_model_file_that_is_not_utf8(tmp_path, monkeypatch, command):
    from typer.testing import CliRunner

    from probdsl.cli import app

    monkeypatch.chdir(tmp_path)
    Path("model.pdl").write_bytes(NOT_UTF8)
    result = CliRunner().invoke(app, [*command, "model.pdl"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.startswith("model.pdl:3:16: error[E001]: model.pdl is not UTF-8 text"), result.stderr
