"""Built-in functions: Stan's math and linear-algebra library.

Each :class:`FunctionSpec` has a type rule (``result``), an emit template
(``source``) and the JAX implementation compiled from that template (``impl``),
so generated code and the interpreter cannot disagree.

Templates use ``{0}``, ``{1}`` ... for the arguments' code, only as call
arguments (an argument used twice goes through a ``lambda``), so any
expression may be substituted.  They may use only ``jnp``, ``jax``, ``jsp``
(jax.scipy.special), ``jsl`` (jax.scipy.linalg) and ``dist``.  Arguments
that fix a shape (the ``N`` of ``rep_vector(x, N)``, the ``n`` of
``head(v, n)``) must be Python ints when the code runs.

JAX stores a ``vector`` and a ``row_vector`` alike, as a 1-D array, and a
function's arity may change its meaning (``max(x)`` against ``max(x, y)``),
so a spec may carry :class:`Variant` templates chosen by the arguments' kinds
and count.  Call sites should use :meth:`FunctionSpec.render` (code) and
:meth:`FunctionSpec.resolve` (implementation); ``source``/``impl`` are the
general case, and ``impl`` alone also follows the argument count but cannot
tell a vector from a row_vector.
"""

from __future__ import annotations

import difflib
import operator
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.special as jsp
import numpyro.distributions as dist

from probdsl.sema.types import (
    INT,
    INT_T,
    MATRIX,
    REAL,
    REAL_T,
    ROW_VECTOR,
    SCALAR,
    UNKNOWN,
    VECTOR,
    Size,
    Type,
    array,
    literal,
    matrix,
    row_vector,
    scalar,
    sizes_conflict,
    vector,
)

#: Names a ``source`` template may use.
NAMESPACE = {"jnp": jnp, "jax": jax, "jsp": jsp, "jsl": jsl, "dist": dist}

Rule = Callable[[list["ArgInfo"]], "Type | str"]


@dataclass(frozen=True)
class ArgInfo:
    """What the type checker knows about one argument of a call."""

    type: Type
    const: int | float | None = None
    size: Size | None = None


@dataclass(frozen=True)
class Variant:
    """A template for calls whose argument kinds match ``kinds``.

    ``kinds`` has one pattern per argument (so it also fixes the count): a
    kind (``scalar``, ``vector``, ``row_vector``, ``matrix``, or ``array``
    for any array), alternatives joined by ``|``, or None for any.
    """

    kinds: tuple[str | None, ...]
    source: str
    impl: Callable


@dataclass(frozen=True)
class FunctionSpec:
    """A built-in function.

    ``result`` gives the result type of a call, or an error message;
    ``impl``/``source`` take the arguments in Stan order (positions 1-based
    as in Stan) and serve every call that no kind-specific variant matches.
    """

    name: str
    signatures: tuple[str, ...]
    result: Callable[[list[ArgInfo]], Type | str]
    impl: Callable
    source: str
    nargs: tuple[int, int]
    variants: tuple[Variant, ...] = ()

    def resolve(self, args: list[ArgInfo]) -> tuple[Callable, str]:
        """The implementation and template for a call with these arguments."""
        for v in self.variants:
            if len(v.kinds) == len(args) and all(_matches(p, a.type) for p, a in zip(v.kinds, args)):
                return v.impl, v.source
        return self.impl, self.source

    def render(self, args: list[ArgInfo], code: list[str]) -> str:
        """Python code for a call, given the arguments' types and code."""
        return self.resolve(args)[1].format(*code)


def _kind(t: Type) -> str:
    return "array" if t.array_dims else t.kind


def _matches(pattern: str | None, t: Type) -> bool:
    return pattern is None or _kind(t) in pattern.split("|")


def _compile(source: str, nargs: int) -> Callable:
    names = [f"a{i}" for i in range(nargs)]
    return eval(f"lambda {', '.join(names)}: {source.format(*names)}", dict(NAMESPACE))  # noqa: S307 - our own template


# ---------------------------------------------------------------- type helpers


_SEQ = "a vector, row_vector or one-dimensional array"
_SEQ_OR_MATRIX = "a vector, row_vector, matrix or one-dimensional array"


def _is(t: Type, *kinds: str) -> bool:
    return not t.array_dims and t.kind in kinds


def _is_1d_array(t: Type) -> bool:
    return len(t.array_dims) == 1 and t.kind == SCALAR


def _is_seq(t: Type) -> bool:
    """A vector, row_vector or one-dimensional array of int/real."""
    return _is(t, VECTOR, ROW_VECTOR) or _is_1d_array(t)


def _found(what: str, t: Type) -> str:
    return f"expected {what}, found {t}"


def _mismatch(a: Size, b: Size, what: str = "sizes") -> str | None:
    return f"{what} differ: {a} vs {b}" if sizes_conflict(a, b) else None


def _merge(a: Size, b: Size) -> Size:
    """Of two sizes known to agree, the more informative."""
    return a if a.value is not None or b.value is None else b


def _arith(op: str, a: Size, b: Size) -> Size:
    fn = {"+": operator.add, "*": operator.mul}[op]
    value = None if a.value is None or b.value is None else fn(a.value, b.value)
    name = None if a.name is None and b.name is None else f"{a.label} {op} {b.label}"
    return Size(name, value)


def _length(t: Type) -> Size:
    """Number of elements of a scalar, vector or row_vector."""
    return literal(1) if t.kind == SCALAR else t.elem_dims[0]


def _size_arg(a: ArgInfo) -> Size | str:
    """The size an int argument names (rep_vector(x, N) -> N)."""
    if not (a.type.is_scalar and a.type.is_int):
        return _found("an int size", a.type)
    if a.size is not None:
        return a.size
    return literal(int(a.const)) if a.const is not None else UNKNOWN


def _sizes(args: list[ArgInfo]) -> list[Size] | str:
    out = [_size_arg(a) for a in args]
    bad = next((s for s in out if isinstance(s, str)), None)
    return bad if bad is not None else out


def _ints(args: list[ArgInfo]) -> str | None:
    bad = next((a.type for a in args if not (a.type.is_scalar and a.type.is_int)), None)
    return _found("an int", bad) if bad is not None else None


def _broadcast(args: list[ArgInfo], base: str | None) -> Type | str:
    """Elementwise: scalars broadcast against containers of one shape.

    ``base`` is the result's element type; None keeps int when all are int.
    """
    if base is None:
        base = INT if all(a.type.is_int for a in args) else REAL
    containers = [a.type for a in args if not a.type.is_scalar]
    if not containers:
        return scalar(base)
    first = containers[0]
    dims = list(first.dims)
    for t in containers[1:]:
        if (t.kind, len(t.array_dims)) != (first.kind, len(first.array_dims)):
            return f"cannot combine {first} and {t} elementwise"
        for i, (x, y) in enumerate(zip(dims, t.dims)):
            err = _mismatch(x, y)
            if err:
                return err
            dims[i] = _merge(x, y)
    n = len(first.array_dims)
    return Type(base if first.kind == SCALAR else REAL, first.kind, tuple(dims[:n]), tuple(dims[n:]))


def _elementwise(base: str | None = REAL) -> Rule:
    return lambda args: _broadcast(args, base)


