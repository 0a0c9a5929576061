"""Corrupted data files for fuzzing the data layer (used by tests/test_fuzz_data.py).

``pairs(folder)`` gives (model, clean data file) pairs: the examples, posteriordb ports with their
data, and two synthetic pairs covering every kind of column (int, bounded real, a matrix from
``Z.1..Z.3`` columns, a factor with text or integer labels, imputable real; JSON scalars, matrices
and integer arrays).  ``corrupt(pair, kind, seed, folder)`` writes one corrupted copy of the pair's
data file and returns a ``Case``: the file, and what a right outcome is.  ``outcome(model, path)``
compiles the model and binds the file; any exception that is not a probdsl error propagates.
``judge(case, outcome, clean)`` lists what is wrong with an outcome: an error must name the file,
and the column and row the corruption touched; a bound model must hold the values the file means
(for a harmless corruption, those of the clean file).
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from probdsl import api
from probdsl.compiled import CompiledModel
from probdsl.data.bind import DataDecl
from probdsl.errors import ProbdslError

ROOT = Path(__file__).parent.parent
SAME, ERROR, EITHER = "same", "error", "either"  # a corrupted file must give: the clean values, an error, or either

# ---------------------------------------------------------------------- pairs

MIXED_MODEL = """\
// Synthetic: int, bounded int, positive real, a matrix from Z.1..Z.3, a factor, an imputable real.
data int<lower=0> N;
data array[N] int<lower=0> count;
data array[N] int<lower=0, upper=1> flag;
data vector<lower=0>[N] w;
data matrix[N, K] Z;
data factor g;
data vector[N] y;

param real a ~ normal(0, 1);
param vector[K] b ~ normal(0, 1);
param vector[g] u ~ normal(0, 1);
param real<lower=0> sigma ~ exponential(1);

y ~ normal(a + Z * b + u[g], sigma);
count ~ poisson_log(a + log1p(w));
flag ~ bernoulli_logit(a);
"""

ARRAYS_MODEL = """\
// Synthetic: JSON scalars, a matrix, a 2-D int array, an index array, and a factor with integer labels.
data int<lower=1> N;
data int<lower=1> K;
data real<lower=0> s;
data matrix[N, K] X;
data array[N, 2] int<lower=0> counts;
data array[N] int<lower=1, upper=K> idx;
data vector<lower=0>[K] scale;
data factor grp;
data vector[N] y;

param vector[K] b ~ normal(0, scale);
param vector[grp] u ~ normal(0, s);
param real<lower=0> sigma ~ exponential(1);

y ~ normal(X * b + b[idx] + u[grp], sigma);
for (n in 1:N) counts[n, 1] ~ poisson(exp(b[idx[n]]));
"""

CENSORED_MODEL = """\
// Synthetic: no declared bounds, so the likelihoods' own checks (support, censoring flags) meet bad data.
data vector[N] time;
data array[N] int alive;
data array[N] int count;

param real<lower=0> alpha ~ gamma(2, 1);
param real<lower=0> scale ~ lognormal(0, 1);
param real<lower=0> lambda ~ exponential(1);

