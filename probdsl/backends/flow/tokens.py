"""Datasets as tokens, one per row, for the transformer flow.

The rows are the model's observation dimension (``BoundModel.row_plan``, the
same analysis that lets the stochastic-gradient backend subsample rows).  A
row's token is its covariates (data columns indexed by the row) followed by its
observations; with a time column, Fourier features of the time are appended, so
the encoder sees the order.  Training datasets have from ``min_rows`` to
``max_rows`` rows, their covariate rows drawn from the data given to ``train``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import site_names
from probdsl.backends.flow.layout import Block, blocks, blocks_from_json, blocks_to_json
from probdsl.errors import Diagnostic, UsageError
from probdsl.model_interface import OBSERVED, ModelLike

TIME_FREQUENCIES = 4


@dataclass(frozen=True)
class RowLayout:
    """What one row's token holds: ``covariates`` and ``observations`` (per-row shapes), and the size."""

    size: str
    covariates: tuple[Block, ...]
    observations: tuple[Block, ...]
    max_rows: int
    min_rows: int
    time_column: str | None
    time_scale: float = 1.0

    @property
    def features(self) -> int:
        extra = 2 * TIME_FREQUENCIES if self.time_column else 0
        return sum(b.size for b in self.covariates) + sum(b.size for b in self.observations) + extra

    def to_json(self) -> dict:
        return {"size": self.size, "covariates": blocks_to_json(self.covariates),
                "observations": blocks_to_json(self.observations),
                "max_rows": self.max_rows, "min_rows": self.min_rows, "time_column": self.time_column,
                "time_scale": self.time_scale}

    @classmethod
    def from_json(cls, data: dict) -> "RowLayout":
        return cls(data["size"], blocks_from_json(data["covariates"]), blocks_from_json(data["observations"]),
                   data["max_rows"], data["min_rows"], data["time_column"], data["time_scale"])


def row_layout(model: ModelLike, max_rows: int | None, min_rows: int, time_column: str | None) -> RowLayout:
    """The token layout of ``model``; refuses models whose observations are not all indexed by rows."""
    plan = model.row_plan
    observed = site_names(model, OBSERVED)
    per_row = {s.name: s.shape[1:] for s in model.sites if s.name in observed and s.shape[:1] == (plan.rows,)}
    other = sorted(observed - per_row.keys())
    if other:
        raise UsageError(Diagnostic("E420", f"a transformer flow reads one token per row of `{plan.size}`; "
                                    f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} not indexed by rows",
                                    hint="use `--network mlp` (data of one fixed size)"))
    constant = model.constant_data()
    covariates = [(name, np.shape(constant[name])[1:]) for name in plan.row_data
                  if name in constant and name not in observed]
    names = [n for n, _ in covariates]
    if time_column is not None and time_column not in names:
        raise UsageError(Diagnostic("E505", f"--time {time_column}: not a data column indexed by the rows of "
                                    f"`{plan.size}`", hint=f"the row columns: {', '.join(names) or 'none'}"))
    maximum = max_rows or plan.rows
    if min_rows < 1 or min_rows > maximum:
        raise UsageError(Diagnostic("E505", f"--min-rows {min_rows} must be between 1 and the most rows, {maximum}"))
    scale = float(np.max(np.abs(constant[time_column]))) or 1.0 if time_column else 1.0
    return RowLayout(plan.size, tuple(blocks(covariates)), tuple(blocks(sorted(per_row.items()))), maximum,
                     min_rows, time_column, scale)


def tokens(values: dict, layout: RowLayout, rows: int):
    """``(rows, features)`` tokens from per-row arrays in ``values`` (each ``(rows, ...)``); NumPy or JAX."""
    import jax.numpy as jnp

    parts = [jnp.reshape(jnp.asarray(values[b.name], jnp.result_type(float)), (rows, b.size))
             for b in layout.covariates + layout.observations]
    if layout.time_column:
        t = jnp.asarray(values[layout.time_column], jnp.result_type(float)).reshape(rows, 1) / layout.time_scale
        k = jnp.arange(1, TIME_FREQUENCIES + 1) * jnp.pi
        parts += [jnp.sin(k * t), jnp.cos(k * t)]
    return jnp.concatenate(parts, axis=1)


def padded(token_array, max_rows: int):
    """Tokens padded with zero rows to ``max_rows``, and the mask of the real ones."""
    rows = token_array.shape[0]
    full = np.zeros((max_rows, token_array.shape[1]))
    full[:rows] = np.asarray(token_array)
    return full, rows