def _scalars(base: str | None) -> Rule:
    def rule(args):
        bad = next((a.type for a in args if not a.type.is_scalar), None)
        if bad is not None:
            return _found("int or real", bad)
        return scalar(base or (INT if all(a.type.is_int for a in args) else REAL))

    return rule


def _reduction(keep_int: bool) -> Rule:
    def rule(args):
        t = args[0].type
        if not (_is_seq(t) or _is(t, MATRIX)):
            return _found(_SEQ_OR_MATRIX, t)
        return scalar(INT if keep_int and t.is_int else REAL)

    return rule


def _seq_to(t: Type) -> Rule:
    """One vector, row_vector or one-dimensional array; the result is ``t``."""
    return lambda args: t if _is_seq(args[0].type) else _found(_SEQ, args[0].type)


def _vec_to(t: Type) -> Rule:
    """One vector or row_vector; the result is ``t``."""
    return lambda args: t if _is(args[0].type, VECTOR, ROW_VECTOR) else _found("a vector or row_vector", args[0].type)


def _same_as(pred: Callable[[Type], bool], what: str) -> Rule:
    """One argument satisfying ``pred``; the result has its type."""
    return lambda args: args[0].type if pred(args[0].type) else _found(what, args[0].type)


def _square(t: Type) -> Size | str:
    if not _is(t, MATRIX):
        return _found("a square matrix", t)
    m, n = t.elem_dims
    return _mismatch(m, n, "rows and columns") or _merge(m, n)


def _square_to(make: Callable[[Size], Type]) -> Rule:
    def rule(args):
        k = _square(args[0].type)
        return k if isinstance(k, str) else make(k)

    return rule


# ---------------------------------------------------------------- rules


def _dims1(t: Type) -> Size:
    return t.dims[0]


def _dot(args):
    a, b = args[0].type, args[1].type
    for t in (a, b):
        if not _is_seq(t):
            return _found(_SEQ, t)
    return _mismatch(_dims1(a), _dims1(b)) or REAL_T


def _distance(args):
    a, b = args[0].type, args[1].type
    if a.is_scalar and b.is_scalar:
        return REAL_T
    for t in (a, b):
        if not _is(t, VECTOR, ROW_VECTOR):
            return _found("a vector or row_vector", t)
    return _mismatch(a.elem_dims[0], b.elem_dims[0]) or REAL_T


def _rows_cols(t: Type) -> tuple[Size, Size]:
    if t.kind == VECTOR:
        return t.elem_dims[0], literal(1)
    if t.kind == ROW_VECTOR:
        return literal(1), t.elem_dims[0]
    return t.elem_dims


def _dot_by(axis: int, pair: bool) -> Rule:
    """columns_/rows_dot_product (pair) and columns_/rows_dot_self."""

    def rule(args):
        a = args[0].type
        if not _is(a, VECTOR, ROW_VECTOR, MATRIX):
            return _found("a vector, row_vector or matrix", a)
        if pair:
            b = args[1].type
            if _kind(b) != _kind(a):
                return f"expected two arguments of one kind, found {a} and {b}"
            for x, y in zip(a.elem_dims, b.elem_dims):
                err = _mismatch(x, y)
                if err:
                    return err
        n = _rows_cols(a)[axis]
        return row_vector(n) if axis == 1 else vector(n)

    return rule


def _rows_or_cols(args):
    t = args[0].type
    return INT_T if _is(t, VECTOR, ROW_VECTOR, MATRIX) else _found("a vector, row_vector or matrix", t)


def _rep(make: Callable[..., Type], nsizes: int) -> Rule:
    """rep_vector(x, n), zeros_vector(n) ...: a fill value (if any), then sizes."""

    def rule(args):
        fill = args[: len(args) - nsizes]
        if fill and not fill[0].type.is_scalar:
            return _found("int or real", fill[0].type)
        sizes = _sizes(args[len(args) - nsizes :])
        return sizes if isinstance(sizes, str) else make(*sizes)

    return rule


def _rep_matrix(args):
    x = args[0].type
    if len(args) == 3:
        return _rep(matrix, 2)(args)
    n = _size_arg(args[1])
    if isinstance(n, str):
        return n
    if _is(x, VECTOR):
        return matrix(x.elem_dims[0], n)
    if _is(x, ROW_VECTOR):
        return matrix(n, x.elem_dims[0])
    return _found("a vector or row_vector (or give both rows and columns)", x)


def _rep_array(args):
    sizes = _sizes(args[1:])
    return sizes if isinstance(sizes, str) else array(args[0].type, *sizes)


def _int_array(n: Size) -> Type:
    return array(INT_T, n)


def _real_array(n: Size) -> Type:
    return array(REAL_T, n)


def _linspaced(make: Callable[[Size], Type]) -> Rule:
    def rule(args):
        n = _size_arg(args[0])
        if isinstance(n, str):
            return n
        bad = next((a.type for a in args[1:] if not a.type.is_scalar), None)
        return _found("int or real", bad) if bad is not None else make(n)

    return rule


def _one_hot(make: Callable[[Size], Type]) -> Rule:
    def rule(args):
        n = _size_arg(args[0])
        if isinstance(n, str):
            return n
        k = args[1]
        err = _ints([k])
        if err:
            return err
        if k.const is not None and n.value is not None and not 1 <= k.const <= n.value:
            return f"index {k.const} is outside 1..{n.value}"
        return make(n)

    return rule


def _numel(t: Type) -> Size:
    """The total number of elements."""
    dims = t.dims or (literal(1),)
    out = dims[0]
    for d in dims[1:]:
        out = _arith("*", out, d)
    return out


def _flatten_to(make: Callable[[Size], Type]) -> Rule:
    def rule(args):
        t = args[0].type
        if not (_is_seq(t) or _is(t, MATRIX)):
            return _found(_SEQ_OR_MATRIX, t)
        return make(_numel(t))

    return rule


def _to_matrix(args):
    t = args[0].type
    if len(args) == 1:
        if _is(t, VECTOR, ROW_VECTOR, MATRIX):
            return matrix(*_rows_cols(t))
        if len(t.array_dims) == 2 and t.kind == SCALAR:
            return matrix(*t.array_dims)
        if len(t.array_dims) == 1 and t.kind == ROW_VECTOR:
            return matrix(t.array_dims[0], t.elem_dims[0])
        return _found("a vector, row_vector, matrix, 2-D array or array of row_vectors", t)
    if not (_is_seq(t) or _is(t, MATRIX)):
        return _found(_SEQ_OR_MATRIX, t)
    sizes = _sizes(args[1:])
    if isinstance(sizes, str):
        return sizes
    m, n = sizes
    return _mismatch(_numel(t), _arith("*", m, n), "number of elements") or matrix(m, n)


def _to_array_1d(args):
    t = args[0].type
    if not (t.kind == SCALAR and t.array_dims or _is(t, VECTOR, ROW_VECTOR, MATRIX)):
        return _found("a vector, row_vector, matrix or array of int/real", t)
    return array(scalar(t.base), _numel(t))


def _to_array_2d(args):
    t = args[0].type
    return array(REAL_T, *t.elem_dims) if _is(t, MATRIX) else _found("a matrix", t)