time ~ weibull(alpha, scale) censored(right = alive);
count ~ poisson(lambda);
"""

EXAMPLES = [("eight_schools", "eight_schools.json"), ("radon", "radon.csv"), ("radon_lm", "radon.csv"),
            ("survival", "survival.csv"), ("logistic_regression", "logistic_regression.csv"),
            ("poisson_glm", "poisson_glm.csv")]
POSTERIORDB = ["arK-arK", "kidiq-kidscore_momiq", "sblrc-blr", "hmm_example-hmm_example", "mesquite-logmesquite",
               "kilpisjarvi_mod-kilpisjarvi", "garch-garch11"]


@dataclass(frozen=True)
class Pair:
    name: str
    model: Path
    data: Path


def pairs(folder: Path) -> list[Pair]:
    """Every (model, clean data) pair; the synthetic ones are written to ``folder``."""
    out = []
    for model, data in EXAMPLES:
        directory = ROOT / "examples" / ("radon" if model == "radon_lm" else model)
        out.append(Pair(model, directory / f"{model}.pdl", directory / data))
    for name in POSTERIORDB:
        out.append(Pair(name, ROOT / "examples" / "posteriordb" / f"{name}.pdl",
                        ROOT / "tests" / "posteriordb" / name / "data.json"))
    return out + _synthetic(folder)


def _synthetic(folder: Path) -> list[Pair]:
    rng = np.random.default_rng(20)
    labels = ["north", "south", "east", "West", "Blue Earth", "Zürich"]
    lines = ["count,flag,w,Z.1,Z.2,Z.3,g,y"]
    for i in range(12):
        lines.append(f"{rng.poisson(3)},{rng.integers(0, 2)},{rng.gamma(2):.4f},{rng.normal():.4f},"
                     f"{rng.normal():.4f},{rng.integers(0, 5)},{labels[i % len(labels)]},{rng.normal():.3f}")
    arrays = {"N": 6, "K": 3, "s": 1.5, "X": rng.normal(size=(6, 3)).round(3).tolist(),
              "counts": rng.poisson(2, (6, 2)).tolist(), "idx": [1, 3, 2, 2, 1, 3], "scale": [1, 2.5, 0.5],
              "grp": [10, 2, 2, 10, 1, 2], "y": rng.normal(size=6).round(3).tolist()}
    censored = ["time,alive,count"] + [f"{rng.weibull(1.5):.3f},{rng.integers(0, 2)},{rng.poisson(2)}"
                                       for _ in range(10)]
    files = {"mixed.pdl": MIXED_MODEL, "mixed.csv": "\n".join(lines) + "\n",
             "censored.pdl": CENSORED_MODEL, "censored.csv": "\n".join(censored) + "\n",
             "arrays.pdl": ARRAYS_MODEL, "arrays.json": json.dumps(arrays, indent=1)}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [Pair("mixed", folder / "mixed.pdl", folder / "mixed.csv"),
            Pair("censored", folder / "censored.pdl", folder / "censored.csv"),
            Pair("arrays", folder / "arrays.pdl", folder / "arrays.json")]


# ---------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    status: str  # "bound" or "error"
    message: str = ""  # the rendered error
    values: dict[str, np.ndarray] | None = None  # a bound model's data (see ``canonical``)
    levels: dict[str, list[str]] | None = None


@functools.lru_cache(maxsize=None)
def _compiled(model: str) -> CompiledModel:
    return api.compile_file(model)


def outcome(model, data_path) -> Outcome:
    """Compile ``model`` (cached) and bind ``data_path``: bound, or a probdsl error."""
    try:
        bound = _compiled(str(model)).bind([str(data_path)])
    except ProbdslError as e:
        return Outcome("error", message=str(e))
    return Outcome("bound", values=canonical(bound), levels=bound.bound.levels)


def canonical(model) -> dict[str, np.ndarray]:
    """The bound data by name: factors as their labels, and ``NAME?missing`` masks of imputed entries."""
    b = model.bound
    out = {}
    for name, value in b.values.items():
        out[name] = np.array(b.levels[name], dtype=object)[value - 1] if name in b.levels else value
    out.update({f"{name}?missing": mask for name, mask in b.missing.items()})
    return out


@dataclass
class Case:
    pair: Pair
    kind: str
    path: Path
    expect: str  # SAME, ERROR or EITHER
    column: str | None = None  # an error must name it (see ``_names``)
    where: tuple[str, ...] = ()  # an error must hold one of these (the row or line the corruption is on)
    check: Callable[[dict, dict], str | None] | None = None  # (bound values, clean values) -> what is wrong


def judge(case: Case, result: Outcome, clean: Outcome) -> list[str]:
    """What is wrong with ``result`` for ``case`` (empty: nothing)."""
    problems = []
    if result.status == "error":
        text = result.message
        if case.expect == SAME:
            problems.append("an error, but the file means the same data as the clean one")
        if case.path.name not in text:
            problems.append("the error does not name the file")
        if case.column and not _names(text, case.column):
            problems.append(f"the error does not name the column `{case.column}`")
        if case.where and not any(w in text for w in case.where):
            problems.append(f"the error does not say where (one of {case.where})")
        problems += _caret_problems(text)
    else:
        problems += _level_problems(result)
        if case.expect == ERROR:
            problems.append("bound, but should be an error")
        elif case.check and (wrong := case.check(result.values, clean.values)):
            problems.append(f"bound to the wrong values: {wrong}")
    head = f"{case.kind} {case.path.name}"
    return [f"{head}: {p}\n{result.message}".rstrip() for p in problems]


def _names(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` in code (`name`, `name[3]`, `right = name`) or as a size's origin."""
    word = rf"(?<![\w.]){re.escape(name)}(?![\w.])"
    return re.search(rf"`[^`\n]*{word}[^`\n]*`|as {word} in", text) is not None


_NOT_A_NUMBER = re.compile(r"\.csv:\d+:\d+: error\[E302\]: .*?'([^'\\\n]+)' is not a number\n"
                           r" +\d+ \| (.*)\n +\| ( *)(\^+)")


def _caret_problems(text: str) -> list[str]:
    """The carets under a CSV cell that is not a number must underline that cell (quoted or not) in the excerpt."""
    out = []
    for cell, line, pad, carets in _NOT_A_NUMBER.findall(text):
        underlined = line[len(pad):len(pad) + len(carets)]
        if underlined not in (cell, '"' + cell.replace('"', '""') + '"'):
            out.append(f"the carets underline {underlined!r}, not {cell!r}")
    return out


def _level_problems(result: Outcome) -> list[str]:
    """Factor levels must be the distinct labels, sorted numerically when all are numbers."""
    out = []
    for name, levels in result.levels.items():
        numbers = [_number(x) for x in levels]
        key = (lambda x: (_number(x), x)) if None not in numbers else None
        if levels != sorted(set(result.values[name].tolist()), key=key):
            out.append(f"the levels of `{name}` are {levels[:10]}")
    return out


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def diff(got: dict, want: dict) -> str | None:
    """How two sets of bound values differ, or None."""
    if got.keys() != want.keys():
        return f"names {sorted(got.keys() ^ want.keys())} differ"
    for name, b in want.items():
        a, b = np.asarray(got[name]), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return f"`{name}` is {a.dtype}{a.shape}, not {b.dtype}{b.shape}"
        if not (bool((a == b).all()) if a.dtype == object else np.array_equal(a, b, equal_nan=True)):
            return f"`{name}` has other values than expected"
    return None


