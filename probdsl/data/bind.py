"""Fitting raw data to the model's data declarations.

``bind(decls, raw)`` gives every declared name its value, converted to the
declared type and shape, and binds every size name:

* from ``sizes`` passed in (e.g. those of a previous fit, when predicting);
* from a scalar ``int`` declaration of that name given in the data ("J": 8);
* from a factor's number of levels (the size named after the factor);
* otherwise from the length along that axis of the first declared array that
  uses it (declaration order).  A declared scalar ``int`` size absent from
  the data is taken from there too.

Every other use of a size is checked against its value.  Factor levels are
the distinct labels sorted numerically when every label is a number, else by
code point (``"B" < "a"``); codes are 1..K in that order.  With
``known_levels`` (a previous fit's), codes follow those levels and a label
not among them is an error.

Integers are accepted for reals, not the reverse; from Python values (numpy,
pandas) an integral float counts as an integer.  Bounds are inclusive;
structured types are checked to 1e-8 as Stan does.  Non-finite values are
rejected, and so are missing ones except in the names given as
``imputable`` (real data on the left of a ``~``): there they are NaN, and
``BoundData.missing`` marks them.  All problems are collected into one
``DataError``.

Error codes: E301 name not in the data, E302 not a number, E303 missing
value, E304 non-finite value, E305 real (or beyond 64 bits) for an int, E306 wrong shape, E307
size conflict, E308 bound violated, E309 structure violated, E310 unseen
factor level, E316 missing values in integer data on the left of a ``~``.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from probdsl.data.loader import RawData, RawEntry, is_int_text, parse_number
from probdsl.errors import DataError, DiagnosticBag, Span
from probdsl.sema.types import MATRIX, SCALAR, Type

TOLERANCE = 1e-8
_SHOWN = 3  # problems of one kind reported per declaration; the rest are counted


@dataclass(frozen=True)
class DataDecl:
    """One ``data`` declaration as the binder needs it."""

    name: str
    type: Type  # sizes symbolic (Size("N")) or literal (Size(None, 3)); a factor: its codes' type
    span: Span
    lower: float | None = None  # inclusive constant bounds
    upper: float | None = None
    structure: str | None = None  # "simplex", "ordered", "corr_matrix", ... (see STRUCTURES)
    is_factor: bool = False  # any column -> codes 1..K; K is the size named after the factor


@dataclass
class BoundData:
    values: dict[str, np.ndarray] = field(default_factory=dict)  # int64 for int types and factor codes, else float64
    sizes: dict[str, int] = field(default_factory=dict)
    size_origin: dict[str, str] = field(default_factory=dict)  # "from the length of y in data.csv"
    levels: dict[str, list[str]] = field(default_factory=dict)  # factor -> labels in code order
    sources: dict[str, str] = field(default_factory=dict)  # name -> file it came from
    placeholders: set[str] = field(default_factory=set)  # optional names absent from the data, filled with zeros
    missing: dict[str, np.ndarray] = field(default_factory=dict)  # imputable name -> mask of its missing entries


def bind(decls: list[DataDecl], raw: RawData, sizes: dict[str, int] | None = None,
         known_levels: dict[str, list[str]] | None = None, optional: frozenset[str] = frozenset(),
         imputable: frozenset[str] = frozenset()) -> BoundData:
    """Check ``raw`` against ``decls`` and convert it; raise DataError listing every problem.

    Names in ``optional`` (observed values, when predicting) may be absent: they are then
    zeros of their declared shape, listed in ``placeholders``, and their sizes must come
    from other data.
    """
    return _Binder(list(decls), raw, sizes or {}, known_levels or {}, optional, imputable).run()


def decl_text(d: DataDecl) -> str:
    """The declaration as written in a model, e.g. ``vector<lower=0>[N] y``."""
    if d.is_factor:
        return f"factor {d.name}"
    t = d.type
    bounds = ", ".join(f"{k}={v:g}" for k, v in (("lower", d.lower), ("upper", d.upper)) if v is not None)
    inner = (d.structure or t.kind if t.kind != SCALAR else t.base) + (f"<{bounds}>" if bounds else "")
    if t.kind != SCALAR:
        labels = [s.label for s in t.elem_dims]
        if d.structure and t.kind == MATRIX and labels[0] == labels[1]:
            labels = labels[:1]
        inner += f"[{', '.join(labels)}]"
    prefix = f"array[{', '.join(s.label for s in t.array_dims)}] " if t.array_dims else ""
    return f"{prefix}{inner} {d.name}"


class _Binder:
    def __init__(self, decls: list[DataDecl], raw: RawData, sizes: dict[str, int], known: dict[str, list[str]],
                 optional: frozenset[str] = frozenset(), imputable: frozenset[str] = frozenset()):
        self.decls, self.raw, self.known, self.imputable = decls, raw, known, imputable
        self.absent = [d for d in decls if d.name in optional and d.name not in raw]
        self.bag = DiagnosticBag()
        self.out = BoundData()
        self.size_file: dict[str, str] = {}
        self.codes: dict[str, np.ndarray | None] = {}
        for name, value in sizes.items():
            self.out.sizes[name] = int(value)
            self.out.size_origin[name] = "passed in `sizes`"
        for s in (s for d in decls for s in d.type.dims if s.name and s.value is not None):
            self.out.sizes.setdefault(s.name, s.value)
            self.out.size_origin.setdefault(s.name, "fixed in the model")
        self.size_names = {s.name for d in decls for s in d.type.dims if s.name}

    def run(self) -> BoundData:
        explicit = [d for d in self.decls if d.name in self.size_names and d.type.is_scalar and d.type.is_int
                    and not d.is_factor]
        inferred = [d for d in explicit if d.name not in self.raw]
        for d in explicit:
            if d not in inferred:
                self._bind_size_decl(d)
        for d in self.decls:
            if d.is_factor and d.name in self.raw:
                self._levels(d, self.raw[d.name])
        for d in self.decls:
            if d not in explicit and d not in self.absent:
                self._bind(d)
        for d in inferred:
            if d.name in self.out.sizes:
                self.out.values[d.name] = np.asarray(self.out.sizes[d.name], dtype=np.int64)
                if d.name in self.size_file:
                    self.out.sources[d.name] = self.size_file[d.name]
            else:
                self._missing(d)
        for d in self.absent:
            self._placeholder(d)
        self.bag.raise_if_any(DataError, self.raw.texts)
        return self.out

    # ------------------------------------------------------------------ helpers

    def _error(self, code: str, d: DataDecl, message: str, span: Span | None, label: str = "", notes=(), hint=None):
        """A value without a place (from a dict or a DataFrame) is reported at its declaration."""
        if span is None or span == d.span:
            self.bag.error(code, message, d.span, label="declared here", notes=notes, hint=hint)
            return
        self.bag.error(code, message, span, label=label,
                       notes=(*notes, f"declared as `{decl_text(d)}` at {d.span}"), hint=hint)

    def _cells(self, code: str, d: DataDecl, e: RawEntry, mask: np.ndarray, describe, label: str):
        """One error per flagged value (the first few; the rest are counted)."""
        flagged = np.argwhere(mask)
        rest = len(flagged) - _SHOWN
        for k, idx in enumerate(flagged[:_SHOWN]):
            idx = tuple(int(i) for i in idx)
            last = rest > 0 and k == _SHOWN - 1
            notes = (f"and {rest} more value{'s' * (rest > 1)} of `{d.name}` like this",) if last else ()
            self._error(code, d, f"{_where(e, idx)}: {describe(_short(e.text_at(idx)))}", self.raw.cell_span(e, idx),
                        label=label, notes=notes)

    def _set_size(self, name: str, value: int, origin: str, file: str, d: DataDecl, span: Span | None) -> None:
        if name in self.out.sizes and self.out.sizes[name] != value:
            self._error("E307", d, f"size `{name}` is {value} {origin}, but {name} = {self.out.sizes[name]} "
                        f"{self.out.size_origin[name]}", span)
            return
        if name not in self.out.sizes:
            self.out.sizes[name], self.out.size_origin[name], self.size_file[name] = value, origin, file

    def _placeholder(self, d: DataDecl) -> None:
        shape = tuple(self.out.sizes.get(s.name) if s.name else s.value for s in d.type.dims)
        if None in shape:
            self._missing(d)
            return
        self.out.values[d.name] = np.zeros(shape, dtype=np.int64 if d.type.is_int else np.float64)
        self.out.placeholders.add(d.name)

    def _missing(self, d: DataDecl) -> None:
        names = self.raw.names()
        given = {source: [] for source in self.raw.texts}  # file -> its names (an empty file has none)
        for name, e in self.raw.entries.items():
            given.setdefault(e.source, []).append(name)
        if not given:
            self._error("E301", d, f"`{d.name}` is declared as data ({d.span}) but no data was given", d.span)
            return
        close = [n for n in names if n.lower() == d.name.lower()] or difflib.get_close_matches(d.name, names, n=1)
        notes = tuple(f"{source} has " + (", ".join(f"`{n}`" for n in found[:30]) + ", ..." * (len(found) > 30)
                                          if found else "no data") for source, found in given.items())
        self._error("E301", d, f"`{d.name}` is declared as data ({d.span}) but no data file has a column or key "
                    f"`{d.name}`", d.span, notes=notes, hint=f"did you mean `{close[0]}`?" if close else None)

    # ------------------------------------------------------------------ declarations

    def _bind_size_decl(self, d: DataDecl) -> None:
        e = self.raw[d.name]
        value = self._bind(d)
        if value is None:
            return
        if value < 0:
            self._error("E308", d, f"{_where(e, ())}: size `{d.name}` is {int(value)}, but a size cannot be negative",
                        e.span)
            return
        self._set_size(d.name, int(value), f"given as {d.name} in {e.source}", e.source, d, e.span)

    def _bind(self, d: DataDecl) -> np.ndarray | None:
        e = self.raw.entries.get(d.name)
        if e is None:
            self._missing(d)
            return None
        values = self.codes.get(d.name) if d.is_factor else self._numbers(d, e)
        shape = self._shape(d, e)
        if values is None or shape is None:
            return None
        values = values.reshape(shape)
        if d.structure and not self._structure(d, e, values):
            return None
        if d.name in self.imputable and e.missing.any():
            self.out.missing[d.name] = e.missing.reshape(shape)
        self.out.values[d.name] = values
        self.out.sources[d.name] = e.source
        return values

    def _numbers(self, d: DataDecl, e: RawEntry) -> np.ndarray | None:
        """The entry's values as declared (int64 or float64), reporting bad cells."""
        vals, missing = e.values, e.missing
        if vals.dtype == object:
            parsed = [None if m else parse_number(str(s)) for s, m in zip(vals.ravel(), missing.ravel())]
            bad = np.array([p is None for p in parsed], dtype=bool).reshape(vals.shape) & ~missing
            nums = np.array([math.nan if p is None else p for p in parsed], dtype=np.float64).reshape(vals.shape)
            ints = np.array([isinstance(p, int) for p in parsed], dtype=bool).reshape(vals.shape)
        else:
            bad = np.zeros(vals.shape, dtype=bool)
            nums = vals.astype(np.float64)
            ints = None if vals.dtype != np.int64 else np.ones(vals.shape, dtype=bool)
        n_before = len(self.bag.items)
        if d.name not in self.imputable:
            self._cells("E303", d, e, missing, lambda t: (f"missing value ({t!r})" if t else "missing value")
                        + "; only data on the left of a `~` may have missing values", "missing")
        elif d.type.is_int:
            self._cells("E316", d, e, missing, lambda t: (f"missing value ({t!r})" if t else "missing value")
                        + " in integer data: its missing entries would be discrete parameters", "missing")
        self._cells("E302", d, e, bad, lambda t: f"{t!r} is not a number", "not a number")
        finite = np.isfinite(nums)
        self._cells("E304", d, e, ~finite & ~missing & ~bad, lambda t: f"{t} is not a finite number; infinite "
                    "values are not data", "not finite")
        if d.type.is_int:
            if ints is None:
                ints = (np.vectorize(lambda t: isinstance(parse_number(t), int), otypes=[bool])(e.cells)
                        if e.cells is not None else np.equal(np.floor(nums), nums) & (nums >= -2.0 ** 63)
                        & (nums < 2.0 ** 63))
            self._cells("E305", d, e, finite & ~ints, lambda t: f"{t} is too large for a 64-bit integer"
                        if is_int_text(t) else f"{t} is not an integer, but `{d.name}` holds integers",
                        "not an integer")
        if d.lower is not None:
            self._cells("E308", d, e, finite & (nums < d.lower), lambda t: f"{t} is below the lower bound "
                        f"{d.lower:g} of `{d.name}`", f"below {d.lower:g}")
        if d.upper is not None:
            self._cells("E308", d, e, finite & (nums > d.upper), lambda t: f"{t} is above the upper bound "
                        f"{d.upper:g} of `{d.name}`", f"above {d.upper:g}")
        if len(self.bag.items) > n_before:
            return None
        if not d.type.is_int:
            return nums
        if vals.dtype == np.int64:
            return vals.copy()
        if vals.dtype == object:
            return np.array(parsed, dtype=np.int64).reshape(vals.shape)
        return nums.astype(np.int64)

    def _shape(self, d: DataDecl, e: RawEntry) -> tuple[int, ...] | None:
        """The declared shape with every size bound, or None after reporting a mismatch."""
        dims, actual = d.type.dims, e.values.shape
        if not dims:
            if actual == () or (e.kind == "csv" and actual == (1,)):
                return ()
            if e.kind == "csv":
                self._error("E306", d, f"`{d.name}` is declared as a scalar but is a column of {e.source} with "
                            f"{actual[0]} rows: a scalar can come from a CSV column only if the column has exactly "
                            "one row", e.span, hint=f'give it in a JSON file: {{"{d.name}": ...}}')
            else:
                self._error("E306", d, f"`{d.name}` in {e.source} has shape {actual}, but is declared as a scalar",
                            e.span)
            return None
        unknown: set[int] = set()
        if len(actual) != len(dims):
            if e.values.size == 0 and actual[:1] == (0,):  # Stan writes an empty array of any rank as []
                unknown = {a for a, s in enumerate(dims) if a and s.name and s.name not in self.out.sizes}
                actual = (0,) + tuple(0 if a in unknown else self.out.sizes[s.name] if s.name else s.value
                                      for a, s in enumerate(dims) if a)
            else:
                self._error("E306", d, f"`{d.name}` {_actual(e)}, but is declared `{decl_text(d)}`, which has "
                            f"{len(dims)} dimension{'s' * (len(dims) > 1)}", e.span)
                return None
        wrong = False
        for axis, (dim, n) in enumerate(zip(dims, actual)):
            if axis in unknown:
                continue
            if dim.name is None:
                wrong |= dim.value != n
            elif dim.name in self.out.sizes:
                wrong |= self.out.sizes[dim.name] != n
            else:
                what = "the length" if axis == 0 else f"dimension {axis + 1}"
                self._set_size(dim.name, n, f"from {what} of {e.name} in {e.source}", e.source, d, e.span)
        if wrong:
            named = dict.fromkeys(s.name for s in dims if s.name)
            sizes = " and ".join(f"{n} = {self.out.sizes[n]} ({self.out.size_origin[n]})" for n in named)
            self._error("E306", d, f"`{d.name}` {_actual(e)}, but is declared `{decl_text(d)}`"
                        + (f" with {sizes}" if sizes else ""), e.span)
            return None
        return actual

    # ------------------------------------------------------------------ factors

    def _levels(self, d: DataDecl, e: RawEntry) -> None:
        """Level labels and codes of a factor; binds the size named after it."""
        labels = [str(c) for c in e.cells.ravel()] if e.cells is not None else [_label(v) for v in e.values.ravel()]
        missing = e.missing.ravel()
        self._cells("E303", d, e, e.missing, lambda t: (f"missing value ({t!r})" if t else "missing value")
                    + " in a factor; missing values are not supported yet", "missing")
        present = [x for x, m in zip(labels, missing) if not m]
        if d.name in self.known:
            levels = list(self.known[d.name])
            origin = f"from the {len(levels)} levels of {d.name} in the fitted model"
        else:
            levels = _sort_levels(set(present))
            origin = f"from the {len(levels)} levels of {d.name} in {e.source}"
        code_of = {label: k for k, label in enumerate(levels, start=1)}
        codes = np.array([0 if m else code_of.get(x, 0) for x, m in zip(labels, missing)], dtype=np.int64)
        unseen = (codes == 0) & ~missing
        if unseen.any():
            counts = Counter(x for x, u in zip(labels, unseen) if u)
            shown = ", ".join(f"`{x}`" for x in levels[:20]) + (", ..." if len(levels) > 20 else "")
            first: dict[str, int] = {}
            for i in np.flatnonzero(unseen):
                first.setdefault(labels[i], int(i))
            for label, i in list(first.items())[:_SHOWN]:
                idx = np.unravel_index(i, e.values.shape)
                idx = tuple(int(j) for j in idx)
                close = difflib.get_close_matches(label, levels, n=1)
                self._error("E310", d, f"{_where(e, idx)}: level {label!r} of factor `{d.name}` was not seen in the "
                            f"fit" + (f" ({counts[label]} rows)" if counts[label] > 1 else ""),
                            self.raw.cell_span(e, idx), label="unseen level",
                            notes=(f"the fitted levels are {shown}",),
                            hint=f"did you mean {close[0]!r}?" if close else None)
        self.out.levels[d.name] = levels
        self._set_size(d.name, len(levels), origin, e.source, d, e.span)
        self.codes[d.name] = None if (unseen.any() or missing.any()) else codes.reshape(e.values.shape)

    # ------------------------------------------------------------------ structure

    def _structure(self, d: DataDecl, e: RawEntry, values: np.ndarray) -> bool:
        check = STRUCTURES[d.structure]
        lead = values.shape[: values.ndim - len(d.type.elem_dims)]
        failures = [(idx, r) for idx in np.ndindex(*lead) if (r := check(values[idx]))]
        for idx, reason in failures[:_SHOWN]:
            index = f"[{', '.join(str(i + 1) for i in idx)}]" if idx else ""
            self._error("E309", d, f"`{d.name}{index}` in {e.source} is not a valid {d.structure}: {reason}", e.span,
                        notes=(f"and {len(failures) - _SHOWN} more elements of `{d.name}` like this",)
                        if len(failures) > _SHOWN and idx == failures[_SHOWN - 1][0] else ())
        return not failures