def _append(along_rows: bool) -> Rule:
    """append_row (along_rows) / append_col."""
    flat, stacked = (VECTOR, ROW_VECTOR) if along_rows else (ROW_VECTOR, VECTOR)

    def rule(args):
        a, b = args[0].type, args[1].type
        for t in (a, b):
            if not _is(t, SCALAR, VECTOR, ROW_VECTOR, MATRIX):
                return _found("a real, vector, row_vector or matrix", t)
        kinds = {a.kind, b.kind}
        if kinds <= {SCALAR, flat} and kinds != {SCALAR}:
            n = _arith("+", _length(a), _length(b))
            return vector(n) if along_rows else row_vector(n)
        if kinds <= {stacked, MATRIX}:
            (r1, c1), (r2, c2) = _rows_cols(a), _rows_cols(b)
            if along_rows:
                return _mismatch(c1, c2, "columns") or matrix(_arith("+", r1, r2), _merge(c1, c2))
            return _mismatch(r1, r2, "rows") or matrix(_merge(r1, r2), _arith("+", c1, c2))
        return f"cannot append {a} and {b}"

    return rule


def _slice(nsizes_from: int, nindex: int) -> Rule:
    """head(v, n), tail(v, n), segment(v, i, n): a piece of the outer dimension."""

    def rule(args):
        t = args[0].type
        if not (t.array_dims or _is(t, VECTOR, ROW_VECTOR)):
            return _found("a vector, row_vector or array", t)
        err = _ints(args[1 : 1 + nindex])
        if err:
            return err
        n = _size_arg(args[nsizes_from])
        if isinstance(n, str):
            return n
        outer = t.dims[0]
        if n.value is not None and outer.value is not None and n.value > outer.value:
            return f"cannot take {n.value} elements of {t} ({outer})"
        if t.array_dims:
            return Type(t.base, t.kind, (n,) + t.array_dims[1:], t.elem_dims)
        return Type(t.base, t.kind, (), (n,))

    return rule


def _matrix_piece(args):
    """col, row, block, sub_col, sub_row."""
    t = args[0].type
    if not _is(t, MATRIX):
        return _found("a matrix", t)
    return _ints(args[1:])


def _col(args):
    return _matrix_piece(args) or vector(args[0].type.elem_dims[0])


def _row(args):
    return _matrix_piece(args) or row_vector(args[0].type.elem_dims[1])


def _block(args):
    err = _matrix_piece(args)
    sizes = err or _sizes(args[3:])
    return sizes if isinstance(sizes, str) else matrix(*sizes)


def _sub(make: Callable[[Size], Type]) -> Rule:
    def rule(args):
        err = _matrix_piece(args)
        n = err or _size_arg(args[3])
        return n if isinstance(n, str) else make(n)

    return rule


def _sort_indices(args):
    t = args[0].type
    return _int_array(_dims1(t)) if _is_seq(t) else _found(_SEQ, t)


def _rank(args):
    t = args[0].type
    if not _is_seq(t):
        return _found(_SEQ, t)
    return _ints(args[1:]) or INT_T


def _log_mix(args):
    if len(args) == 3:
        return _scalars(REAL)(args)
    theta, lp = args[0].type, args[1].type
    for t in (theta, lp):
        if not _is_seq(t):
            return _found(_SEQ, t)
    return _mismatch(_dims1(theta), _dims1(lp)) or REAL_T


def _min_max(args):
    return _reduction(True)(args) if len(args) == 1 else _scalars(None)(args)


def _log_sum_exp(args):
    return _reduction(False)(args) if len(args) == 1 else _scalars(REAL)(args)


def _constant_or_unary(args):
    return REAL_T if not args else _broadcast(args, REAL)


def _matrix_unary(make: Callable[[Size, Size], Type]) -> Rule:
    def rule(args):
        t = args[0].type
        return make(*t.elem_dims) if _is(t, MATRIX) else _found("a matrix", t)

    return rule


def _quad_form(args):
    k = _square(args[0].type)
    if isinstance(k, str):
        return k
    b = args[1].type
    if not _is(b, VECTOR, MATRIX):
        return _found("a vector or matrix", b)
    err = _mismatch(k, b.elem_dims[0])
    if err:
        return err
    return REAL_T if b.kind == VECTOR else matrix(b.elem_dims[1], b.elem_dims[1])


def _quad_form_diag(args):
    k = _square(args[0].type)
    if isinstance(k, str):
        return k
    v = args[1].type
    if not _is(v, VECTOR, ROW_VECTOR):
        return _found("a vector or row_vector", v)
    return _mismatch(k, v.elem_dims[0]) or matrix(k, k)


def _diag_multiply(pre: bool) -> Rule:
    def rule(args):
        v, m = (args[0].type, args[1].type) if pre else (args[1].type, args[0].type)
        if not _is(v, VECTOR, ROW_VECTOR):
            return _found("a vector or row_vector", v)
        if not _is(m, MATRIX):
            return _found("a matrix", m)
        side = m.elem_dims[0] if pre else m.elem_dims[1]
        return _mismatch(v.elem_dims[0], side) or m

    return rule


def _add_diag(args):
    k = _square(args[0].type)
    if isinstance(k, str):
        return k
    d = args[1].type
    if d.is_scalar:
        return matrix(k, k)
    if not _is(d, VECTOR, ROW_VECTOR):
        return _found("a real, vector or row_vector", d)
    return _mismatch(k, d.elem_dims[0]) or matrix(k, k)


def _mdivide(left: bool) -> Rule:
    """mdivide_left_*(A, b) solves A x = b; mdivide_right_*(b, A) solves x A = b."""

    def rule(args):
        a, b = (args[0], args[1]) if left else (args[1], args[0])
        k = _square(a.type)
        if isinstance(k, str):
            return k
        bt = b.type
        if left:
            if not _is(bt, VECTOR, MATRIX):
                return _found("a vector or matrix", bt)
            return _mismatch(k, bt.elem_dims[0]) or bt
        if not _is(bt, ROW_VECTOR, MATRIX):
            return _found("a row_vector or matrix", bt)
        return _mismatch(k, bt.elem_dims[-1]) or bt

    return rule


def _diagonal(args):
    t = args[0].type
    if not _is(t, MATRIX):
        return _found("a matrix", t)
    m, n = t.elem_dims
    if m == n or (m.value is not None and m.value == n.value):
        return vector(_merge(m, n))
    if m.value is not None and n.value is not None:
        return vector(literal(min(m.value, n.value)))
    return vector(UNKNOWN)


def _choose(args):
    return _ints(args) or INT_T


def _int_test(args):
    t = args[0].type
    return INT_T if t.is_scalar else _found("int or real", t)


def _const(t: Type) -> Rule:
    return lambda args: t


def _gp_cov(n_scalars: int) -> Rule:
    """``gp_*_cov(x, alpha, rho, ...)``: matrix[N, N]; the cross form ``(x1, x2, ...)``: matrix[N1, N2].

    Points are ``array[N] real`` or ``array[N] vector[D]`` (one point per element).
    """

    def rule(args):
        points, scalars = args[: len(args) - n_scalars], args[len(args) - n_scalars:]
        for a in points:
            t = a.type
            if len(t.array_dims) != 1 or t.kind not in (SCALAR, VECTOR, ROW_VECTOR):
                return _found("an array of reals or of vectors", t)
        if len(points) == 2:
            a, b = points[0].type, points[1].type
            if (a.kind == SCALAR) != (b.kind == SCALAR):
                return f"both sets of points must be reals, or vectors: found {a} and {b}"
            if a.kind != SCALAR and sizes_conflict(a.elem_dims[0], b.elem_dims[0]):
                return f"points differ in dimension: {a} and {b}"
        bad = next((a.type for a in scalars if not a.type.is_scalar), None)
        if bad is not None:
            return _found("a real", bad)
        return matrix(points[0].type.array_dims[0], points[-1].type.array_dims[0])

    return rule