def _changed(name: str, index: tuple, value, missing: bool = False):
    """A check: the clean values with ``name[index]`` set to ``value`` (and marked missing)."""
    def check(got, clean):
        want = {k: v.copy() for k, v in clean.items()}
        want[name][index] = value
        if missing:
            want.setdefault(f"{name}?missing", np.zeros(want[name].shape, bool))[index] = True
        return diff(got, want)
    return check


# ---------------------------------------------------------------------- corrupting


CSV_KINDS: dict[str, Callable] = {}
JSON_KINDS: dict[str, Callable] = {}


def _kind(table):
    def register(fn):
        table[fn.__name__.strip("_")] = fn
        return fn
    return register


@dataclass
class Bad:
    """What a corruption wrote, and the outcome it must have (see ``Case``)."""

    data: str | bytes
    expect: str
    column: str | None = None
    where: tuple[str, ...] = ()
    check: Callable | None = None


class _Source:
    """A clean data file, parsed, with the model's declarations and a seeded random generator."""

    def __init__(self, pair: Pair, rng: random.Random):
        self.pair, self.rng = pair, rng
        compiled = _compiled(str(pair.model))
        self.decls: dict[str, DataDecl] = {d.name: d for d in compiled.data_decls()}
        self.size_names = {s.name for d in self.decls.values() for s in d.type.dims if s.name}
        self.text = pair.data.read_text(encoding="utf-8")

    def choice(self, items):
        items = list(items)
        return items[self.rng.randrange(len(items))] if items else None


class _Csv(_Source):
    def __init__(self, pair, rng):
        super().__init__(pair, rng)
        lines = self.text.splitlines()
        self.header = lines[0].split(",")
        self.rows = [line.split(",") for line in lines[1:] if line]

    def decl(self, column: str) -> DataDecl | None:
        return self.decls.get(column) or self.decls.get(column.rsplit(".", 1)[0])

    def columns(self, numeric: bool | None = None, test=lambda d: True) -> list[str]:
        """Columns the model reads (only numeric or only factor ones, if asked) whose declaration passes ``test``."""
        return [c for c in self.header if (d := self.decl(c)) and (numeric is None or numeric != d.is_factor)
                and test(d)]

    def cell(self, columns) -> tuple[int, str] | None:
        column = self.choice(columns)
        return None if column is None else (self.rng.randrange(len(self.rows)), column)

    def target(self, r: int, column: str) -> tuple[str, tuple]:
        """The bound name and index of a cell (``Z.2`` -> ``Z[r, 1]``)."""
        if column in self.decls:
            return column, (r,)
        name, j = column.rsplit(".", 1)
        return name, (r, int(j) - 1)

    def where(self, r: int, column: str, line: int | None = None) -> tuple[str, ...]:
        """The cell as errors name it: its row and line, or its element (the likelihoods' checks say ``y[3]``,
        and name a censoring column's row by the element of the censored variable)."""
        name, index = self.target(r, column)
        return (f"row {r + 1} (line {line or r + 2})", f"{name}[{', '.join(str(i + 1) for i in index)}]",
                f"[{r + 1}]`")

    def write(self, header=None, rows=None, sep=",", end="\n") -> str:
        return end.join(sep.join(f) for f in [header or self.header, *(self.rows if rows is None else rows)]) + end

    def with_cell(self, r: int, column: str, text: str) -> str:
        rows = [list(f) for f in self.rows]
        rows[r][self.header.index(column)] = text
        return self.write(rows=rows)

    def bad_cell(self, columns, texts) -> Bad | None:
        """``columns``' cell at a random row set to one of ``texts``: an error naming column and row."""
        if not (hit := self.cell(columns)):
            return None
        r, column = hit
        return Bad(self.with_cell(r, column, self.choice(texts)), ERROR, column, self.where(r, column))


