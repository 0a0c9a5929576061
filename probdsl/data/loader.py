"""Reading data into :class:`RawData`, before it meets the model's declarations.

``load_data`` takes a path (``.csv`` or ``.json``), a ``dict`` of Python
values, a pandas ``DataFrame``, or a list of these, and merges them by name.

CSV
    UTF-8 (a BOM is dropped), comma-separated, a header line of names, then
    one row per observation.  Each column is an entry with one value per row.
    Columns named ``X.1, X.2, ..., X.K`` (every ``j`` of ``1..K``) are also
    offered together as a matrix entry ``X`` of shape (rows, K), unless ``X``
    itself is given by some source.  A column with an empty header (a saved
    index) is skipped, and so are blank lines.  The raw text of every cell is
    kept (``RawEntry.cells``) so factor levels keep their labels, and the file
    line of every row (``RawEntry.lines``) so messages can point at a cell.
    Cells ``""``, ``NA``, ``NaN`` and ``nan`` are missing (``RawEntry.missing``).
    Lines end with LF, CRLF or CR; quoted fields may hold line breaks.

JSON
    Stan's data format (as CmdStan and posteriordb write it): one object whose
    values are numbers, strings, ``null`` (missing), or rectangular nested
    lists of them.  A list holding any string is kept as text; Stan's special
    values written as strings (``"NaN"``, ``"Inf"``, ``"-Infinity"``, ...) and
    the bare ``NaN``/``Infinity`` tokens are read as floats when the model
    declares a number (the binder then rejects them as non-finite).

Python
    Scalars, (nested) lists, numpy arrays, string lists; in a DataFrame or a
    float array, NaN (pandas' missing value) is missing.

Numbers are ``int64`` when every value was written as an integer that fits
(no decimal point or exponent; for Python values: an integer dtype), else
``float64`` (NaN where missing); text is an ``object`` array of ``str``.  In
files, numbers are ASCII without ``_`` separators (``1_000`` is text).

A name given by two sources with different values is an error.  Error codes:
E320 unreadable file (with the line of a byte that is not UTF-8), E321
malformed CSV, E322 malformed JSON (also nested too deeply), E323 a name
given twice, E324 a value that is not data.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probdsl.errors import DataError, DiagnosticBag, Span

MISSING_CELLS = frozenset({"", "NA", "NaN", "nan"})
_INT_TEXT = re.compile(r"[+-]?\d+\Z", re.ASCII)
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_MATRIX_COLUMN = re.compile(r"(.+)\.(\d+)\Z")


def is_int_text(text: str) -> bool:
    """True when ``text`` is an integer written without a decimal point."""
    return _INT_TEXT.match(text) is not None


def parse_number(text: str) -> int | float | None:
    """The number ``text`` spells (``int`` if written as one that fits in 64 bits), else None.

    Python also reads ``1_000`` and non-ASCII digits as numbers; data files do not.
    """
    if "_" in text or not text.isascii():
        return None
    if is_int_text(text) and len(text) <= 20 and _INT64[0] <= (n := int(text)) <= _INT64[1]:
        return n
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True, eq=False)
class RawEntry:
    """One named value as read, with where it came from."""

    name: str
    values: np.ndarray  # int64, float64 (NaN where missing) or object array of str
    source: str  # file name, "<dict>" or "<DataFrame>"
    kind: str  # "csv", "json" or "python"
    missing: np.ndarray  # bool, same shape as values
    cells: np.ndarray | None = None  # text as written (CSV cells, JSON literals), same shape
    span: Span | None = None  # CSV: the header cell; JSON: the key
    header_line: int | None = None  # CSV: line of the header, so row r is at line r + header_line
    columns: tuple[int, ...] = ()  # CSV/DataFrame: 1-based column index of each column used
    column_names: tuple[str, ...] = ()  # header name of each column used (X.1, X.2, ... for a matrix)
    lines: np.ndarray | None = None  # CSV: file line of each row (differs from r + 1 after blank lines)
    derived: bool = False  # a matrix assembled from X.1..X.K columns

    @property
    def column(self) -> int | None:
        return self.columns[0] if self.columns else None

    @property
    def missing_rows(self) -> list[int]:
        """1-based rows (first axis) holding a missing value."""
        if self.missing.ndim == 0:
            return [1] if self.missing else []
        rows = self.missing.reshape(len(self.missing), -1).any(axis=1)
        return [int(r) + 1 for r in np.flatnonzero(rows)]

    def text_at(self, index: tuple[int, ...]) -> str:
        """How the value at ``index`` was written."""
        if self.cells is not None:
            return str(self.cells[index])
        return str(self.values[index])


@dataclass
class RawData:
    """Entries by name, and the text of every data file (for excerpts)."""

    entries: dict[str, RawEntry] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> RawEntry:
        return self.entries[name]

    def names(self) -> list[str]:
        return list(self.entries)

    def cell_span(self, entry: RawEntry, index: tuple[int, ...]) -> Span | None:
        """The span of a CSV cell (``index`` = (row, [column])), else the entry's span."""
        if entry.kind != "csv" or entry.lines is None or not index:
            return entry.span
        line_no = int(entry.lines[index[0]])
        column = entry.columns[index[1] if len(index) > 1 else 0]
        if entry.source not in self._lines:
            self._lines[entry.source] = self.texts[entry.source].splitlines()
        return _field_span(entry.source, line_no, self._lines[entry.source][line_no - 1], column)