# ---------------------------------------------------------------- table

_F = "jnp.multiply({0}, 1.0)"  # the argument as real
_ANY = "R {0}(T x) for any int or real T (elementwise)"


def _fn(name, signatures, rule, source, nargs=(1, 1), variants=()):
    """A table entry; ``impl`` also serves the arity-only variants."""

    def result(args: list[ArgInfo]) -> Type | str:
        lo, hi = nargs
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            return f"{name} takes {want} argument{'s' * (hi != 1)}, got {len(args)}"
        return rule(args)

    variants = tuple(Variant(tuple(k), s, _compile(s, len(k))) for k, s in variants)
    impl = _compile(source, _arity(source))
    by_arity = {len(v.kinds): v.impl for v in variants if not any(v.kinds)}
    if by_arity:
        by_arity.setdefault(_arity(source), impl)
        impl = lambda *args: by_arity[len(args)](*args)  # noqa: E731
    sigs = (signatures,) if isinstance(signatures, str) else signatures
    return FunctionSpec(name, tuple(s.replace("{0}", name) for s in sigs), result, impl, source, nargs, variants)


def _arity(source: str) -> int:
    """The number of placeholders a template uses ({0} .. {n-1})."""
    n = 0
    while "{%d}" % n in source:
        n += 1
    return n


_UNARY = {
    "exp": "jnp.exp({0})",
    "exp2": "jnp.exp2({0})",
    "log": "jnp.log({0})",
    "log1p": "jnp.log1p({0})",
    "expm1": "jnp.expm1({0})",
    "sqrt": "jnp.sqrt({0})",
    "cbrt": "jnp.cbrt({0})",
    "square": f"jnp.square({_F})",
    "inv": f"jnp.reciprocal({_F})",
    "inv_sqrt": "jnp.reciprocal(jnp.sqrt({0}))",
    "inv_square": f"jnp.reciprocal(jnp.square({_F}))",
    "fabs": f"jnp.abs({_F})",
    "inv_logit": f"jsp.expit({_F})",
    "logit": f"jsp.logit({_F})",
    "log_inv_logit": f"jax.nn.log_sigmoid({_F})",
    "log1m_inv_logit": f"jax.nn.log_sigmoid(jnp.negative({_F}))",
    "log1m": "jnp.log1p(jnp.negative({0}))",
    "log1m_exp": f"jnp.log(jnp.negative(jnp.expm1({_F})))",
    "log1p_exp": f"jnp.logaddexp(0.0, {_F})",
    "inv_cloglog": f"jnp.negative(jnp.expm1(jnp.negative(jnp.exp({_F}))))",
    "Phi": f"jsp.ndtr({_F})",
    "Phi_approx": f"(lambda x: jsp.expit(0.07056 * x ** 3 + 1.5976 * x))({_F})",
    "inv_Phi": f"jsp.ndtri({_F})",
    "erf": f"jsp.erf({_F})",
    "erfc": f"jsp.erfc({_F})",
    "lgamma": f"jsp.gammaln({_F})",
    "tgamma": f"jsp.gamma({_F})",
    "digamma": f"jsp.digamma({_F})",
    "trigamma": f"jsp.polygamma(1, {_F})",
    "sin": "jnp.sin({0})",
    "cos": "jnp.cos({0})",
    "tan": "jnp.tan({0})",
    "asin": "jnp.arcsin({0})",
    "acos": "jnp.arccos({0})",
    "atan": "jnp.arctan({0})",
    "sinh": "jnp.sinh({0})",
    "cosh": "jnp.cosh({0})",
    "tanh": "jnp.tanh({0})",
    "asinh": "jnp.arcsinh({0})",
    "acosh": "jnp.arccosh({0})",
    "atanh": "jnp.arctanh({0})",
    "floor": f"jnp.floor({_F})",
    "ceil": f"jnp.ceil({_F})",
    "round": f"(lambda x: jnp.where(x < 0, jnp.ceil(x - 0.5), jnp.floor(x + 0.5)))({_F})",
    "trunc": f"jnp.trunc({_F})",
    "step": "jnp.where(jnp.less({0}, 0), 0.0, 1.0)",
}

_BINARY = {
    "pow": f"jnp.power({_F}, {{1}})",
    "fmin": f"jnp.fmin({_F}, {{1}})",
    "fmax": f"jnp.fmax({_F}, {{1}})",
    "fdim": f"jnp.maximum(jnp.subtract({_F}, {{1}}), 0.0)",
    "fmod": f"jnp.fmod({_F}, {{1}})",
    "atan2": f"jnp.arctan2({_F}, {{1}})",
    "hypot": f"jnp.hypot({_F}, {{1}})",
    "lbeta": f"jsp.betaln({_F}, {{1}})",
    "beta": f"jsp.beta({_F}, {{1}})",
    "lchoose": "(lambda n, k: jsp.gammaln(n + 1.0) - jsp.gammaln(k + 1.0) - jsp.gammaln(n - k + 1.0))({0}, {1})",
    "binomial_coefficient_log": "(lambda n, k: jsp.gammaln(n + 1.0) - jsp.gammaln(k + 1.0)"
    " - jsp.gammaln(n - k + 1.0))({0}, {1})",
    "log_diff_exp": "(lambda x, y: x + jnp.log(jnp.negative(jnp.expm1(y - x))))({0}, {1})",
    "log_inv_logit_diff": "(lambda x, y: x + jnp.log(jnp.negative(jnp.expm1(y - x)))"
    " - jnp.logaddexp(0.0, x) - jnp.logaddexp(0.0, y))({0}, {1})",
    "lmultiply": f"jsp.xlogy({_F}, {{1}})",
    "multiply_log": f"jsp.xlogy({_F}, {{1}})",
    "log_falling_factorial": "(lambda x, n: jsp.gammaln(x + 1.0) - jsp.gammaln(x - n + 1.0))({0}, {1})",
    "log_rising_factorial": "(lambda x, n: jsp.gammaln(x + n + 0.0) - jsp.gammaln(x + 0.0))({0}, {1})",
    "gamma_p": f"jsp.gammainc({_F}, {{1}})",
    "gamma_q": f"jsp.gammaincc({_F}, {{1}})",
}

#: Functions applied to containers element by element (a scalar argument broadcasts): element n of the
#: result depends on element n of each argument only.
ELEMENTWISE: frozenset[str] = frozenset({*_UNARY, *_BINARY, "abs", "fma", "inc_beta", "log2", "log10"})

_CONSTANTS = {
    "pi": "jnp.pi",
    "e": "jnp.e",
    "sqrt2": "jnp.sqrt(2.0)",
    "not_a_number": "jnp.nan",
    "positive_infinity": "jnp.inf",
    "negative_infinity": "jnp.negative(jnp.inf)",
    "machine_precision": "jnp.finfo(jnp.float64).eps",
}

_VEC, _ROW, _MAT, _VEC_MAT = "vector", "row_vector", "matrix", "vector|matrix"