class _Json(_Source):
    def __init__(self, pair, rng):
        super().__init__(pair, rng)
        self.obj = json.loads(self.text)

    def keys(self, numeric: bool | None = None, test=lambda d: True) -> list[str]:
        return [k for k in self.obj if (d := self.decls.get(k)) and (numeric is None or numeric != d.is_factor)
                and test(d)]

    def element(self, keys) -> tuple[str, tuple] | None:
        """A random element of one of ``keys`` (index () for a scalar)."""
        key = self.choice(keys)
        if key is None:
            return None
        shape = np.shape(self.obj[key])
        if 0 in shape:
            return None
        return key, tuple(self.rng.randrange(n) for n in shape)

    def write(self, obj=None, token: str | None = None) -> str:
        """``obj`` as JSON, pretty or compact; ``token`` replaces the string "@" (for NaN, huge numbers...)."""
        text = json.dumps(self.obj if obj is None else obj, indent=self.choice([None, 1, 2]))
        return text.replace('"@"', token) if token is not None else text

    def with_element(self, key: str, index: tuple, value) -> dict:
        obj = copy.deepcopy(self.obj)
        if not index:
            obj[key] = value
            return obj
        inner = obj[key]
        for i in index[:-1]:
            inner = inner[i]
        inner[index[-1]] = value
        return obj

    @staticmethod
    def where(key: str, index: tuple) -> tuple[str, ...]:
        """The element named in an error: ``y[3]``, or a scalar ``J`` (also as the size of other keys)."""
        return (f"`{key}[{', '.join(str(i + 1) for i in index)}]`",) if index else (f"`{key}`", f"as {key} in")

    def bad_element(self, keys, values, token=None) -> Bad | None:
        """An element of one of ``keys`` set to one of ``values``: an error naming the key and the element."""
        if not (hit := self.element(keys)):
            return None
        key, index = hit
        return Bad(self.write(self.with_element(key, index, self.choice(values)), token), ERROR, key,
                   self.where(key, index))


def corrupt(pair: Pair, kind: str, seed: int, folder: Path) -> Case | None:
    """Write the corruption ``kind`` (seeded) of ``pair``'s data to ``folder``; None if it does not apply."""
    rng = random.Random(f"{pair.name}/{kind}/{seed}")
    csv = pair.data.suffix == ".csv"
    bad = (CSV_KINDS if csv else JSON_KINDS)[kind]((_Csv if csv else _Json)(pair, rng))
    if bad is None:
        return None
    path = folder / f"{pair.name}-{kind}-{seed}{pair.data.suffix}"
    if isinstance(bad.data, bytes):
        path.write_bytes(bad.data)
    else:
        path.write_text(bad.data, encoding="utf-8", newline="")
    return Case(pair, kind, path, bad.expect, bad.column, bad.where, bad.check)


def kinds(pair: Pair) -> list[str]:
    return list(CSV_KINDS if pair.data.suffix == ".csv" else JSON_KINDS)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# ---------------------------------------------------------------------- CSV corruptions

NOT_NUMBERS = ["abc", "1.2.3", "--1", "1e", "#N/A", "?", "n/a", "null", "None", "-", ".", "1-2", "0x1F", "½",
               "１２", "١٢", "1_000", "€5", "5%", "1/2", "e5", "'3'"]
MISSING = ["", "NA", "NaN", "nan", "   ", "\t"]
NON_FINITE = ["inf", "-inf", "Infinity", "-Infinity", "INF", "1e999", "-1e400", "NAN", "-nan"]
BOOLEANS = ["TRUE", "FALSE", "true", "False", "T", "F", "yes", "no"]


@_kind(CSV_KINDS)
def _missing_column(s: _Csv) -> Bad:
    column = s.choice(s.columns())
    d = s.decl(column)
    keep = [j for j, c in enumerate(s.header) if c != column]
    text = s.write([s.header[j] for j in keep], [[f[j] for j in keep] for f in s.rows])
    if column != d.name:  # a column of a matrix: the matrix is narrower, or has a gap
        return Bad(text, EITHER, d.name, check=_narrower(d, int(column.rsplit(".", 1)[1])))
    return Bad(text, ERROR, d.name)


def _narrower(d: DataDecl, j: int):
    """A check: the matrix ``d`` without its column ``j``, and its number of columns one less."""
    def check(got, clean):
        want = dict(clean)
        want[d.name] = np.delete(clean[d.name], j - 1, axis=1)
        if (columns := d.type.dims[1].name) in want:
            want[columns] = np.asarray(want[d.name].shape[1])
        return diff(got, want)
    return check


@_kind(CSV_KINDS)
def _extra_column(s: _Csv) -> Bad:
    at = s.rng.randrange(len(s.header) + 1)
    values = s.choice([lambda: str(s.rng.random()), lambda: s.choice(["a", "b", "NA", ""]), lambda: "1,2"])
    header = s.header[:at] + ["extra"] + s.header[at:]
    rows = [f[:at] + [f'"{values()}"'] + f[at:] for f in s.rows]
    return Bad(s.write(header, rows), SAME, check=diff)


@_kind(CSV_KINDS)
def _wrong_type(s: _Csv) -> Bad:
    return s.bad_cell(s.columns(numeric=True), NOT_NUMBERS)


@_kind(CSV_KINDS)
def _missing_cell(s: _Csv) -> Bad:
    r, column = s.cell(s.columns())
    name, index = s.target(r, column)
    return Bad(s.with_cell(r, column, s.choice(MISSING)), EITHER, column, s.where(r, column),
               _changed(name, index, np.nan, missing=True))


@_kind(CSV_KINDS)
def _non_finite(s: _Csv) -> Bad:
    return s.bad_cell(s.columns(numeric=True), NON_FINITE)


@_kind(CSV_KINDS)
def _empty_file(s: _Csv) -> Bad:
    return Bad(s.choice(["", "\n", "\n\n\n", "   \n  \n", "\ufeff", "\r\n"]), ERROR)


