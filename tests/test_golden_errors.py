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
