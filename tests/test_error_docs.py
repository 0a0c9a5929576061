"""docs/errors.md documents every error code of the code base, and every example there raises its code.

Each ``### Exxx`` section of the page runs in a fresh directory, its fenced blocks in order:
```` ```pdl ````, ```` ```csv ```` and ```` ```json ```` blocks are written as files (``model.pdl``,
``data.csv``, ``data.json``, or the name after the tag); a ```` ```python ```` block is run; a
```` ```console ```` block holds ``$ probdsl ARGS`` (run through typer's CliRunner) and what it prints.
The last python or console block must fail with the section's code (every diagnostic it prints has
that code); what it prints is compared with the rest of the console block, or with the
```` ```text ```` block after the python block.  Regenerate the printed errors after an intended
change with ``PROBDSL_UPDATE_ERROR_DOCS=1 pytest tests/test_error_docs.py`` and review the diff.
"""

import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from probdsl.cli import app
from probdsl.errors import ProbdslError

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "errors.md"
SECTION = re.compile(r"^### (E\d{3})\b.*?(?=^##|\Z)", re.M | re.S)
BLOCK = re.compile(r"^```(\w+)(?: (\S+))?\n(.*?)^```$", re.M | re.S)
FILES = {"pdl": "model.pdl", "csv": "data.csv", "json": "data.json"}
RUNS = ("python", "console")
SLOW = {"E187", "E310", "E401", "E403", "E404", "E405"}  # examples that run an inference method


def source_codes() -> set[str]:
    return {code for path in (ROOT / "probdsl").rglob("*.py")
            for code in re.findall(r"\"(E\d{3})\"", path.read_text(encoding="utf-8"))}


def sections() -> dict[str, re.Match]:
    found = {}
    for match in SECTION.finditer(DOC.read_text(encoding="utf-8")):
        assert match.group(1) not in found, f"{match.group(1)} is documented twice"
        found[match.group(1)] = match
    return found


def test_every_code_is_documented_and_every_documented_code_exists():
    documented, raised = set(sections()), source_codes()
    assert not raised - documented, f"codes raised in probdsl/ but missing from docs/errors.md: {sorted(raised - documented)}"
    assert not documented - raised, f"codes in docs/errors.md that probdsl/ never raises: {sorted(documented - raised)}"


def test_every_section_has_an_example():
    for code, match in sections().items():
        assert any(b.group(1) in RUNS for b in BLOCK.finditer(match.group(0))), f"{code} has no example"


def run_section(text: str, runner: CliRunner) -> tuple[list[str], str, re.Match, str]:
    """Runs a section's blocks; returns the codes and output of the last run, its block and the expected output."""
    blocks = list(BLOCK.finditer(text))
    runs = [i for i, b in enumerate(blocks) if b.group(1) in RUNS]
    for i, block in enumerate(blocks):
        lang, name, body = block.groups()
        if lang in FILES:
            Path(name or FILES[lang]).write_text(body, encoding="utf-8")
        elif lang == "python":
            try:
                exec(compile(body, "<example>", "exec"), {"__name__": "example"})
            except ProbdslError as error:
                assert i == runs[-1], f"a setup block failed: {error}"
                expected = blocks[i + 1]
                assert expected.group(1) == "text", "a failing python block is followed by a ```text block"
                return error.codes, str(error), expected, expected.group(3)
            assert i != runs[-1], "the last python block did not raise a ProbdslError"
        elif lang == "console":
            command, _, printed = body.partition("\n")
            assert command.startswith("$ probdsl "), command
            result = runner.invoke(app, shlex.split(command)[2:])
            if i != runs[-1]:
                assert result.exit_code == 0, result.output
                continue
            assert isinstance(result.exception, SystemExit), result.exception  # an error, not a crash
            assert result.exit_code in (1, 2), (result.exit_code, result.output)
            return re.findall(r"error\[(E\d{3})\]", result.stderr), result.stderr, block, printed
    raise AssertionError("no example")


def runnable() -> list:
    return [pytest.param(code, marks=[pytest.mark.slow] if code in SLOW else [], id=code) for code in sections()]


@pytest.mark.parametrize("code", runnable())
def test_example_raises_its_code(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROBDSL_NO_CACHE", "1")
    monkeypatch.delenv("PROBDSL_MEMORY_BUDGET", raising=False)  # commands may set these two: restored after the test
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    text = sections()[code].group(0)
    codes, output, block, expected = run_section(text, CliRunner())
    assert codes and set(codes) == {code}, f"{code}: the example raised {codes}\n{output}"
    if os.environ.get("PROBDSL_UPDATE_ERROR_DOCS"):
        _rewrite(code, block, output)
    else:
        assert output.rstrip("\n") == expected.rstrip("\n"), "the printed error changed: regenerate docs/errors.md"


def _rewrite(code: str, block: re.Match, output: str) -> None:
    """Put ``output`` into ``block`` (a console block keeps its command line)."""
    doc = DOC.read_text(encoding="utf-8")
    section = sections()[code]
    old = block.group(0)
    lang, name, body = block.groups()
    head = f"```{lang}" + (f" {name}" if name else "") + "\n"
    command = body.partition("\n")[0] + "\n" if lang == "console" else ""
    new = head + command + output.rstrip("\n") + "\n```"
    text = section.group(0)
    assert text.count(old) == 1
    DOC.write_text(doc[:section.start()] + text.replace(old, new) + doc[section.end():], encoding="utf-8")