@_kind(CSV_KINDS)
def _header_only(s: _Csv) -> Bad:
    return Bad(",".join(s.header) + s.choice(["", "\n", "\n\n", "\n   \n"]), ERROR)


@_kind(CSV_KINDS)
def _ragged_row(s: _Csv) -> Bad:
    r = s.rng.randrange(len(s.rows))
    rows = [list(f) for f in s.rows]
    rows[r] = s.choice([rows[r][:-1], rows[r] + ["1"], rows[r] + [""], rows[r][:1]])
    return Bad(s.write(rows=rows), ERROR, where=(f"line {r + 2}: row {r + 1} ",))


@_kind(CSV_KINDS)
def _duplicate_header(s: _Csv) -> Bad:
    i, j = s.rng.sample(range(len(s.header)), 2)
    header = list(s.header)
    header[j] = header[i]
    return Bad(s.write(header), ERROR, header[i])


@_kind(CSV_KINDS)
def _bom(s: _Csv) -> Bad:
    return Bad("\ufeff" + s.text, SAME, check=diff)


@_kind(CSV_KINDS)
def _wrong_delimiter(s: _Csv) -> Bad:
    return Bad(s.write(sep=s.choice([";", "\t", "|"])), ERROR)


@_kind(CSV_KINDS)
def _factor_numbers(s: _Csv) -> Bad | None:
    """Factor labels replaced by distinct integers: levels sorted numerically, codes in that order."""
    if not (factors := s.columns(numeric=False)):
        return None
    column = s.choice(factors)
    j = s.header.index(column)
    labels = sorted({f[j] for f in s.rows})
    numbers = dict(zip(labels, s.rng.sample(range(-20, 120), len(labels))))
    rows = [f[:j] + [str(numbers[f[j]])] + f[j + 1:] for f in s.rows]

    def check(got, clean):
        want = dict(clean)
        want[column] = np.array([str(numbers[x]) for x in clean[column]], dtype=object)
        return diff(got, want)
    return Bad(s.write(rows=rows), SAME, check=check)


@_kind(CSV_KINDS)
def _truncated(s: _Csv) -> Bad:
    data = s.text.encode()
    cut = s.rng.randrange(1, len(data) - 1)
    return Bad(data[:cut], EITHER, check=_prefix(len(s.rows)))


def _prefix(rows: int):
    """A truncated file binds to the first rows of the clean one (its last row may be cut short)."""
    def check(got, clean):
        for name, c in clean.items():
            if c.ndim == 0 or c.shape[0] != rows or "?" in name:
                continue
            g = got.get(name)
            if g is None or g.shape[1:] != c.shape[1:] or g.shape[0] > rows:
                return f"`{name}` is not a prefix of the clean data"
            if diff({name: g[:-1]}, {name: c[:len(g) - 1]}):
                return f"the first rows of `{name}` differ from the clean data"
        return None
    return check


@_kind(CSV_KINDS)
def _non_utf8(s: _Csv) -> Bad:
    r, column = s.cell(s.columns())
    data = s.with_cell(r, column, "@").encode()
    bad = s.choice(["Zürich".encode("latin-1"), b"\xff", b"\xc3(", b"1\x80", "Ç".encode("cp1252")])
    line = r + 2
    if s.rng.random() < 0.2:
        return Bad(s.text.encode("utf-16"), ERROR, where=(":1:",))
    return Bad(data.replace(b"@", bad), ERROR, where=(f":{line}:", f"line {line}"))


@_kind(CSV_KINDS)
def _quoted(s: _Csv) -> Bad:
    """Quoted cells holding commas, newlines and quotes: labels keep them, numbers are errors."""
    factors = s.columns(numeric=False)
    if factors and s.rng.random() < 0.5:
        r, column = s.cell(factors)
        label = s.choice(["Blue, Earth", "two\nlines", "two\r\nlines", 'say "hi"', ",", " spaced , out ",
                          "page\x0cbreak", "line\u2028separator", "next\x85line"])
        quoted = '"' + label.replace('"', '""') + '"'
        return Bad(s.with_cell(r, column, quoted), SAME, check=_changed(column, (r,), label.strip()))
    return s.bad_cell(s.columns(numeric=True), ['"1,5"', '"12\n3"', '"1,234"', '""""', '"1""2"'])


@_kind(CSV_KINDS)
def _breaks_in_labels(s: _Csv) -> Bad | None:
    """Line breaks inside quoted labels move the lines of later rows: a bad cell below is still found."""
    if not (factors := s.columns(numeric=False)) or len(s.rows) < 3:
        return None
    rows = [list(f) for f in s.rows]
    r = s.rng.randrange(len(rows) - 1)
    label = s.choice(["a\nb", "a\r\nb\nc", "a\rb", "a\x0cb", "a\u2028b", "a\x85b", "a\x0bb"])
    rows[r][s.header.index(factors[0])] = '"' + label + '"'
    bad_r, column = s.rng.randrange(r + 1, len(rows)), s.choice(s.columns(numeric=True))
    rows[bad_r][s.header.index(column)] = "oops"
    line = bad_r + 2 + len(re.findall(r"\r\n|\r|\n", label))
    return Bad(s.write(rows=rows), ERROR, column, s.where(bad_r, column, line)[:1])


