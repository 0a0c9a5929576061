"""The memory budget: sizes that would allocate more are refused before anything is traced.

A model's values (data, transformed data, parameters, derived quantities) and the
iterations of each statement in loops (nested loops multiplied) are counted at 8 bytes
a value (double precision, the larger case) as the checker learns their sizes; the first
that takes the total over the budget is an error ``E230`` at its declaration.  The
budget is ``PROBDSL_MEMORY_BUDGET`` (``"4G"``, ``"512M"``, ``"1.5T"`` or a number of
bytes; the CLI's ``--memory-budget`` sets it), by default half the machine's physical
memory.  ``check_result_size`` applies the same budget to the draws a fit will keep
(``E231``), before it starts.
"""

from __future__ import annotations

import os
import re

import numpy as np

ENV = "PROBDSL_MEMORY_BUDGET"
BYTES_PER_VALUE = 8
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_bytes(text: str) -> int | None:
    """``"4G"`` -> 4 * 2**30; None when ``text`` is not an amount of memory."""
    match = _AMOUNT.match(text)
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def memory_budget() -> int:
    """The budget in bytes (``PROBDSL_MEMORY_BUDGET``, else half the physical memory)."""
    configured = os.environ.get(ENV)
    if configured:
        amount = parse_bytes(configured)
        if amount is None:
            from probdsl.errors import Diagnostic, UsageError

            raise UsageError(Diagnostic("E507", f"{ENV}={configured!r} is not an amount of memory",
                                        hint="write it as bytes or with a unit, e.g. 4G or 512M"))
        return amount
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): a fixed 8 GiB
        return 8 * 2**30


def human(n_bytes: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; sizes past floats (a 400-digit size) as a power of two."""
    if n_bytes >= 1024**6:
        return f"about 2^{int(n_bytes).bit_length() - 1} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def result_values(sites) -> dict[str, int]:
    """Values a draw keeps per site (``SiteInfo`` list of a bound model): every parameter and derived
    quantity in the posterior; each observed site twice (log likelihood, posterior predictive)."""
    from probdsl.model_interface import DATA, OBSERVED, TRANSFORMED_DATA

    return {site.name: int(np.prod(site.shape, dtype=object)) * (2 if site.role == OBSERVED else 1)
            for site in sites if site.role not in (DATA, TRANSFORMED_DATA)}


def result_bytes(sites, draws: int, bytes_per_value: int = BYTES_PER_VALUE) -> int:
    """The size of ``draws`` draws of ``sites`` (see ``result_values``)."""
    return sum(result_values(sites).values()) * draws * bytes_per_value


def check_result_size(sites, draws: int, source: str) -> None:
    """E231, before sampling, when ``draws`` draws of ``sites`` would not fit the budget (``source``: the model text)."""
    from probdsl.errors import Diagnostic, ModelError

    per_draw = result_values(sites)
    total = result_bytes(sites, draws)
    limit = memory_budget()
    if total > limit:
        largest = max(sites, key=lambda site: per_draw.get(site.name, -1))
        raise ModelError(Diagnostic(
            "E231", f"{draws:,} draws would make a result of {human(total)}, over the memory budget of {human(limit)}; "
                    f"`{largest.name}` alone holds {per_draw[largest.name]:,} values a draw", largest.span,
            hint=f"ask for fewer draws or chains; to allow more, set --memory-budget or {ENV}"),
            {largest.span.file: source} if largest.span else {})