def load_data(sources) -> RawData:
    """Read and merge data sources (see the module docstring); raise DataError."""
    if sources is None:
        sources = []
    elif not isinstance(sources, (list, tuple)):
        sources = [sources]
    raw, bag = RawData(), DiagnosticBag()
    for src in sources:
        for entry in _read_source(src, raw, bag):
            _merge(raw, entry, bag)
    bag.raise_if_any(DataError, raw.texts)
    return raw


def _read_source(src, raw: RawData, bag: DiagnosticBag) -> list[RawEntry]:
    import pandas as pd

    if isinstance(src, (str, Path)):
        return _read_file(str(src), raw, bag)
    if isinstance(src, dict):
        return [e for name, v in src.items() if (e := _python_entry(str(name), v, "<dict>", bag))]
    if isinstance(src, pd.DataFrame):
        return _read_frame(src, bag)
    bag.error("E324", f"cannot read data from a {type(src).__name__}: give a file path, a dict or a DataFrame")
    return []


def _read_file(name: str, raw: RawData, bag: DiagnosticBag) -> list[RawEntry]:
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        bag.error("E320", f"cannot read data file `{name}`: probdsl reads .csv and .json files")
        return []
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except FileNotFoundError:
        bag.error("E320", f"data file `{name}` does not exist")
        return []
    except OSError as e:
        bag.error("E320", f"cannot read data file `{name}`: {e.strerror}")
        return []
    csv_file = suffix == ".csv"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raw.texts[name] = shown = _display(data.decode("utf-8", errors="replace"), csv_file)
        line, column = _position(shown, len(data[:e.start].decode("utf-8")))
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        bag.error("E320", f"data file `{name}` is not UTF-8 text: line {line} has the byte 0x{data[e.start]:02x} "
                  f"({e.reason})", Span(name, line, column, line, column + 1), label="not UTF-8",
                  hint=f"{'the file is UTF-16: ' * utf16}save it with the UTF-8 encoding (in Excel: \"CSV UTF-8\")")
        return []
    raw.texts[name] = _display(text, csv_file)
    return _read_csv(name, text, bag) if csv_file else _read_json(name, text, bag)