def _where(e: RawEntry, idx: tuple[int, ...]) -> str:
    """Where a value is, in words: the CSV cell, or the element of a key."""
    if e.kind == "csv" and idx:
        row = idx[0] + 1
        return (f"column `{e.column_names[idx[1] if len(idx) > 1 else 0]}` of {e.source}, row {row} "
                f"(line {int(e.lines[idx[0]])})")
    if e.columns and idx:
        return f"column `{e.column_names[idx[1] if len(idx) > 1 else 0]}` of the DataFrame, row {idx[0] + 1}"
    index = f"[{', '.join(str(i + 1) for i in idx)}]" if idx else ""
    return f"`{e.name}{index}` in {e.source}"


def _short(text: str) -> str:
    """A value as shown in a message: long ones cut to their start."""
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _actual(e: RawEntry) -> str:
    shape = e.values.shape
    if e.kind == "csv":
        cols = f" and {shape[1]} columns ({e.column_names[0]}..{e.column_names[-1]})" if len(shape) > 1 else ""
        return f"has {shape[0]} rows{cols} in {e.source}"
    return f"in {e.source} has shape ({', '.join(map(str, shape))}{',' * (len(shape) == 1)})"


def _label(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _sort_levels(labels: set[str]) -> list[str]:
    numbers = {x: parse_number(x) for x in labels}
    if all(v is not None for v in numbers.values()):
        return sorted(labels, key=lambda x: (numbers[x], x))
    return sorted(labels)


# ---------------------------------------------------------------------- structure checks
# Each takes one vector or matrix and returns why it is not valid, or None.


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    hits = np.argwhere(mask)
    return tuple(int(i) for i in hits[0]) if len(hits) else None


def _simplex(v):
    if (i := _first(v < 0)) is not None:
        return f"element {i[0] + 1} is negative ({v[i]:g})"
    if abs(v.sum() - 1) > TOLERANCE:
        return f"its elements sum to {v.sum():.10g}, not 1"
    return None


def _ordered(v):
    if (i := _first(np.diff(v) <= 0)) is not None:
        k = i[0]
        return f"element {k + 2} ({v[k + 1]:g}) is not greater than element {k + 1} ({v[k]:g})"
    return None


def _positive_ordered(v):
    if len(v) and v[0] <= 0:
        return f"element 1 ({v[0]:g}) is not positive"
    return _ordered(v)


def _unit_vector(v):
    norm = float(np.sqrt((v * v).sum()))
    return None if abs(norm - 1) <= TOLERANCE else f"its length is {norm:.10g}, not 1"


def _sum_to_zero(v):
    return None if abs(v.sum()) <= TOLERANCE else f"its elements sum to {v.sum():.10g}, not 0"


def _square(m):
    return None if m.shape[0] == m.shape[1] else f"it is {m.shape[0]}x{m.shape[1]}, not square"


def _symmetric(m):
    if (i := _first(np.abs(m - m.T) > TOLERANCE)) is not None:
        r, c = i
        return f"it is not symmetric: [{r + 1}, {c + 1}] is {m[r, c]:g} but [{c + 1}, {r + 1}] is {m[c, r]:g}"
    return None


def _positive_definite(m):
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return "it is not positive definite"
    return None


def _unit_diagonal(m):
    if (i := _first(np.abs(np.diag(m) - 1) > TOLERANCE)) is not None:
        k = i[0]
        return f"diagonal element [{k + 1}, {k + 1}] is {m[k, k]:g}, not 1"
    return None


def _lower_triangular(m):
    if (i := _first(np.triu(m, 1) != 0)) is not None:
        return f"it is not lower-triangular: [{i[0] + 1}, {i[1] + 1}] is {m[i]:g}"
    return None


def _positive_diagonal(m):
    if (i := _first(np.diag(m) <= 0)) is not None:
        k = i[0]
        return f"diagonal element [{k + 1}, {k + 1}] is {m[k, k]:g}, not positive"
    return None


def _unit_rows(m):
    norms = np.sqrt((m * m).sum(axis=1))
    if (i := _first(np.abs(norms - 1) > TOLERANCE)) is not None:
        return f"row {i[0] + 1} has length {norms[i]:.10g}, not 1"
    return None


def _tall(m):
    return None if m.shape[0] >= m.shape[1] else f"it is {m.shape[0]}x{m.shape[1]}: more columns than rows"


def _all(*checks):
    def check(x):
        return next((r for c in checks if (r := c(x))), None)
    return check


STRUCTURES = {
    "simplex": _simplex,
    "ordered": _ordered,
    "positive_ordered": _positive_ordered,
    "unit_vector": _unit_vector,
    "sum_to_zero_vector": _sum_to_zero,
    "cov_matrix": _all(_square, _symmetric, _positive_definite),
    "corr_matrix": _all(_square, _symmetric, _unit_diagonal, _positive_definite),
    "cholesky_factor_cov": _all(_tall, _lower_triangular, _positive_diagonal),
    "cholesky_factor_corr": _all(_square, _lower_triangular, _positive_diagonal, _unit_rows),
}
