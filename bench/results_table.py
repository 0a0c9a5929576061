"""The results file every benchmark script keeps: one JSON table whose rows add up across runs."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from probdsl.results.io import write_text_atomic


def merge_row(path: Path, new: dict, key: tuple[str, ...], settings: dict) -> None:
    """Add ``new`` to the table at ``path``, with the ``settings`` it ran under and the machine, replacing an
    earlier row that has the same values of the ``key`` fields (so runs of some rows add up to one table);
    the file is written atomically, so a run stopped halfway keeps the rows it measured."""
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [r for r in rows if tuple(r[k] for k in key) != tuple(new[k] for k in key)]
    rows.append({**new, "settings": settings, "machine": platform.processor() or platform.machine()})
    write_text_atomic(json.dumps({"rows": rows}, indent=1, default=float), path)
