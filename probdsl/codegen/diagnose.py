"""Which ``.pdl`` statement makes the log density non-finite (for failed initialisation)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers

from probdsl.model_interface import DETERMINISTIC, OBSERVED, PARAM, TRANSFORMED_DATA
from probdsl.stdlib import ode
from probdsl.syntax import ast


def first_nonfinite(model, params: dict) -> str | None:
    """Run the model at ``params`` and name the first site whose log density is not finite."""
    try:
        try:
            trace = _trace(model, params)
        except ValueError:  # a NaN distribution argument (a failed ODE solve): found below, at its statement
            with numpyro.validation_enabled(False):
                trace = _trace(model, params)
    except Exception as error:  # noqa: BLE001 - reported to the user as the cause
        return f"the model could not be evaluated: {error}"
    spans = {s.name: s.span for s in model.sites if s.role in (PARAM, OBSERVED, DETERMINISTIC)}
    terms = {t.site: t for t in model.checked.resolved.terms}
    for name, site in trace.items():
        if site["type"] == "sample":
            value = site["value"]
            log_prob = site["fn"].log_prob(value)
        elif site["type"] == "deterministic":
            value, log_prob = site["value"], jnp.zeros(())
        else:
            continue
        bad_value = not np.all(np.isfinite(np.asarray(value, dtype=float)))
        bad_density = not np.all(np.isfinite(np.asarray(log_prob)))
        if bad_value or bad_density:
            clean = name.removesuffix("__u")
            term = terms.get(clean)
            span = term.span if term is not None else spans.get(clean)
            where = f"{span}: " if span is not None else ""
            what = "value" if bad_value else "log density"
            info = model.checked.resolved.names.get(clean)
            node = term.node if term is not None else info.node if info is not None else None
            return f"{where}non-finite {what} at `{clean}`" + (
                f" ({model.source.splitlines()[span.line - 1].strip()})" if span is not None else "") + (
                _failed_solves(node, model.checked.resolved.functions) if node is not None else "")
    return None


def _trace(model, params):
    return handlers.trace(handlers.substitute(handlers.seed(model.numpyro_model, 0), data=params)).get_trace(model.data)


def _failed_solves(node, functions) -> str:
    """A note naming the ODE solves a statement makes (directly or in the functions it calls)."""
    calls = _ode_calls(node, functions)
    if not calls:
        return ""
    where = ", ".join(f"`{c.name}(...)` at {c.span}" for c in calls)
    return f"; the ODE solve {where} gives NaN when it fails at these parameter values ({_WHY})"


_WHY = ("too many steps, or a step size that collapsed: check the initial values, pass a larger max_steps "
        "with `ode_tol`, or use `ode_bdf` if the system is stiff")


def _ode_calls(node, functions) -> list:
    """The ``ode(...)`` calls in ``node`` and in the user functions it calls."""
    calls, todo, seen = [], [node], set()
    while todo:
        for n in ast.walk(todo.pop()):
            if isinstance(n, ast.Call) and ode.lookup(n.name):
                calls.append(n)
            if isinstance(n, (ast.Call, ast.FunctionRef)) and n.name in functions and n.name not in seen:
                seen.add(n.name)
                todo.append(functions[n.name].node)
    return calls


def check_data_solves(checked, bag) -> None:
    """A located error for each ODE solve on data alone (transformed data) that failed."""
    for name, info in checked.resolved.names.items():
        calls = _ode_calls(info.node, checked.resolved.functions) if info.role == TRANSFORMED_DATA else []
        if calls and name in checked.consts and np.isnan(np.asarray(checked.consts[name], dtype=float)).any():
            bag.error("E224", f"`{calls[0].name}(...)` could not be solved with the data (`{name}` has NaN values)",
                      calls[0].span, hint=_WHY)