# Covariance functions: a kernel of the squared distances d2 between points and the scalars (alpha, rho[, p]).
_D2 = ("(lambda a, b: jnp.sum(jnp.square(jnp.reshape(jnp.multiply(a, 1.0), (jnp.shape(a)[0], 1, -1))"
       " - jnp.reshape(jnp.multiply(b, 1.0), (1, jnp.shape(b)[0], -1))), axis=-1))")
_DIST = "jnp.where(d2 > 0, jnp.sqrt(jnp.where(d2 > 0, d2, 1.0)), 0.0)"  # no NaN gradient at d = 0
_GP_KERNELS = {
    "gp_exp_quad_cov": "(lambda d2, a, r: jnp.square(a) * jnp.exp(-0.5 * d2 / jnp.square(r)))",
    "gp_exponential_cov": f"(lambda d2, a, r: jnp.square(a) * jnp.exp(-{_DIST} / r))",
    "gp_matern32_cov": f"(lambda d2, a, r: (lambda u: jnp.square(a) * (1.0 + u) * jnp.exp(-u))"
                       f"(jnp.sqrt(3.0) * {_DIST} / r))",
    "gp_matern52_cov": f"(lambda d2, a, r: (lambda u: jnp.square(a) * (1.0 + u + jnp.square(u) / 3.0)"
                       f" * jnp.exp(-u))(jnp.sqrt(5.0) * {_DIST} / r))",
    "gp_periodic_cov": f"(lambda d2, a, r, p: jnp.square(a) * jnp.exp(-2.0 * jnp.square(jnp.sin(jnp.pi * {_DIST}"
                       " / p)) / jnp.square(r)))",
}


def _gp_fn(name: str, kernel: str):
    """A covariance function's table entry: the self form ``(x, alpha, rho[, p])`` and the cross form."""
    extra = ", real p" if name == "gp_periodic_cov" else ""
    n = 3 + bool(extra)
    self_form = f"(lambda x, *s: {kernel}({_D2}(x, x), *s))(" + ", ".join("{%d}" % i for i in range(n)) + ")"
    cross = f"(lambda x1, x2, *s: {kernel}({_D2}(x1, x2), *s))(" + ", ".join("{%d}" % i for i in range(n + 1)) + ")"
    signatures = (f"matrix[N, N] {name}(array[N] real x, real alpha, real rho{extra})",
                  f"matrix[N, N] {name}(array[N] vector x, real alpha, real rho{extra})",
                  f"matrix[N1, N2] {name}(array[N1] T x1, array[N2] T x2, real alpha, real rho{extra})")
    return _fn(name, signatures, _gp_cov(n - 1), self_form, (n, n + 1), [((None,) * (n + 1), cross)])

