"""Evaluates checked expressions with JAX.

The in-process model interprets the checked AST directly: no model text is
ever turned into Python source and executed.  Stan's semantics are applied
here: 1-based indexing, ``*`` as the matrix product, integer division, and
loops evaluated with ``jax.vmap`` over the loop index (never unrolled).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro

from probdsl.sema.check import Checked
from probdsl.sema.resolve import NameInfo, _dist_base, lag_of, recurrence_lags
from probdsl.sema.types import MATRIX, ROW_VECTOR, VECTOR
from probdsl.codegen import userfun
from probdsl.stdlib import distributions, functions, levels, ode
from probdsl.syntax import ast

KEY = "__key__"  # environment entry holding the PRNG key for `_rng` calls
WINDOW = "__window__"  # (WINDOW, x): the last elements of x inside the scan of its recurrence


def all_rows_key(e) -> str:
    """The environment entry holding ``e``'s value on all the rows, which a minibatch reads in its place
    (``RowPlan.all_rows``)."""
    return f"__all_rows_{id(e)}__"


class Evaluator:
    def __init__(self, checked: Checked, level: str = levels.FINE):
        self.checked = checked
        self.level = levels.check_level(level)  # which argument of `fine_coarse` is evaluated
        self._call_numbers = rng_numbers(checked.resolved.program)

    def type_of(self, e):
        return self.checked.expr_types[id(e)]

    # ---- definitions and loops ------------------------------------------------
    def define(self, info: NameInfo, env: dict):
        if info.in_parts:
            return self.define_in_parts(info, env)
        node: ast.Definition = info.node
        return self.over_loops(info.loops, env, lambda scope: self.expr(node.value, scope))

    def define_in_parts(self, info: NameInfo, env: dict):
        """A name defined piecewise: pieces fill their element ranges in order; recurrences scan."""
        t = self.checked.types[info.name]
        values = jnp.zeros(t.shape(), dtype=jnp.int32 if t.is_int else float)
        for piece in info.pieces_in_order:
            lower, upper = self.piece_range(piece, env)
            lags = recurrence_lags(piece)
            if lags:
                values = self.recurrence(info.name, piece, values, env, lags, lower, upper)
                continue
            # a plain piece, or one reading only elements defined before it (`x[1]`)
            value = self.over_loops(piece.loops, {**env, info.name: values},
                                    lambda scope: self.expr(piece.node.value, scope))
            values = values.at[lower - 1].set(value) if piece.first is not None else values.at[lower - 1:upper].set(value)
        return values

    def piece_range(self, piece, env) -> tuple[int, int]:
        if piece.first is not None:
            first = int(self.static(piece.first, env))
            return first, first
        loop = piece.loops[0]
        return int(self.static(loop.lower, env)), int(self.static(loop.upper, env))

    def recurrence(self, name: str, piece, values, env, lags, lower: int, upper: int):
        """``x[t] = f(x[t - 1], ...)`` over the outermost loop, as one ``lax.scan``.

        The scan carries the last ``depth`` elements (the longest look-back), so each step costs
        the same whatever the length; fixed elements (``x[1]``) are read from before the loop.
        """
        carried, inner = piece.loops[0], piece.loops[1:]
        before = {**env, name: values}
        depth = max(int(self.static(lag, env)) for lag in lags)

        def step(window, t):
            scope = dict(before)
            scope[(WINDOW, name)], scope[carried.var] = (window, depth, carried.var), t
            if KEY in env:
                scope[KEY] = jax.random.fold_in(env[KEY], t)
            value = self.over_loops(inner, scope, lambda s: self.expr(piece.node.value, s))
            value = jnp.asarray(value, dtype=window.dtype)
            return jnp.concatenate([window[1:], value[None]]), value

        _, computed = jax.lax.scan(step, values[lower - 1 - depth:lower - 1], jnp.arange(lower, upper + 1))
        return values.at[lower - 1:upper].set(computed)

    def over_loops(self, loops, env, body):
        """Evaluate ``body(env)`` for every loop index, vectorized with vmap."""
        if not loops:
            return body(env)
        loop, rest = loops[0], loops[1:]
        lower = int(self.static(loop.lower, env))
        upper = int(self.static(loop.upper, env))
        indices = jnp.arange(lower, upper + 1)

        def one(i):
            scope = dict(env)
            scope[loop.var] = i
            if KEY in env:
                scope[KEY] = jax.random.fold_in(env[KEY], i)
            return self.over_loops(rest, scope, body)

        return jax.vmap(one)(indices)

    def static(self, e, env):
        import numpy as np
        return np.asarray(self.expr(e, env))

    # ---- expressions ----------------------------------------------------------
    def expr(self, e, env):
        key = all_rows_key(e)
        if key in env:
            return env[key]
        method = getattr(self, "_" + type(e).__name__)
        return method(e, env)

    def _Number(self, e, env):
        return e.value

    def _Variable(self, e, env):
        return env[e.name]

    def _Paren(self, e, env):
        return self.expr(e.expr, env)

    def _Unary(self, e, env):
        x = self.expr(e.operand, env)
        if e.op == "-":
            return -x
        if e.op == "!":
            return jnp.asarray(x == 0, dtype=jnp.int32)
        return x

    def _Binary(self, e, env):
        a, b = self.expr(e.left, env), self.expr(e.right, env)
        op = e.op
        if op == "*":
            ta, tb = self.type_of(e.left), self.type_of(e.right)
            if ta.is_scalar or tb.is_scalar:
                return a * b
            if ta.kind == VECTOR and tb.kind == ROW_VECTOR:
                return jnp.outer(a, b)
            return a @ b
        if op == "%/%" or (op == "/" and self.type_of(e).is_int):  # Stan's integer division truncates
            return jnp.trunc(jnp.asarray(a) / b).astype(jnp.asarray(a).dtype)
        if op == "/":
            return a / b
        if op == "%":
            return jnp.fmod(a, b)
        if op == "\\":
            return jnp.linalg.solve(a, b)
        if op == ".*":
            return a * b
        if op == "./":
            return a / b
        if op in ("^", ".^"):
            return jnp.power(jnp.asarray(a, dtype=float), b)
        if op in ("+", "-"):
            return a + b if op == "+" else a - b
        comparisons = {
            "==": jnp.equal, "!=": jnp.not_equal, "<": jnp.less, "<=": jnp.less_equal,
            ">": jnp.greater, ">=": jnp.greater_equal,
        }
        if op in comparisons:
            return comparisons[op](a, b).astype(jnp.int32)
        if op == "&&":
            return jnp.logical_and(a != 0, b != 0).astype(jnp.int32)
        if op == "||":
            return jnp.logical_or(a != 0, b != 0).astype(jnp.int32)
        raise NotImplementedError(op)

    def _Conditional(self, e, env):
        c = self.expr(e.condition, env)
        return jnp.where(c != 0, self.expr(e.if_true, env), self.expr(e.if_false, env))

    def _Transpose(self, e, env):
        x = self.expr(e.operand, env)
        return x.T if self.type_of(e.operand).kind == MATRIX else x

    def _RowVectorLiteral(self, e, env):
        return jnp.stack([jnp.asarray(self.expr(i, env), dtype=float) for i in e.items])

    def _ArrayLiteral(self, e, env):
        items = [jnp.asarray(self.expr(i, env)) for i in e.items]
        if not self.type_of(e).is_int:
            items = [i.astype(float) for i in items]
        return jnp.stack(items)

    def _Index(self, e, env):
        items = list(e.indices)
        window = env.get((WINDOW, e.base.name)) if isinstance(e.base, ast.Variable) else None
        if window is not None and lag_of(items[0], window[2]) is not None:  # x[t - k] inside x's scan
            values, depth, _ = window
            x = values[depth - int(self.static(lag_of(items.pop(0), window[2]), env))]
        else:
            x = jnp.asarray(self.expr(e.base, env))
        axis = 0
        for item in items:
            if isinstance(item, ast.Slice):
                lower = 1 if item.lower is None else int(self.static(item.lower, env))
                upper = x.shape[axis] if item.upper is None else int(self.static(item.upper, env))
                x = jax.lax.slice_in_dim(x, lower - 1, upper, axis=axis)
                axis += 1
                continue
            index = jnp.asarray(self.expr(item, env)) - 1
            x = jnp.take(x, index, axis=axis, mode="fill", fill_value=jnp.nan) if jnp.issubdtype(
                x.dtype, jnp.floating) else jnp.take(x, index, axis=axis, mode="clip")
            axis += index.ndim
        return x

    def _Call(self, e, env):
        if e.name == levels.NAME:
            arg = levels.chosen(e, self.level)
            value = self.expr(arg, env)
            return value if self.type_of(e).base == self.type_of(arg).base else jnp.asarray(value, dtype=float)
        if e.name in self.checked.resolved.functions or ode.lookup(e.name):
            return userfun.evaluate_call(self, e, env)
        args = [self.expr(a, env) for a in e.args]
        spec = functions.lookup(e.name)
        if spec is not None:
            infos = [functions.ArgInfo(self.type_of(a), None, None) for a in e.args]
            return spec.resolve(infos)[0](*args)
        base = _dist_base(e.name)
        dspec = distributions.lookup(base)
        suffix = e.name[len(base):]
        if suffix == "_rng":
            d = self.make(dspec, list(e.args), args, self.type_of(e))
            key = jax.random.fold_in(env[KEY], self.call_number(e))
            return d.sample(key) + dspec.offset
        value, params = args[0], args[1:]
        d = self.make(dspec, list(e.args[1:]), params, self.type_of(e.args[0]), value)
        value = value - dspec.offset
        if suffix in ("_lpdf", "_lupdf", "_lpmf", "_lupmf"):
            return jnp.sum(d.log_prob(value))
        cdf = d.cdf(value)
        if suffix == "_cdf":
            return jnp.prod(cdf)
        if suffix == "_lcdf":
            return jnp.sum(jnp.log(cdf))
        return jnp.sum(jnp.log1p(-cdf))

    def call_number(self, e) -> int:
        return self._call_numbers[id(e)]

    # ---- distributions --------------------------------------------------------
    def make(self, spec, arg_nodes, args, variate_type, value=None):
        """The NumPyro distribution of a Stan call, with implicit arguments added.

        ``dim`` is the size of one draw; ``total`` (multinomials) is the sum of the value.
        """
        extra = []
        for implicit in spec.implicit:
            if implicit == "dim":
                extra.append(variate_type.dims[-1].value)
            elif implicit == "total":
                extra.append(jnp.sum(jnp.asarray(value), axis=-1))
        return spec.make(*args, *extra)


def rng_numbers(program: ast.Program) -> dict[int, int]:
    """A stable number per `_rng` call (its position in the program), folded into its PRNG key."""
    calls = [n for n in ast.walk(program) if isinstance(n, ast.Call) and n.name.endswith("_rng")]
    return {id(c): k for k, c in enumerate(calls, 1)}


def prng_env(env: dict) -> dict:
    """A copy of ``env`` with a PRNG key for `_rng` calls taken from NumPyro's handler."""
    out = dict(env)
    out[KEY] = numpyro.prng_key()
    return out