@_kind(CSV_KINDS)
def _unterminated_quote(s: _Csv) -> Bad:
    r, column = s.cell(s.columns())
    return Bad(s.with_cell(r, column, '"' + s.rows[r][s.header.index(column)]), ERROR,
               where=(f":{r + 2}:",))


@_kind(CSV_KINDS)
def _whitespace(s: _Csv) -> Bad:
    """Spaces and tabs around every name and value mean nothing."""
    def pad(x):
        return s.choice(["", " ", "  ", "\t"]) + x + s.choice(["", " ", "\t "])
    return Bad(s.write([pad(h) for h in s.header], [[pad(x) for x in f] for f in s.rows]), SAME, check=diff)


@_kind(CSV_KINDS)
def _number_formats(s: _Csv) -> Bad:
    """The same numbers written differently: +x, trailing zeros, exponents, leading zeros."""
    def rewrite(x, d):
        if d is None or d.is_factor or x in MISSING:
            return x
        if not d.type.is_int and "." in x:
            return s.choice([x + "0", x + "e0", "+" + x if x[0] != "-" else x, x + "E+00"])
        return s.choice(["+" + x if x[0] != "-" else x, x, "0" + x if x[0] != "-" else x])
    decls = [s.decl(c) for c in s.header]
    return Bad(s.write(rows=[[rewrite(x, d) for x, d in zip(f, decls)] for f in s.rows]), SAME, check=diff)


@_kind(CSV_KINDS)
def _thousands(s: _Csv) -> Bad:
    r, column = s.cell(s.columns(numeric=True))
    text = s.choice(['"1,234"', '"1.234,5"', "1 234", "1_000", "1'000", '"0,5"', "1,234", "0,5"])
    if text.startswith('"') or "," not in text:
        return Bad(s.with_cell(r, column, text), ERROR, column, s.where(r, column))
    return Bad(s.with_cell(r, column, text), ERROR, where=(f"line {r + 2}: row {r + 1} ",))  # an extra field


@_kind(CSV_KINDS)
def _negative(s: _Csv) -> Bad:
    r, column = s.cell(s.columns(numeric=True))
    d = s.decl(column)
    value = s.choice([-1, -3, -0.5])
    text = s.with_cell(r, column, str(value))
    if (d.type.is_int and value != int(value)) or (d.lower is not None and value < d.lower):
        return Bad(text, ERROR, column, s.where(r, column))
    name, index = s.target(r, column)
    return Bad(text, EITHER, column, s.where(r, column), _changed(name, index, value))


@_kind(CSV_KINDS)
def _fraction(s: _Csv) -> Bad | None:
    return s.bad_cell(s.columns(numeric=True, test=lambda d: d.type.is_int), ["2.5", "3.0", "1e2", "0.1"])


@_kind(CSV_KINDS)
def _boolean(s: _Csv) -> Bad:
    return s.bad_cell(s.columns(numeric=True), BOOLEANS)


@_kind(CSV_KINDS)
def _long_field(s: _Csv) -> Bad:
    r, column = s.cell(s.columns())
    d = s.decl(column)
    text = s.choice(["9" * 5000, "1" + "0" * 400, "x" * 200_000, "0." + "1" * 3000])
    if d.is_factor:
        text = s.choice(["L" * 10_000, "x" * 200_000])
    bad = Bad(s.with_cell(r, column, text), EITHER, where=(*s.where(r, column), f":{r + 2}:"))
    if d.is_factor:
        bad.check = _changed(column, (r,), text)
    elif text.startswith("0."):
        name, index = s.target(r, column)
        bad.expect, bad.check = (ERROR if d.type.is_int else EITHER), _changed(name, index, float(text))
    else:
        bad.expect = ERROR
    return bad


@_kind(CSV_KINDS)
def _line_endings(s: _Csv) -> Bad:
    """Windows (CRLF) and classic Mac (CR) line endings."""
    return Bad(s.write(end=s.choice(["\r\n", "\r"])), SAME, check=diff)


@_kind(CSV_KINDS)
def _blank_lines(s: _Csv) -> Bad:
    """Blank lines anywhere are skipped; a bad cell after them is reported at its row and its line."""
    rows = [list(f) for f in s.rows]
    lines = [",".join(s.header)]
    blank_at = set(s.rng.sample(range(1, len(rows) + 1), min(3, len(rows))))
    r, column = s.cell(s.columns(numeric=True))
    rows[r][s.header.index(column)] = "oops"
    line_of_r = None
    for i, f in enumerate(rows):
        if i in blank_at:
            lines.append(s.choice(["", "   ", "\t"]))
        lines.append(",".join(f))
        if i == r:
            line_of_r = len(lines)
    return Bad("\n".join(lines) + "\n", ERROR, column, s.where(r, column, line_of_r)[:1])


@_kind(CSV_KINDS)
def _reordered(s: _Csv) -> Bad:
    order = s.rng.sample(range(len(s.header)), len(s.header))
    return Bad(s.write([s.header[j] for j in order], [[f[j] for j in order] for f in s.rows]), SAME, check=diff)