_SPECS = [
    *(_fn(n, "real {0}()", _const(REAL_T), s, (0, 0)) for n, s in _CONSTANTS.items()),
    *(_fn(n, _ANY, _elementwise(REAL), s) for n, s in _UNARY.items()),
    _fn("log2", ("real log2()", _ANY), _constant_or_unary, "jnp.log2({0})", (0, 1),
        [((), "jnp.log(2.0)")]),
    _fn("log10", ("real log10()", _ANY), _constant_or_unary, "jnp.log10({0})", (0, 1),
        [((), "jnp.log(10.0)")]),
    _fn("abs", "T abs(T x) for any int or real T (elementwise; int stays int)", _elementwise(None),
        "jnp.abs({0})"),
    *(_fn(n, "R {0}(T1 x, T2 y), elementwise; a scalar broadcasts", _elementwise(REAL), s, (2, 2))
      for n, s in _BINARY.items()),
    _fn("choose", "int choose(int n, int k)", _choose,
        "(lambda n, k: jnp.where((k >= 0) & (k <= n), jnp.round(jnp.exp(jsp.gammaln(n + 1.0)"
        " - jsp.gammaln(k + 1.0) - jsp.gammaln(n - k + 1.0))), 0).astype(jnp.result_type(n, k)))({0}, {1})",
        (2, 2)),
    _fn("fma", "R fma(T1 x, T2 y, T3 z) = x * y + z, elementwise", _elementwise(REAL),
        "(lambda x, y, z: 1.0 * x * y + z)({0}, {1}, {2})", (3, 3)),
    _fn("inc_beta", "R inc_beta(T1 a, T2 b, T3 x), regularized incomplete beta, elementwise",
        _elementwise(REAL), f"jsp.betainc({_F}, {{1}}, {{2}})", (3, 3)),
    _fn("int_step", ("int int_step(int x)", "int int_step(real x)"), _int_test,
        "jnp.where(jnp.greater({0}, 0), 1, 0)"),
    _fn("is_inf", "int is_inf(real x)", _int_test, "jnp.where(jnp.isinf({0}), 1, 0)"),
    _fn("is_nan", "int is_nan(real x)", _int_test, "jnp.where(jnp.isnan({0}), 1, 0)"),
    # ---- reductions
    _fn("min", ("int min(array[] int x)", "real min(R x) for a real container R",
                "int min(int x, int y)", "real min(real x, real y)"),
        _min_max, "jnp.min({0})", (1, 2), [((None, None), "jnp.minimum({0}, {1})")]),
    _fn("max", ("int max(array[] int x)", "real max(R x) for a real container R",
                "int max(int x, int y)", "real max(real x, real y)"),
        _min_max, "jnp.max({0})", (1, 2), [((None, None), "jnp.maximum({0}, {1})")]),
    _fn("sum", ("int sum(array[] int x)", "real sum(R x) for a real container R"), _reduction(True),
        "jnp.sum({0})"),
    _fn("prod", ("int prod(array[] int x)", "real prod(R x) for a real container R"), _reduction(True),
        "jnp.prod({0})"),
    _fn("mean", "real mean(R x) for a container R", _reduction(False), f"jnp.mean({_F})"),
    _fn("variance", "real variance(R x), sample variance (divides by N - 1)", _reduction(False),
        f"jnp.var({_F}, ddof=1)"),
    _fn("sd", "real sd(R x), sample standard deviation (divides by N - 1)", _reduction(False),
        f"jnp.std({_F}, ddof=1)"),
    _fn("log_sum_exp", ("real log_sum_exp(R x) for a container R", "real log_sum_exp(real x, real y)"),
        _log_sum_exp, f"jsp.logsumexp({_F})", (1, 2), [((None, None), "jnp.logaddexp({0}, {1})")]),
    _fn("norm1", f"real norm1(R x) for {_SEQ} R", _seq_to(REAL_T),
        f"jnp.sum(jnp.abs({_F}))"),
    _fn("norm2", f"real norm2(R x) for {_SEQ} R", _seq_to(REAL_T), f"jnp.sqrt(jnp.sum(jnp.square({_F})))"),
    _fn("log_mix", ("real log_mix(real theta, real lp1, real lp2)", "real log_mix(R theta, R lp) for vectors R"),
        _log_mix, "(lambda t, a, b: jnp.logaddexp(jnp.log(t) + a, jnp.log1p(jnp.negative(t)) + b))({0}, {1}, {2})",
        (2, 3), [((None, None), "(lambda t, lp: jsp.logsumexp(jnp.log(t) + lp))({0}, {1})")]),
    # ---- vectors
    _fn("softmax", "vector softmax(vector x)", _same_as(lambda t: _is(t, VECTOR), "a vector"),
        "jax.nn.softmax({0})"),
    _fn("log_softmax", "vector log_softmax(vector x)", _same_as(lambda t: _is(t, VECTOR), "a vector"),
        "jax.nn.log_softmax({0})"),
    _fn("cumulative_sum", f"T cumulative_sum(T x) for {_SEQ} T", _same_as(_is_seq, _SEQ), "jnp.cumsum({0})"),
    _fn("sort_asc", f"T sort_asc(T x) for {_SEQ} T", _same_as(_is_seq, _SEQ), "jnp.sort({0})"),
    _fn("sort_desc", f"T sort_desc(T x) for {_SEQ} T", _same_as(_is_seq, _SEQ), "jnp.flip(jnp.sort({0}))"),
    _fn("sort_indices_asc", f"array[] int sort_indices_asc(T x) for {_SEQ} T (1-based)", _sort_indices,
        "jnp.add(jnp.argsort({0}, stable=True), 1)"),
    _fn("sort_indices_desc", f"array[] int sort_indices_desc(T x) for {_SEQ} T (1-based)", _sort_indices,
        "jnp.add(jnp.argsort(jnp.negative({0}), stable=True), 1)"),
    _fn("rank", "int rank(T v, int s): how many elements of v are less than v[s]", _rank,
        "(lambda v, s: jnp.sum(v < v[s - 1]))({0}, {1})", (2, 2)),
    _fn("reverse", "T reverse(T x) for a vector, row_vector or array T",
        _same_as(lambda t: bool(t.array_dims) or _is(t, VECTOR, ROW_VECTOR), "a vector, row_vector or array"),
        "jnp.flip({0}, 0)"),
    _fn("dot_product", f"real dot_product(T1 x, T2 y) for {_SEQ}s of one size", _dot,
        f"jnp.dot({_F}, {{1}})", (2, 2)),
    _fn("dot_self", "real dot_self(T x) for a vector or row_vector T",
        _vec_to(REAL_T),
        "(lambda x: jnp.dot(x, x))({0})"),
    _fn("squared_distance", ("real squared_distance(T1 x, T2 y) for vectors/row_vectors of one size",
                             "real squared_distance(real x, real y)"), _distance,
        "(lambda x, y: jnp.sum(jnp.square(1.0 * x - y)))({0}, {1})", (2, 2)),
    _fn("distance", ("real distance(T1 x, T2 y) for vectors/row_vectors of one size", "real distance(real x, real y)"),
        _distance, "(lambda x, y: jnp.sqrt(jnp.sum(jnp.square(1.0 * x - y))))({0}, {1})", (2, 2)),
    _fn("columns_dot_product", ("row_vector columns_dot_product(T x, T y) for a vector, row_vector or matrix T"),
        _dot_by(1, True), "jnp.sum(jnp.multiply({0}, {1}), axis=0)", (2, 2),
        [((_VEC, _VEC), "jnp.sum(jnp.multiply({0}, {1}), keepdims=True)"), ((_ROW, _ROW), "jnp.multiply({0}, {1})")]),
    _fn("rows_dot_product", "vector rows_dot_product(T x, T y) for a vector, row_vector or matrix T",
        _dot_by(0, True), "jnp.sum(jnp.multiply({0}, {1}), axis=1)", (2, 2),
        [((_VEC, _VEC), "jnp.multiply({0}, {1})"), ((_ROW, _ROW), "jnp.sum(jnp.multiply({0}, {1}), keepdims=True)")]),
    _fn("columns_dot_self", "row_vector columns_dot_self(T x) for a vector, row_vector or matrix T",
        _dot_by(1, False), "jnp.sum(jnp.square({0}), axis=0)", (1, 1),
        [((_VEC,), "jnp.sum(jnp.square({0}), keepdims=True)"), ((_ROW,), "jnp.square({0})")]),
    _fn("rows_dot_self", "vector rows_dot_self(T x) for a vector, row_vector or matrix T",
        _dot_by(0, False), "jnp.sum(jnp.square({0}), axis=1)", (1, 1),
        [((_VEC,), "jnp.square({0})"), ((_ROW,), "jnp.sum(jnp.square({0}), keepdims=True)")]),
    # ---- sizes
    _fn("rows", "int rows(T x) for a vector, row_vector or matrix T", _rows_or_cols, "jnp.shape({0})[0]",
        variants=[((_ROW,), "1")]),
    _fn("cols", "int cols(T x) for a vector, row_vector or matrix T", _rows_or_cols, "jnp.shape({0})[1]",
        variants=[((_VEC,), "1"), ((_ROW,), "jnp.shape({0})[0]")]),
    _fn("num_elements", "int num_elements(T x): the total number of elements", _const(INT_T), "jnp.size({0})"),
    _fn("size", ("int size(T x): length of an array's outer dimension, a vector or row_vector",
                 "int size(matrix x): rows * cols", "int size(int|real x): 1"),
        _const(INT_T), "jnp.shape({0})[0]", variants=[((_MAT,), "jnp.size({0})"), (("scalar",), "1")]),
    # ---- constructors
    _fn("rep_vector", "vector[n] rep_vector(real x, int n)", _rep(vector, 1),
        "jnp.full(({1},), jnp.multiply({0}, 1.0))", (2, 2)),
    _fn("rep_row_vector", "row_vector[n] rep_row_vector(real x, int n)", _rep(row_vector, 1),
        "jnp.full(({1},), jnp.multiply({0}, 1.0))", (2, 2)),
    _fn("rep_matrix", ("matrix[m, n] rep_matrix(real x, int m, int n)", "matrix[N, n] rep_matrix(vector[N] v, int n)",
                       "matrix[m, N] rep_matrix(row_vector[N] v, int m)"),
        _rep_matrix, "jnp.full(({1}, {2}), jnp.multiply({0}, 1.0))", (2, 3),
        [((_VEC, None), "jnp.tile(jnp.expand_dims({0}, 1), (1, {1}))"), ((_ROW, None), "jnp.tile({0}, ({1}, 1))")]),
    _fn("rep_array", ("array[n] T rep_array(T x, int n)", "array[m, n] T rep_array(T x, int m, int n)",
                      "array[k, m, n] T rep_array(T x, int k, int m, int n)"),
        _rep_array, "(lambda x, n: jnp.broadcast_to(x, (n,) + jnp.shape(x)))({0}, {1})", (2, 4),
        [((None,) * 3, "(lambda x, m, n: jnp.broadcast_to(x, (m, n) + jnp.shape(x)))({0}, {1}, {2})"),
         ((None,) * 4, "(lambda x, k, m, n: jnp.broadcast_to(x, (k, m, n) + jnp.shape(x)))({0}, {1}, {2}, {3})")]),
    _fn("zeros_vector", "vector[n] zeros_vector(int n)", _rep(vector, 1), "jnp.zeros(({0},))"),
    _fn("ones_vector", "vector[n] ones_vector(int n)", _rep(vector, 1), "jnp.ones(({0},))"),
    _fn("zeros_row_vector", "row_vector[n] zeros_row_vector(int n)", _rep(row_vector, 1), "jnp.zeros(({0},))"),
    _fn("ones_row_vector", "row_vector[n] ones_row_vector(int n)", _rep(row_vector, 1), "jnp.ones(({0},))"),
    _fn("zeros_array", "array[n] real zeros_array(int n)", _rep(_real_array, 1), "jnp.zeros(({0},))"),
    _fn("ones_array", "array[n] real ones_array(int n)", _rep(_real_array, 1), "jnp.ones(({0},))"),
    _fn("zeros_int_array", "array[n] int zeros_int_array(int n)", _rep(_int_array, 1), "jnp.full(({0},), 0)"),
    _fn("ones_int_array", "array[n] int ones_int_array(int n)", _rep(_int_array, 1), "jnp.full(({0},), 1)"),
    _fn("uniform_simplex", "vector[n] uniform_simplex(int n)", _rep(vector, 1),
        "(lambda n: jnp.full((n,), 1.0 / n))({0})"),
    _fn("linspaced_vector", "vector[n] linspaced_vector(int n, real lo, real hi)", _linspaced(vector),
        "jnp.linspace({1}, {2}, {0})", (3, 3)),
    _fn("linspaced_row_vector", "row_vector[n] linspaced_row_vector(int n, real lo, real hi)",
        _linspaced(row_vector), "jnp.linspace({1}, {2}, {0})", (3, 3)),
    _fn("linspaced_array", "array[n] real linspaced_array(int n, real lo, real hi)", _linspaced(_real_array),
        "jnp.linspace({1}, {2}, {0})", (3, 3)),
    _fn("one_hot_vector", "vector[n] one_hot_vector(int n, int k): 1 at k (1-based)", _one_hot(vector),
        "(lambda n, k: jnp.where(jnp.arange(n) == k - 1, 1.0, 0.0))({0}, {1})", (2, 2)),
    _fn("one_hot_row_vector", "row_vector[n] one_hot_row_vector(int n, int k)", _one_hot(row_vector),
        "(lambda n, k: jnp.where(jnp.arange(n) == k - 1, 1.0, 0.0))({0}, {1})", (2, 2)),
    _fn("one_hot_array", "array[n] real one_hot_array(int n, int k)", _one_hot(_real_array),
        "(lambda n, k: jnp.where(jnp.arange(n) == k - 1, 1.0, 0.0))({0}, {1})", (2, 2)),
    _fn("one_hot_int_array", "array[n] int one_hot_int_array(int n, int k)", _one_hot(_int_array),
        "(lambda n, k: jnp.where(jnp.arange(n) == k - 1, 1, 0))({0}, {1})", (2, 2)),
    _fn("identity_matrix", "matrix[k, k] identity_matrix(int k)", _rep(lambda k: matrix(k, k), 1),
        "jnp.eye({0})"),
    _fn("diag_matrix", "matrix[n, n] diag_matrix(vector[n] v)",
        lambda args: matrix(args[0].type.elem_dims[0], args[0].type.elem_dims[0])
        if _is(args[0].type, VECTOR) else _found("a vector", args[0].type), "jnp.diag({0})"),
    _fn("diagonal", "vector diagonal(matrix m)", _diagonal, "jnp.diagonal({0})"),
    # ---- conversions
    _fn("to_vector", f"vector to_vector(T x) for a matrix or {_SEQ} T (column-major)", _flatten_to(vector),
        f"jnp.ravel({_F}, order='F')"),
    _fn("to_row_vector", f"row_vector to_row_vector(T x) for a matrix or {_SEQ} T (column-major)",
        _flatten_to(row_vector), f"jnp.ravel({_F}, order='F')"),
    _fn("to_matrix", ("matrix to_matrix(T x) for a vector, row_vector, matrix, array[,] real or array[] row_vector",
                      f"matrix[m, n] to_matrix(T x, int m, int n) for a matrix or {_SEQ} T (column-major fill)"),
        _to_matrix, f"{_F}", (1, 3),
        [((_VEC,), "jnp.reshape({0}, (-1, 1))"), ((_ROW,), "jnp.reshape({0}, (1, -1))"),
         ((None,) * 3, f"jnp.transpose(jnp.reshape(jnp.ravel({_F}, order='F'), ({{2}}, {{1}})))")]),
    _fn("to_array_1d", "array[] T to_array_1d(C x): arrays row-major, matrices column-major", _to_array_1d,
        "jnp.ravel({0})", variants=[((_MAT,), "jnp.ravel({0}, order='F')")]),
    _fn("to_array_2d", "array[m, n] real to_array_2d(matrix[m, n] x)", _to_array_2d, "jnp.asarray({0})"),
    _fn("append_row", ("vector append_row(vector|real x, vector|real y)",
                       "matrix append_row(matrix|row_vector x, matrix|row_vector y)"), _append(True),
        "jnp.concatenate([jnp.atleast_1d({0}), jnp.atleast_1d({1})])", (2, 2),
        [(("row_vector|matrix", "row_vector|matrix"),
          "jnp.concatenate([jnp.atleast_2d({0}), jnp.atleast_2d({1})], axis=0)")]),
    _fn("append_col", ("row_vector append_col(row_vector|real x, row_vector|real y)",
                       "matrix append_col(matrix|vector x, matrix|vector y)"), _append(False),
        "jnp.concatenate([jnp.atleast_1d({0}), jnp.atleast_1d({1})])", (2, 2),
        [((_VEC_MAT, _VEC_MAT), "(lambda a, b: jnp.concatenate([jnp.reshape(a, (jnp.shape(a)[0], -1)),"
                      " jnp.reshape(b, (jnp.shape(b)[0], -1))], axis=1))({0}, {1})")]),
    _fn("head", "T head(T v, int n): the first n elements of a vector, row_vector or array", _slice(1, 0),
        "(lambda v, n: v[:n])({0}, {1})", (2, 2)),
    _fn("tail", "T tail(T v, int n): the last n elements", _slice(1, 0),
        "(lambda v, n: v[jnp.shape(v)[0] - n:])({0}, {1})", (2, 2)),
    _fn("segment", "T segment(T v, int i, int n): n elements from position i (1-based)", _slice(2, 1),
        "(lambda v, i, n: jax.lax.dynamic_slice_in_dim(v, i - 1, n))({0}, {1}, {2})", (3, 3)),
    _fn("col", "vector col(matrix m, int j)", _col, "(lambda m, j: m[:, j - 1])({0}, {1})", (2, 2)),
    _fn("row", "row_vector row(matrix m, int i)", _row, "(lambda m, i: m[i - 1])({0}, {1})", (2, 2)),
    _fn("block", "matrix[nr, nc] block(matrix m, int i, int j, int nr, int nc)", _block,
        "(lambda m, i, j, nr, nc: jax.lax.dynamic_slice(m, (i - 1, j - 1), (nr, nc)))({0}, {1}, {2}, {3}, {4})",
        (5, 5)),
    _fn("sub_col", "vector[n] sub_col(matrix m, int i, int j, int n)", _sub(vector),
        "(lambda m, i, j, n: jax.lax.dynamic_slice(m, (i - 1, j - 1), (n, 1))[:, 0])({0}, {1}, {2}, {3})",
        (4, 4)),
    _fn("sub_row", "row_vector[n] sub_row(matrix m, int i, int j, int n)", _sub(row_vector),
        "(lambda m, i, j, n: jax.lax.dynamic_slice(m, (i - 1, j - 1), (1, n))[0])({0}, {1}, {2}, {3})",
        (4, 4)),
    # ---- linear algebra
    _fn("crossprod", "matrix[n, n] crossprod(matrix[m, n] x) = x' x", _matrix_unary(lambda m, n: matrix(n, n)),
        "(lambda x: x.T @ x)({0})"),
    _fn("tcrossprod", "matrix[m, m] tcrossprod(matrix[m, n] x) = x x'", _matrix_unary(lambda m, n: matrix(m, m)),
        "(lambda x: x @ x.T)({0})"),
    _fn("quad_form", ("real quad_form(matrix[K, K] A, vector[K] b) = b' A b",
                      "matrix[N, N] quad_form(matrix[K, K] A, matrix[K, N] B) = B' A B"), _quad_form,
        "(lambda a, b: b.T @ a @ b)({0}, {1})", (2, 2)),
    _fn("quad_form_sym", ("real quad_form_sym(matrix[K, K] A, vector[K] b)",
                          "matrix[N, N] quad_form_sym(matrix[K, K] A, matrix[K, N] B), symmetrized"), _quad_form,
        "(lambda q: 0.5 * (q + q.T))((lambda a, b: b.T @ a @ b)({0}, {1}))", (2, 2)),
    _fn("quad_form_diag", "matrix[K, K] quad_form_diag(matrix[K, K] m, vector[K] v) = diag(v) m diag(v)",
        _quad_form_diag, "(lambda m, v: jnp.expand_dims(v, 1) * m * v)({0}, {1})", (2, 2)),
    _fn("diag_pre_multiply", "matrix[M, N] diag_pre_multiply(vector[M] v, matrix[M, N] m) = diag(v) m",
        _diag_multiply(True), "(lambda v, m: jnp.expand_dims(v, 1) * m)({0}, {1})", (2, 2)),
    _fn("diag_post_multiply", "matrix[M, N] diag_post_multiply(matrix[M, N] m, vector[N] v) = m diag(v)",
        _diag_multiply(False), "jnp.multiply({0}, {1})", (2, 2)),
    _fn("multiply_lower_tri_self_transpose", "matrix[M, M] multiply_lower_tri_self_transpose(matrix[M, N] L) = L L'",
        _matrix_unary(lambda m, n: matrix(m, m)), "(lambda l: l @ l.T)(jnp.tril({0}))"),
    _fn("add_diag", ("matrix add_diag(matrix[K, K] m, real d)", "matrix add_diag(matrix[K, K] m, vector[K] d)"),
        _add_diag, "(lambda m, d: m + jnp.eye(jnp.shape(m)[0]) * d)({0}, {1})", (2, 2)),
    _fn("symmetrize_from_lower_tri", "matrix[K, K] symmetrize_from_lower_tri(matrix[K, K] m)",
        _square_to(lambda k: matrix(k, k)), "(lambda m: jnp.tril(m) + jnp.tril(m, -1).T)({0})"),
    _fn("inverse", "matrix[K, K] inverse(matrix[K, K] m)", _square_to(lambda k: matrix(k, k)),
        "jnp.linalg.inv({0})"),
    _fn("inverse_spd", "matrix[K, K] inverse_spd(matrix[K, K] m), m symmetric positive-definite",
        _square_to(lambda k: matrix(k, k)),
        "(lambda a: jsl.cho_solve((jnp.linalg.cholesky(a), True), jnp.eye(jnp.shape(a)[0])))({0})"),
    _fn("determinant", "real determinant(matrix[K, K] m)", _square_to(lambda k: REAL_T), "jnp.linalg.det({0})"),
    _fn("log_determinant", "real log_determinant(matrix[K, K] m) = log |det(m)|", _square_to(lambda k: REAL_T),
        "jnp.linalg.slogdet({0})[1]"),
    _fn("log_determinant_spd", "real log_determinant_spd(matrix[K, K] m), m symmetric positive-definite",
        _square_to(lambda k: REAL_T),
        "jnp.multiply(2.0, jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky({0})))))"),
    _fn("trace", "real trace(matrix m)", _matrix_unary(lambda m, n: REAL_T), "jnp.trace({0})"),
    _fn("cholesky_decompose", "matrix[K, K] cholesky_decompose(matrix[K, K] m): lower-triangular L, L L' = m",
        _square_to(lambda k: matrix(k, k)), "jnp.linalg.cholesky({0})"),
    _fn("eigenvalues_sym", "vector[K] eigenvalues_sym(matrix[K, K] m), ascending", _square_to(vector),
        "jnp.linalg.eigh({0})[0]"),
    _fn("eigenvectors_sym", "matrix[K, K] eigenvectors_sym(matrix[K, K] m), one per column",
        _square_to(lambda k: matrix(k, k)), "jnp.linalg.eigh({0})[1]"),
    _fn("singular_values", "vector singular_values(matrix m), descending", _diagonal,
        "jnp.linalg.svd({0}, compute_uv=False)"),
    _fn("matrix_exp", "matrix[K, K] matrix_exp(matrix[K, K] m)", _square_to(lambda k: matrix(k, k)),
        "jsl.expm({0})"),
    _fn("mdivide_left_tri_low", "T mdivide_left_tri_low(matrix[K, K] L, T b) = L \\ b, L lower-triangular",
        _mdivide(True), "jsl.solve_triangular({0}, {1}, lower=True)", (2, 2)),
    _fn("mdivide_right_tri_low", "T mdivide_right_tri_low(T b, matrix[K, K] L) = b / L, L lower-triangular",
        _mdivide(False), "(lambda b, l: jsl.solve_triangular(l, b.T, trans='T', lower=True).T)({0}, {1})", (2, 2)),
    _fn("mdivide_left_spd", "T mdivide_left_spd(matrix[K, K] A, T b) = A \\ b, A symmetric positive-definite",
        _mdivide(True), "jsl.cho_solve((jnp.linalg.cholesky({0}), True), {1})", (2, 2)),
    _fn("mdivide_right_spd", "T mdivide_right_spd(T b, matrix[K, K] A) = b / A, A symmetric positive-definite",
        _mdivide(False), "(lambda b, a: jsl.cho_solve((jnp.linalg.cholesky(a), True), b.T).T)({0}, {1})", (2, 2)),
    _fn("mdivide_left", "T mdivide_left(matrix[K, K] A, T b) = A \\ b", _mdivide(True),
        "jnp.linalg.solve({0}, {1})", (2, 2)),
    _fn("mdivide_right", "T mdivide_right(T b, matrix[K, K] A) = b / A", _mdivide(False),
        "(lambda b, a: jnp.linalg.solve(a.T, b.T).T)({0}, {1})", (2, 2)),
    # ---- Gaussian-process covariance functions
    *(_gp_fn(n, k) for n, k in _GP_KERNELS.items()),
]

FUNCTIONS: dict[str, FunctionSpec] = {s.name: s for s in _SPECS}
CONSTANTS: tuple[str, ...] = (*_CONSTANTS, "log2", "log10")


def lookup(name: str) -> FunctionSpec | None:
    """The function called ``name``, or None."""
    return FUNCTIONS.get(name)


def suggest(name: str) -> str | None:
    """The known function name closest to ``name``, for "did you mean"."""
    close = difflib.get_close_matches(name, FUNCTIONS, n=1, cutoff=0.6)
    return close[0] if close else None