_OTHER_BREAKS = str.maketrans(dict.fromkeys("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _display(text: str, csv_file: bool) -> str:
    """``text`` for excerpts: what ``str.splitlines`` breaks at but the CSV or JSON reader does not is a space."""
    text = text.translate(_OTHER_BREAKS)
    return text if csv_file else re.sub(r"\r(?!\n)", " ", text)


def _position(text: str, at: int) -> tuple[int, int]:
    """1-based line and column of the offset ``at`` of ``text``."""
    before = text[:at].splitlines(keepends=True)
    if not before or before[-1].endswith(("\n", "\r")):
        return len(before) + 1, 1
    return len(before), len(before[-1]) + 1


# --------------------------------------------------------------------------- CSV


def _read_csv(name: str, text: str, bag: DiagnosticBag) -> list[RawEntry]:
    rows: list[list[str]] = []
    starts: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    last = 0
    try:
        for fields in reader:
            if fields and not (len(fields) == 1 and not fields[0].strip()):
                rows.append(fields)
                starts.append(last + 1)
            last = reader.line_num
    except csv.Error as e:
        line = last + 1  # where the row being read starts
        unclosed = "end of data" in str(e)
        bag.error("E321", f"{name} is not a valid CSV file: {e}", Span(name, line, 1, line, 2),
                  hint="a quoted field starts on this row and is never closed" if unclosed else None)
        return []
    if not rows:
        bag.error("E321", f"data file {name} is empty", Span(name, 1, 1, 1, 1),
                  hint="a CSV data file needs a header line of column names, then one line per row")
        return []
    header, header_line, body, lines = rows[0], starts[0], rows[1:], np.array(starts[1:], dtype=np.int64)
    names = [h.strip() for h in header]
    text_lines = _display(text, True).splitlines()
    header_text = text_lines[header_line - 1]
    if len(names) == 1:
        sep = next((s for s in (";", "\t", "|") if s in names[0]), None)
        if sep:
            shown = "a tab" if sep == "\t" else f"'{sep}'"
            bag.error("E321", f"{name} looks like it is separated by {shown}: probdsl reads comma-separated files",
                      Span(name, header_line, 1, header_line, len(header_text) + 1))
            return []
    if not body:
        bag.error("E321", f"{name} has a header but no rows",
                  Span(name, header_line, 1, header_line, len(header_text) + 1))
        return []
    ok = True
    first_col: dict[str, int] = {}
    for j, h in enumerate(names, start=1):
        if h and h in first_col:
            bag.error("E321", f"{name} has two columns named `{h}` (columns {first_col[h]} and {j})",
                      _field_span(name, header_line, header_text, j), label="second one")
            ok = False
        first_col.setdefault(h, j)
    ragged = [(r, len(f)) for r, f in enumerate(body, start=1) if len(f) != len(header)]
    for k, (r, n) in enumerate(ragged[:3]):
        line_no = int(lines[r - 1])
        more = len(ragged) - 3 if k == 2 else 0
        bag.error("E321", f"{name}, line {line_no}: row {r} has {n} field{'s' * (n != 1)} but the header has "
                  f"{len(header)}",
                  Span(name, line_no, 1, line_no, len(text_lines[line_no - 1]) + 1),
                  notes=(f"and {more} more rows with the wrong number of fields",) if more > 0 else ())
    if ragged or not ok:
        return []
    columns = list(zip(*body))
    entries = []
    for j, h in enumerate(names, start=1):
        if not h:
            continue
        values, missing, cells = _column_values(columns[j - 1])
        entries.append(RawEntry(h, values, name, "csv", missing, cells, _field_span(name, header_line, header_text, j),
                                header_line, (j,), (h,), lines))
    return entries + _matrices(entries)


def _column_values(raw_cells: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, missing mask and stripped cell text of one CSV column."""
    cells = [c.strip() for c in raw_cells]
    missing = np.fromiter((c in MISSING_CELLS for c in cells), dtype=bool, count=len(cells))
    present = [c for c, m in zip(cells, missing) if not m] if missing.any() else cells
    cell_array = np.array(cells, dtype=object)
    joined = "".join(present)
    plain = "_" not in joined and joined.isascii()  # else some cell is not a number (see ``parse_number``)
    values = _numbers(present, all(map(is_int_text, present))) if plain else None
    if values is None:
        return cell_array, missing, cell_array
    if missing.any():
        full = np.full(len(cells), np.nan)
        full[~missing] = values
        values = full
    return values, missing, cell_array


def _numbers(texts: list[str], as_int: bool) -> np.ndarray | None:
    try:
        return np.array(texts, dtype=np.int64 if as_int else np.float64).reshape(len(texts))
    except (ValueError, OverflowError):
        return None if not as_int else _numbers(texts, False)


def _matrices(entries: list[RawEntry]) -> list[RawEntry]:
    """Matrix entries ``X`` from columns ``X.1 .. X.K``."""
    groups: dict[str, dict[int, RawEntry]] = defaultdict(dict)
    for e in entries:
        if m := _MATRIX_COLUMN.match(e.name):
            groups[m.group(1)][int(m.group(2))] = e
    have = {e.name for e in entries}
    out = []
    for prefix, cols in groups.items():
        if prefix in have or set(cols) != set(range(1, len(cols) + 1)):
            continue
        parts = [cols[j] for j in range(1, len(cols) + 1)]
        if any(p.values.dtype == object for p in parts):
            values = np.stack([p.values.astype(object) for p in parts], axis=1)
        else:
            values = np.stack([p.values for p in parts], axis=1)  # int64 only if all are
        cells = None if parts[0].cells is None else np.stack([p.cells for p in parts], axis=1)
        first = parts[0]
        out.append(RawEntry(prefix, values, first.source, first.kind, np.stack([p.missing for p in parts], axis=1),
                            cells, first.span, first.header_line, tuple(p.column for p in parts),
                            tuple(p.name for p in parts), first.lines, derived=True))
    return out


def _field_span(file: str, line_no: int, line: str, column: int) -> Span:
    """Span of the ``column``-th (1-based) comma-separated field of ``line``."""
    start, i, n = 0, 0, len(line)
    for _ in range(column):
        start = i
        if i < n and line[i] == '"':
            i += 1
            while i < n and not (line[i] == '"' and line[i + 1:i + 2] != '"'):
                i += 2 if line[i] == '"' else 1
            i += 1
        while i < n and line[i] != ",":
            i += 1
        end, i = i, i + 1
    field_text = line[start:end]
    if field_text.strip():
        start += len(field_text) - len(field_text.lstrip())
        end = start + len(field_text.strip())
    return Span(file, line_no, start + 1, line_no, end + 1)


# --------------------------------------------------------------------------- JSON


def _read_json(name: str, text: str, bag: DiagnosticBag) -> list[RawEntry]:
    def pairs(items):
        seen = {}
        for k, v in items:
            if k in seen:
                raise _DuplicateKey(k)
            seen[k] = v
        return seen

    try:
        obj = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        bag.error("E322", f"{name} is not valid JSON: {e.msg}", Span(name, e.lineno, e.colno, e.lineno, e.colno + 1))
        return []
    except RecursionError:
        bag.error("E322", f"{name} is not data: its lists are nested too deeply",
                  _offset_span(name, text, re.search(r"(\[\s*){50}", text)))
        return []
    except ValueError as e:  # an integer of more than 4300 digits
        bag.error("E322", f"{name} is not data: {str(e).split(';')[0]}",
                  _offset_span(name, text, re.search(r"\d{4300}", text)))
        return []
    except _DuplicateKey as e:
        bag.error("E322", f"{name} gives the key `{e.key}` twice", _key_span(name, text, e.key, last=True))
        return []
    if not isinstance(obj, dict):
        bag.error("E322", f"{name} must hold a JSON object of name: value pairs, not a {type(obj).__name__}",
                  Span(name, 1, 1, 1, 2))
        return []
    entries = []
    for key, value in obj.items():
        span = _key_span(name, text, key)
        try:
            shape, leaves = _nested(value)
        except _NotData as e:
            bag.error("E324", f"`{key}` in {name}: {e}", span)
            continue
        if any(isinstance(v, dict) for v in leaves):
            bag.error("E324", f"`{key}` in {name}: objects are not data; give a number, a string or a list", span)
            continue
        values, missing = _from_leaves(leaves, shape, nan_is_missing=False)
        cells = np.array([v if isinstance(v, str) else json.dumps(v) for v in leaves], dtype=object).reshape(shape)
        entries.append(RawEntry(key, values, name, "json", missing, cells, span))
    return entries


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


class _NotData(Exception):
    pass


def _nested(value) -> tuple[tuple[int, ...], list]:
    """Shape and flat leaves of a rectangular nested list."""
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    leaves = [value]
    for depth, n in enumerate(shape):
        nxt = []
        for item in leaves:
            if not isinstance(item, list) or len(item) != n:
                raise _NotData(f"the nested lists are not rectangular (expected {n} elements at depth {depth + 1}, "
                               f"found {len(item) if isinstance(item, list) else 'a single value'})")
            nxt.extend(item)
        leaves = nxt
    if any(isinstance(v, list) for v in leaves):
        raise _NotData("the nested lists are not rectangular (lists and single values are mixed at the same depth)")
    return tuple(shape), leaves


def _offset_span(file: str, text: str, match: re.Match | None) -> Span:
    """The span of the start of ``match`` in ``text`` (line 1 if none)."""
    at = match.start() if match else 0
    line = text.count("\n", 0, at) + 1
    column = at - text.rfind("\n", 0, at)
    return Span(file, line, column, line, column + 1)


def _key_span(file: str, text: str, key: str, last: bool = False) -> Span:
    quoted = json.dumps(key, ensure_ascii=False)
    matches = list(re.finditer(re.escape(quoted) + r"\s*:", text))
    if not matches:
        return Span(file, 1, 1, 1, 2)
    m = matches[-1] if last else matches[0]
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return Span(file, line, col, line, col + len(quoted))


# --------------------------------------------------------------------------- Python


def _from_leaves(leaves: list, shape: tuple[int, ...], nan_is_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Values and missing mask from flat Python scalars (numbers, str, None)."""
    def absent(v):
        return v is None or (nan_is_missing and isinstance(v, float) and math.isnan(v))

    missing = np.fromiter((absent(v) for v in leaves), dtype=bool, count=len(leaves)).reshape(shape)
    if any(isinstance(v, str) for v in leaves):
        text = [v if isinstance(v, str) else ("" if absent(v) else json.dumps(v)) for v in leaves]
        return np.array(text, dtype=object).reshape(shape), missing
    if not all(v is None or isinstance(v, (int, float)) for v in leaves):
        bad = next(v for v in leaves if not (v is None or isinstance(v, (int, float))))
        raise _NotData(f"{type(bad).__name__} values are not data")
    if not missing.any() and all(isinstance(v, int) and _INT64[0] <= v <= _INT64[1] for v in leaves):
        return np.array(leaves, dtype=np.int64).reshape(shape), missing
    return np.array([math.nan if v is None else _float(v) for v in leaves], dtype=np.float64).reshape(shape), missing


def _float(v: int | float) -> float:
    """``v`` as a float; an integer beyond the float range is infinite."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _python_entry(name: str, value, source: str, bag: DiagnosticBag, column: int | None = None) -> RawEntry | None:
    try:
        arr = np.asarray(value)
    except ValueError:
        arr = None
    if arr is None or (arr.dtype == object and any(isinstance(v, (list, tuple)) for v in arr.ravel().tolist())):
        bag.error("E324", f"`{name}` in {source}: the nested lists are not rectangular")
        return None
    if arr.dtype.kind in "biu":
        values, missing = arr.astype(np.int64), np.zeros(arr.shape, bool)
    elif arr.dtype.kind == "f":
        values = arr.astype(np.float64)
        missing = np.isnan(values)
    else:
        try:
            leaves = [v.item() if isinstance(v, np.generic) else v for v in arr.ravel().tolist()]
            values, missing = _from_leaves(leaves, arr.shape, nan_is_missing=True)
        except _NotData as e:
            bag.error("E324", f"`{name}` in {source}: {e}")
            return None
    cols = (column,) if column else ()
    return RawEntry(name, values, source, "python", missing, columns=cols, column_names=(name,) * len(cols))


def _read_frame(frame, bag: DiagnosticBag) -> list[RawEntry]:
    entries = []
    for j, col in enumerate(frame.columns, start=1):
        series = frame[col]
        if isinstance(series, type(frame)):
            bag.error("E324", f"the DataFrame has two columns named `{col}`")
            continue
        if series.dtype.kind in "biuf":
            value = series.to_numpy(dtype=np.float64, na_value=np.nan) if series.hasnans else series.to_numpy()
        else:
            value = series.astype(object).where(series.notna(), None).to_numpy()
        if e := _python_entry(str(col), value, "<DataFrame>", bag, column=j):
            entries.append(e)
    return entries + _matrices(entries)


# --------------------------------------------------------------------------- merging


def _merge(raw: RawData, entry: RawEntry, bag: DiagnosticBag) -> None:
    old = raw.entries.get(entry.name)
    if old is None or (old.derived and not entry.derived):
        raw.entries[entry.name] = entry
    elif entry.derived and not old.derived or _same(old.values, entry.values):
        return
    else:
        where = f" at {old.span}" if old.span else ""
        bag.error("E323", f"`{entry.name}` is given by both {old.source} and {entry.source}, with different values",
                  entry.span, notes=(f"first given in {old.source}{where}",))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return a.dtype == b.dtype and bool((a == b).all())
    return bool(np.array_equal(a, b, equal_nan=True))