@_kind(CSV_KINDS)
def _all_quoted(s: _Csv) -> Bad:
    def q(x):
        return '"' + x + '"'
    return Bad(s.write([q(h) for h in s.header], [[q(x) for x in f] for f in s.rows]), SAME, check=diff)


@_kind(CSV_KINDS)
def _index_column(s: _Csv) -> Bad:
    """A saved index (a column with an empty name) and a trailing comma on every line are ignored."""
    if s.rng.random() < 0.5:
        return Bad(s.write([""] + s.header, [[str(i)] + f for i, f in enumerate(s.rows)]), SAME, check=diff)
    return Bad(s.write(s.header + [""], [f + [""] for f in s.rows]), SAME, check=diff)


@_kind(CSV_KINDS)
def _nul_byte(s: _Csv) -> Bad:
    r, column = s.cell(s.columns(numeric=True))
    cell = s.rows[r][s.header.index(column)]
    return Bad(s.with_cell(r, column, cell[:1] + "\x00" + cell[1:]), ERROR, column, s.where(r, column))


@_kind(CSV_KINDS)
def _header_case(s: _Csv) -> Bad | None:
    column = s.choice([c for c in s.columns() if c.upper() != c])
    if column is None:
        return None
    header = [c.upper() if c == column else c for c in s.header]
    return Bad(s.write(header), ERROR, s.decl(column).name)


@_kind(CSV_KINDS)
def _huge_int(s: _Csv) -> Bad:
    r, column = s.cell(s.columns(numeric=True))
    d = s.decl(column)
    text = s.choice(["99999999999999999999", "-9223372036854775809", "9223372036854775808", "1" * 30])
    if d.type.is_int or (d.lower is not None and float(text) < d.lower) or (d.upper is not None):
        return Bad(s.with_cell(r, column, text), ERROR, column, s.where(r, column))
    name, index = s.target(r, column)
    return Bad(s.with_cell(r, column, text), EITHER, column, s.where(r, column), _changed(name, index, float(text)))


@_kind(CSV_KINDS)
def _factor_levels(s: _Csv) -> Bad | None:
    """Factor labels that look alike but are different levels: case, spaces inside, numbers as text."""
    if not (factors := s.columns(numeric=False)):
        return None
    r, column = s.cell(factors)
    old = s.rows[r][s.header.index(column)]
    label = s.choice([old.upper(), old.lower(), old.replace(" ", "  "), old + "_2", "1", "1.0", "-0", "007"])
    return Bad(s.with_cell(r, column, label), SAME, check=_changed(column, (r,), label))


# ---------------------------------------------------------------------- JSON corruptions


@_kind(JSON_KINDS)
def _top_level(s: _Json) -> Bad:
    return Bad(s.choice(["[1, 2]", '"data"', "3", "null", "true", "[" + s.text + "]", "[]"]), ERROR)


@_kind(JSON_KINDS)
def _missing_key(s: _Json) -> Bad:
    key = s.choice(s.keys())
    obj = {k: v for k, v in s.obj.items() if k != key}
    if key in s.size_names and np.ndim(s.obj[key]) == 0:  # a size the model takes from an array's length
        return Bad(s.write(obj), EITHER, key, check=diff)
    return Bad(s.write(obj), ERROR, key)


@_kind(JSON_KINDS)
def _extra_key(s: _Json) -> Bad:
    value = s.choice([1, 2.5, "text", [1, 2, 3], [[1], [2]], None, [], [None, "a"], {"a": 1}])
    obj = dict(s.obj)
    key = s.choice(["extra", "", " " + next(iter(obj)), "N.1", "x y"])
    obj[key] = value
    if isinstance(value, dict):  # an object is never data, even under a name the model ignores
        return Bad(s.write(obj), ERROR, key or None)
    return Bad(s.write(obj), SAME, check=diff)


@_kind(JSON_KINDS)
def _wrong_type(s: _Json) -> Bad:
    return s.bad_element(s.keys(numeric=True), ["abc", "", "1.2.3", "1_000", "１２", "#N/A", "TRUE"])


@_kind(JSON_KINDS)
def _nested_value(s: _Json) -> Bad:
    """A list or an object where a number belongs."""
    key, index = s.element(s.keys())
    value = s.choice([[1], [], {"a": 1}, [[1, 2]]])
    return Bad(s.write(s.with_element(key, index, value)), ERROR, key)


@_kind(JSON_KINDS)
def _number_strings(s: _Json) -> Bad:
    """Numbers (and factor labels) written as strings ("28", "2.5") mean the numbers."""
    key = s.choice(s.keys())

    def text(v):
        return [text(x) for x in v] if isinstance(v, list) else json.dumps(v)
    obj = dict(s.obj)
    obj[key] = text(obj[key])
    return Bad(s.write(obj), SAME, check=diff)


@_kind(JSON_KINDS)
def _null(s: _Json) -> Bad:
    key, index = s.element(s.keys())
    name = s.decls[key].name
    return Bad(s.write(s.with_element(key, index, None)), EITHER, key, s.where(key, index),
               _changed(name, index, np.nan, missing=True))


@_kind(JSON_KINDS)
def _non_finite(s: _Json) -> Bad:
    token = s.choice(["NaN", "Infinity", "-Infinity", '"NaN"', '"Inf"', '"-inf"', "1e999", '"nan"'])
    return s.bad_element(s.keys(numeric=True), ["@"], token=token)


@_kind(JSON_KINDS)
def _duplicate_key(s: _Json) -> Bad:
    key = s.choice(list(s.obj))
    text = s.write()
    again = f'"{key}": {json.dumps(s.choice([s.obj[key], 1, "x"]))}'
    at = text.rindex("}")
    return Bad(text[:at].rstrip() + ",\n " + again + "\n}", ERROR, key)


@_kind(JSON_KINDS)
def _huge_int(s: _Json) -> Bad:
    key, index = s.element(s.keys(numeric=True))
    d = s.decls[key]
    value = s.choice([10 ** 20, -(2 ** 63) - 1, 2 ** 63, 10 ** 30, 10 ** 400])
    bad = Bad(s.write(s.with_element(key, index, "@"), token=str(value)), ERROR, key, s.where(key, index))
    if not d.type.is_int and d.upper is None and value < 10 ** 300 and (d.lower is None or value >= d.lower):
        bad.expect, bad.check = EITHER, _changed(key, index, float(value))
    return bad


@_kind(JSON_KINDS)
def _deep_nesting(s: _Json) -> Bad:
    key = s.choice(s.keys())
    depth = s.choice([3, 50, 5000, 200_000])
    text = s.write(s.with_element(key, (), "@"), token="[" * depth + "1" + "]" * depth)
    return Bad(text, ERROR, key if depth < 1000 else None)


@_kind(JSON_KINDS)
def _shape(s: _Json) -> Bad | None:
    """Ragged lists, an extra or a missing dimension, a transposed matrix."""
    key = s.choice(s.keys(numeric=True))
    value = s.obj[key]
    shape = np.shape(value)
    options = [[value], 5 if shape else [5], [], [[]] * max(shape[:1] + (1,))]
    if len(shape) >= 1 and shape[0] > 1:
        options.append(value[:-1])
    if len(shape) == 2:
        options += [np.ravel(value).tolist(), [value[0], value[1][:-1]] + value[2:]]
        if shape[0] != shape[1]:
            options.append(np.transpose(value).tolist())
    if len(shape) == 1 and shape[0] > 1:
        options.append([value[:1], value[1:]])
    return Bad(s.write(s.with_element(key, (), s.choice(options))), ERROR)


@_kind(JSON_KINDS)
def _boolean(s: _Json) -> Bad:
    key, index = s.element(s.keys(numeric=True))
    value = s.choice([True, False])
    return Bad(s.write(s.with_element(key, index, value)), EITHER, key, s.where(key, index),
               _changed(key, index, int(value)))


@_kind(JSON_KINDS)
def _empty_file(s: _Json) -> Bad:
    return Bad(s.choice(["", "{}", "   ", "\n", "\ufeff"]), ERROR)


@_kind(JSON_KINDS)
def _truncated(s: _Json) -> Bad:
    data = s.text.encode()
    cut = s.rng.randrange(0, data.rindex(b"}"))
    return Bad(data[:cut], ERROR)


@_kind(JSON_KINDS)
def _non_utf8(s: _Json) -> Bad:
    data = s.text.encode()
    at = s.rng.choice([i for i, b in enumerate(data) if b in b" ,\n"])
    bad = data[:at] + s.choice([b"\xff", b"\xc3(", "é".encode("latin-1")]) + data[at:]
    return Bad(bad, ERROR, where=(f":{_line_of(bad, at)}:",))


@_kind(JSON_KINDS)
def _bom(s: _Json) -> Bad:
    return Bad("\ufeff" + s.text, SAME, check=diff)


@_kind(JSON_KINDS)
def _reformatted(s: _Json) -> Bad:
    obj = dict(reversed(list(s.obj.items())))
    return Bad(json.dumps(obj, indent=s.choice([None, 4, "\t"]), separators=s.choice([(",", ":"), (", ", ": ")])),
               SAME, check=diff)


@_kind(JSON_KINDS)
def _fraction(s: _Json) -> Bad | None:
    keys = s.keys(numeric=True, test=lambda d: d.type.is_int)
    return s.bad_element(keys, ["@"], token=s.choice(["2.5", "3.0", "1e2", "0.1"])) if keys else None


@_kind(JSON_KINDS)
def _negative(s: _Json) -> Bad:
    key, index = s.element(s.keys(numeric=True))
    d = s.decls[key]
    value = s.choice([-1, -3, -0.5])
    text = s.write(s.with_element(key, index, value))
    if (d.type.is_int and value != int(value)) or (d.lower is not None and value < d.lower) or (
            key in s.size_names and not index):
        return Bad(text, ERROR, key, s.where(key, index))
    return Bad(text, EITHER, key, s.where(key, index), _changed(key, index, value))
