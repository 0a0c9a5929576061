"""The pipeline's driver and the compiled-model objects.

``CompiledModel`` is a checked model without data; ``bind(data)`` checks the
data against it (sizes, types, constraints, supports) and returns a
``BoundModel``: the object every backend uses (see ``model_interface.py``).

    text --parse--> AST --expand lm(...)--> AST --resolve--> names, graph, roles --check--> sized types
         --bind data--> re-check with sizes --build--> NumPyro model --backend--> InferenceData
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpyro.primitives import Messenger

from probdsl.codegen import impute
from probdsl.codegen.diagnose import check_data_solves
from probdsl.codegen.numpyro_model import build as build_model
from probdsl.data.bind import BoundData, DataDecl, bind
from probdsl.data import missing
from probdsl.data.limits import validate_limits
from probdsl.data.loader import load_data
from probdsl.errors import DataError, DiagnosticBag, ModelError
from probdsl.model_interface import (
    DATA, DETERMINISTIC, OBSERVED, PARAM, TRANSFORMED_DATA, SiteInfo,
)
from probdsl.sema.check import Checked, check, declared_type
from probdsl.sema.graph import depth_first
from probdsl.sema.resolve import Resolved, resolve
from probdsl.sema.rows import RowPlan, plan_rows
from probdsl.sema.types import INT, SCALAR, Size, Type
from probdsl.stdlib import distributions, levels as model_levels, ode
from probdsl.syntax import ast, printer
from probdsl.syntax.formula import expand as expand_formulas
from probdsl.syntax.parser import parse


def _symbolic_size(e: ast.Expr) -> Size:
    if isinstance(e, ast.Number):
        return Size(None, int(e.value))
    return Size(printer.expr(e))


@dataclass
class CompiledModel:
    """A parsed and checked model, not yet bound to data."""

    source: str
    file: str
    program: ast.Program
    resolved: Resolved
    checked: Checked

    @property
    def name(self) -> str:
        return Path(self.file).stem if self.file != "<string>" else "model"

    # -- data -----------------------------------------------------------------
    def data_decls(self) -> list[DataDecl]:
        decls = []
        for info in self.resolved.names.values():
            if info.kind != "data":
                continue
            d: ast.Declaration = info.node
            if d.type.kind == "factor":
                rows = _symbolic_size(d.type.array_sizes[0]) if d.type.array_sizes else Size(f"{d.name}_rows")
                t = Type(INT, SCALAR, (rows,))
            else:
                t = declared_type(d.type, _symbolic_size)
            structure = d.type.kind if d.type.kind not in ("int", "real", "vector", "row_vector", "matrix",
                                                           "factor") else None
            decls.append(DataDecl(d.name, t, d.span, ast.literal_value(d.type.bound("lower")),
                                  ast.literal_value(d.type.bound("upper")), structure, d.type.kind == "factor"))
        return decls

    def bind(self, data=None, *, sizes: dict[str, int] | None = None,
             levels: dict[str, list[str]] | None = None, predicting: bool = False) -> "BoundModel":
        """Check ``data`` (paths, a dict, a DataFrame, or a list of those) and bind it.

        ``predicting=True``: data observed by a `~`, and simulated observations, may be left out (new rows
        to predict).
        """
        raw = load_data(data)
        observed = frozenset(_observed_name(t.lhs) for t in self.resolved.terms if t.kind == "observed")
        observed -= {None}
        observed |= frozenset(self.simulated_observations)
        try:
            bound = bind(self.data_decls(), raw, sizes, levels, observed if predicting else frozenset(),
                         missing.imputable(self.resolved))
        except DataError as error:  # errors at a declaration show the model's line
            raise DataError(error.diagnostics, {**error.sources, self.file: self.source}) from None
        bag = DiagnosticBag()
        checked = check(self.resolved, bag, dict(bound.values), bound.size_origin, _evaluate_transformed_data,
                        bound.sizes)
        _note_data_sizes(bag, bound)
        check_data_solves(checked, bag)
        bag.raise_if_any(ModelError, {self.file: self.source})
        missing.check_imputable(checked, bound.missing, _term_evaluator(checked), bag, bound.sources)
        bag.raise_if_any(DataError, {self.file: self.source})
        model = BoundModel(self, checked, bound, raw_sources=raw.texts)
        model.validate_observed()
        return model

    # -- simulators -----------------------------------------------------------
    @functools.cached_property
    def simulated_observations(self) -> tuple[str, ...]:
        """The data defined from parameters and random draws (which have no likelihood), in model order."""
        names = self.resolved.names
        return tuple(n for n in self.resolved.order if names[n].simulation is not None)

    def refuse_simulated(self, method: str | None = None) -> None:
        """``ModelError`` E409 when the model simulates an observation, so that ``method`` (a method that needs
        a likelihood; None: the log density itself) cannot be used."""
        if not self.simulated_observations:
            return
        name = self.simulated_observations[0]
        file = Path(self.file if self.file != "<string>" else "MODEL.pdl")
        needs = f"`--method {method}` needs one" if method else "its log density cannot be computed"
        bag = DiagnosticBag()
        bag.error("E409", f"`{name}` is simulated (defined from parameters and random draws), so the model has no "
                  f"likelihood for it; {needs}", self.resolved.names[name].simulation.span,
                  hint=f"train a flow on the model's simulations: `probdsl train {file}`, then "
                  f"`probdsl fit {file} DATA --method flow --flow {file.with_suffix('.flow')}`")
        bag.raise_if_any(ModelError, {self.file: self.source})

    # -- outputs --------------------------------------------------------------
    def python_source(self) -> str:
        from probdsl.codegen.emit_python import emit
        return emit(self.checked, self.source)

    def fit(self, data=None, method: str = "nuts", **options):
        """Bind ``data`` and run inference; returns an ArviZ ``InferenceData``."""
        from probdsl.api import fit
        return fit(self, data, method=method, **options)

    @property
    def numpyro_model(self):
        """The NumPyro model ``model(data, predict=False)``; ``data`` comes from ``bind(...).data``."""
        return build_model(self.checked)

    def sample_prior(self, data=None, draws: int = 1000, seed: int = 0):
        from probdsl.api import fit
        return fit(self, data, prior=True, draws=draws, seed=seed)


def _observed_name(lhs: ast.Expr) -> str | None:
    """The data name a `~` observes: ``y`` in ``y ~ ...`` and in ``y[n] ~ ...`` (a loop), else None."""
    while isinstance(lhs, ast.Index):
        lhs = lhs.base
    return lhs.name if isinstance(lhs, ast.Variable) else None


def _on_data(checked: Checked, consts: dict[str, Any], evaluate) -> np.ndarray:
    """``evaluate(evaluator, env)`` over the data (and transformed data) values, as a NumPy array.

    Invalid distribution arguments (``normal_lpdf(y | 0, 0)``) give NaN, as they do in the model
    under ``jit``, rather than NumPyro's ValueError when evaluated eagerly."""
    import jax.numpy as jnp
    import numpyro

    from probdsl.codegen.evaluate import Evaluator

    env = {k: jnp.asarray(v) for k, v in consts.items()}
    with numpyro.validation_enabled(False):
        return np.asarray(evaluate(Evaluator(checked), env))


def _note_data_sizes(bag: DiagnosticBag, bound: BoundData) -> None:
    """Model errors found with the data's sizes (and integers) say where those come from, unless a note does."""
    sizes = [f"{name} = {bound.sizes[name]} ({origin})" for name, origin in bound.size_origin.items()]
    sizes += [f"{name} = {int(v)} (given as {name} in {bound.sources[name]})" for name, v in bound.values.items()
              if v.ndim == 0 and v.dtype.kind == "i" and name not in bound.size_origin and name in bound.sources]
    note = "with the data's sizes: " + "; ".join(sizes[:8]) + ("; ..." if len(sizes) > 8 else "")
    bag.items = [d if any(s in n for n in d.notes for s in sizes) else replace(d, notes=(*d.notes, note))
                 for d in bag.items]


def _term_evaluator(checked: Checked):
    """``evaluate(term, e)``: ``e`` evaluated on the data over the loops of ``term``."""
    return lambda term, e: _on_data(checked, checked.consts, lambda ev, env: ev.over_loops(
        term.loops, env, lambda scope: ev.expr(e, scope)))


def _evaluate_transformed_data(checked: Checked, info, consts: dict[str, Any]):
    return _on_data(checked, consts, lambda ev, env: ev.define(info, env))


def compile_source(source: str, file: str = "<string>") -> CompiledModel:
    """Parse and check model text; raise a ``ProbdslError`` listing every problem."""
    bag = DiagnosticBag()
    program = expand_formulas(parse(source, file), bag)
    bag.raise_if_any(ModelError, {file: source})
    resolved = resolve(program, bag)
    checked = check(resolved, bag)
    bag.raise_if_any(ModelError, {file: source})
    return CompiledModel(source, file, program, resolved, checked)


def _dim_name(size: Size, var: str, axis: int) -> str:
    if size.name:
        return re.sub(r"[^A-Za-z0-9_]", "_", size.name).strip("_") or f"{var}_dim_{axis}"
    return f"{var}_dim_{axis}"


@dataclass
class BoundModel:
    """A compiled model bound to data: what backends and results use."""

    compiled: CompiledModel
    checked: Checked
    bound: BoundData
    raw_sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.name = self.compiled.name
        self.source = self.compiled.source
        self.level = model_levels.FINE  # which argument of each `fine_coarse` the model evaluates
        self.replacements: dict[str, Callable[[dict], Any]] = {}  # see with_replacements
        self.numpyro_model = build_model(self.checked)
        self.data = self._model_data()
        self.sites, self.coords = self._sites()

    def _model_data(self) -> dict[str, Any]:
        data = {k: np.asarray(v) for k, v in self.checked.consts.items()}
        for name, value in data.items():
            if value.ndim == 0:
                data[name] = value.item()
        for name in self.bound.levels:
            data[name + "__levels"] = self.bound.sizes[name]
        if self.bound.missing:  # computed in the model instead, from the imputed values
            resolved = self.checked.resolved
            for name in impute.dependents(resolved, frozenset(self.bound.missing)):
                if resolved.names[name].role == TRANSFORMED_DATA:
                    data.pop(name, None)
            data.update(missing.model_data(self.bound.missing))
        return data

    @property
    def simulated_observations(self) -> tuple[str, ...]:
        """The data defined from parameters and random draws (no likelihood), in model order."""
        return self.compiled.simulated_observations

    def refuse_simulated(self, method: str | None = None) -> None:
        """``ModelError`` E409 if the model simulates an observation (see ``CompiledModel.refuse_simulated``)."""
        self.compiled.refuse_simulated(method)

    @property
    def solves_odes(self) -> bool:
        """Whether the model calls an ODE solver (its chains then run vectorized, not under ``pmap``)."""
        return any(isinstance(n, ast.Call) and ode.lookup(n.name) for n in ast.walk(self.checked.resolved.program))

    # -- levels and replacements (two-level MCMC) ----------------------------------
    @property
    def has_coarse_level(self) -> bool:
        """Whether the program calls ``fine_coarse`` (in a definition, a statement or a function)."""
        return model_levels.calls_in(self.checked.resolved.program)

    def at_level(self, level: str) -> "BoundModel":
        """This model (same data, sites and coords) with ``numpyro_model`` evaluating ``level``'s argument
        of each ``fine_coarse(fine, coarse)``; ``"fine"`` is the model itself."""
        if model_levels.check_level(level) == self.level:
            return self
        other = copy.copy(self)
        other.level, other.numpyro_model = level, build_model(self.checked, level, self.replacements)
        return other

    def with_replacements(self, replace: dict[str, Callable[[dict], Any]]) -> "BoundModel":
        """This model with each deterministic definition ``name`` in ``replace`` computed as
        ``replace[name](env)`` (``env``: the values computed so far, parameters and data, by name) instead of
        from its expression, which is not evaluated. Other names: ValueError."""
        other = copy.copy(self)
        other.replacements, other.numpyro_model = dict(replace), build_model(self.checked, self.level, replace)
        return other

    def ode_definitions(self) -> list[str]:
        """The derived quantities feeding the density whose definition calls an ODE solver, in model order
        (what a neural coarse level emulates by default)."""
        names = self.checked.resolved.names
        return [n for n in self.checked.resolved.order if names[n].role == DETERMINISTIC and any(
            isinstance(node, ast.Call) and ode.lookup(node.name) for node in ast.walk(names[n].node))]

    def param_inputs(self, name: str) -> list[str]:
        """The parameters the definition ``name`` depends on, directly or through other definitions, in model
        order."""
        names = self.checked.resolved.names
        if name not in names or names[name].kind != "derived":
            raise ValueError(f"`{name}` is not a definition of the model")
        through = {n: info.deps & names.keys() if info.kind == "derived" else set() for n, info in names.items()}
        reached = set(depth_first([name], through)[0])
        return [n for n in self.checked.resolved.order if n in reached and names[n].role == PARAM]

    # -- metadata -------------------------------------------------------------
    def _sites(self) -> tuple[list[SiteInfo], dict[str, list]]:
        sites: list[SiteInfo] = []
        coords: dict[str, list] = {}
        priors = self.checked.resolved.priors()
        names = self.checked.resolved.names

        def dims_for(var: str, t: Type) -> tuple[str, ...]:
            dims: list[str] = []
            for axis, size in enumerate(t.dims):
                dim = _dim_name(size, var, axis)
                while dim in dims:
                    dim += "_b"
                dims.append(dim)
                if dim not in coords:
                    if size.name in self.bound.levels:
                        coords[dim] = list(self.bound.levels[size.name])
                    else:
                        coords[dim] = list(range(1, (size.value or 0) + 1))
            return tuple(dims)

        for name in self.checked.resolved.order:
            info = names[name]
            t = self.checked.types.get(name)
            if t is None:
                continue
            prior = priors.get(name)
            decl_constraint = printer.type_spec(info.node.type) if info.kind in ("data", "param") else ""
            simulated = info.simulation is not None
            sites.append(SiteInfo(
                name, OBSERVED if simulated else info.role, tuple(d.value for d in t.dims), dims_for(name, t),
                info.simulation.span if simulated else info.span, decl_constraint or "real",
                prior.distribution.name if prior is not None else None,
                t.is_int, prior is not None and prior.distribution.name == "flat", simulated=simulated))
        for term in self.checked.resolved.terms:
            if term.kind != "observed":
                continue
            t = self.checked.expr_types[id(term.lhs)]
            spec = distributions.lookup(term.distribution.name)
            if term.loops:
                shape = self._observed[term.site].shape
                t = Type(t.base, SCALAR, tuple(Size(f"{term.site}_dim_{i}", n) for i, n in enumerate(shape)))
            sites.append(SiteInfo(term.site, OBSERVED, tuple(d.value for d in t.dims), dims_for(term.site, t),
                                  term.span, "", term.distribution.name, spec.variate == "int"))
        return missing.with_missing_sites(sites, coords, self.checked.resolved, self.bound.missing), coords

    @functools.cached_property
    def _observed(self) -> dict[str, np.ndarray]:
        """The value of every observed site (its left of `~`), computed once from the data."""
        evaluate = _term_evaluator(self.checked)
        values = {t.site: evaluate(t, t.lhs) for t in self.checked.resolved.terms if t.kind == "observed"}
        return missing.observed_entries(values, self.checked.resolved, self.bound.missing)

    def sample_prior_or_init(self, key) -> dict:
        """One set of parameter values: a prior draw, or the middle of the support for `flat()` priors."""
        import numpyro
        from numpyro.infer.util import initialize_model
        try:
            info = initialize_model(key, self.numpyro_model, model_args=(self.data,))
        except ValueError:  # NaN distribution arguments at the first draw (a failed ODE solve): draw again
            with numpyro.validation_enabled(False):
                info = initialize_model(key, self.numpyro_model, model_args=(self.data,))
        return self.constrain(info.param_info.z)

    def observed_data(self) -> dict[str, np.ndarray]:
        simulated = {n: self.bound.values[n] for n in self.simulated_observations}
        return {k: v for k, v in {**self._observed, **simulated}.items() if k not in self.bound.placeholders}

    def constant_data(self) -> dict[str, np.ndarray]:
        observed = {t.site for t in self.checked.resolved.terms if t.kind == "observed"}
        observed |= set(self.simulated_observations)
        # sizes are dims of the results (coords), not data variables
        return {k: np.asarray(v) for k, v in self.bound.values.items() if k not in observed and k not in self.coords}

    def data_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.bound.values):
            value = np.ascontiguousarray(self.bound.values[name])
            digest.update(name.encode())
            digest.update(str(value.dtype).encode() + str(value.shape).encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def result_attrs(self) -> dict:
        """Extra root attributes of a fit, needed to rebuild the model for `predict`."""
        import json
        return {"factor_levels": json.dumps(self.bound.levels), "model_file": self.compiled.file}

    def python_source(self) -> str:
        """The standalone NumPyro program for data like this one (imputing the variables it has missing)."""
        from probdsl.codegen.emit_python import emit
        return emit(self.checked, self.source, missing=frozenset(self.bound.missing))

    def site(self, name: str) -> SiteInfo:
        return next(s for s in self.sites if s.name == name)

    # -- checks ---------------------------------------------------------------
    def validate_observed(self) -> None:
        """Observed values outside their distribution's support are data errors."""
        bag = DiagnosticBag()
        for term in self.checked.resolved.terms:
            if term.kind != "observed":
                continue
            if term.site in self.bound.placeholders:
                continue
            spec = distributions.lookup(term.distribution.name)
            support = spec.support
            value = self._observed[term.site]
            bad = np.zeros(value.shape, dtype=bool)
            if support.domain == "int":
                bad |= value != np.round(value)
            if support.lower is not None:
                bad |= value < support.lower
            if support.upper is not None:
                bad |= value > support.upper
            if support.upper_arg is not None and not term.loops:
                upper = self._data_level(term.distribution.args[support.upper_arg])
                if upper is not None:
                    bad |= value > upper
            if bad.any():
                where = np.argwhere(bad)[0]
                index = ", ".join(str(i + 1) for i in where)
                shown = value[tuple(where)]
                name = printer.expr(term.lhs)
                origin = self.bound.sources.get(term.site)
                bag.error("E311", f"`{name}[{index}]` = {shown:g} is outside the support of `{spec.name}`",
                          term.distribution.span,
                          label=f"{int(bad.sum())} value{'s' if bad.sum() > 1 else ''} outside the support",
                          notes=(f"`{term.site}` comes from {origin}",) if origin else (),
                          hint=_support_text(spec))
        validate_limits(self.checked, _term_evaluator(self.checked), self.bound.sources, bag)
        bag.raise_if_any(DataError, {self.compiled.file: self.compiled.source})

    def _data_level(self, e):
        names = {n.name for n in ast.walk(e) if isinstance(n, ast.Variable)}
        if any(self.checked.resolved.names[n].role not in (DATA, TRANSFORMED_DATA) for n in names):
            return None
        return _on_data(self.checked, self.checked.consts, lambda ev, env: ev.expr(e, env))

    # -- the compiled-model interface used by backends ----------------------------
    @functools.cached_property
    def row_plan(self) -> RowPlan:
        """Which data a minibatch subsets and which sites it rescales (``probdsl/sema/rows.py``).

        Raises ``ModelError`` listing every reason when subsampling rows would be wrong.
        """
        bag = DiagnosticBag()
        plan = plan_rows(self.checked, bag, frozenset(self.bound.missing))
        bag.raise_if_any(ModelError, {self.compiled.file: self.compiled.source})
        return plan

    def observation_rows(self) -> int:
        """Size of the observation dimension (``row_plan.rows``)."""
        return self.row_plan.rows

    def constrain(self, unconstrained: dict) -> dict:
        """Map unconstrained parameter values to the model's (constrained) values."""
        from numpyro.infer.util import constrain_fn
        return constrain_fn(self.numpyro_model, (self.data,), {}, unconstrained)

    def unconstrain(self, params: dict) -> dict:
        from numpyro.infer.util import unconstrain_fn
        return unconstrain_fn(self.numpyro_model, (self.data,), {}, params)

    def log_density(self, unconstrained: dict, data=None):
        """Log posterior density (up to a constant) at unconstrained values, Jacobians included.

        Where the model cannot be evaluated (a NaN from a failed ODE solve, say) the density is -inf:
        the point is rejected, as Stan rejects it, and as NUTS treats a NaN energy.  ``data`` defaults
        to ``self.data``; under ``jit`` pass its arrays as an argument (they are not baked in).
        A model with simulated observations has no likelihood for them: ``ModelError`` E409.
        """
        self.refuse_simulated()
        return _log_density(self.numpyro_model, self.data if data is None else data, unconstrained)

    def log_density_and_grad(self, unconstrained: dict):
        import jax
        return jax.value_and_grad(self.log_density)(unconstrained)

    def minibatch_data(self, rows, data=None) -> dict:
        """The model's ``data`` (default ``self.data``; JAX arrays under ``jit``) restricted to ``rows`` (0-based)
        of the observation dimension: every ``row_plan.row_data`` array taken at ``rows``, the size
        variable set to ``len(rows)``, and the reductions of data alone (``row_plan.all_rows``) given
        their values on all the rows."""
        import jax.numpy as jnp

        plan = self.row_plan
        batch = dict(self.data if data is None else data)
        for name in plan.row_data:
            batch[name] = jnp.take(batch[name], rows, axis=0)
        batch[plan.size_variable] = len(rows)
        batch.update(self._all_rows_values)
        return batch

    @functools.cached_property
    def _all_rows_values(self) -> dict[str, np.ndarray]:
        from probdsl.codegen.evaluate import all_rows_key

        return {all_rows_key(e): _on_data(self.checked, self.checked.consts, lambda ev, env, e=e: ev.expr(e, env))
                for e in self.row_plan.all_rows}

    def minibatch_log_density(self, unconstrained: dict, rows, data=None):
        """Unbiased estimate of ``log_density`` from ``rows`` (0-based) of the observation dimension.

        The model runs on ``minibatch_data(rows, data)`` only, so its cost is that of the batch; the
        sites summing over rows (``row_plan.scaled_sites``) are scaled by ``rows / len(rows)``, priors and
        Jacobians are not.  ``data`` defaults to ``self.data``; under ``jit`` pass its arrays as an
        argument (its Python ints stay ints).  Raises ``ModelError`` for models ``row_plan`` refuses.
        """
        self.refuse_simulated()
        plan = self.row_plan
        model = _ScaleSites(self.numpyro_model, frozenset(plan.scaled_sites), plan.rows / len(rows))
        return _log_density(model, self.minibatch_data(rows, data), unconstrained)

    def sample_prior(self, key, num_draws: int) -> dict:
        """Draws of every parameter, derived quantity and observed site (simulated ones included) from the prior
        predictive."""
        from numpyro.infer import Predictive
        flat = [s.name for s in self.sites if s.flat_prior]
        if flat:
            from probdsl.errors import ProbdslError
            raise ProbdslError(f"cannot simulate from improper `flat()` priors: {', '.join(flat)}")
        draws = Predictive(self.numpyro_model, num_samples=num_draws)(key, self.data, predict=True, from_prior=True)
        return {k: v for k, v in draws.items() if not k.endswith("__u")}

    def simulate(self, key, params: dict) -> dict:
        """Observed sites (and generated quantities) simulated at each draw of ``params`` (leading axis = draw)."""
        from numpyro.infer import Predictive
        out = Predictive(self.numpyro_model, posterior_samples=params)(key, self.data, predict=True)
        return {k: v for k, v in out.items() if k not in params and not k.endswith("__u")}

    def forward(self, params: dict) -> dict:
        """The mean of each likelihood at one set of (constrained) parameter values."""
        from numpyro import handlers
        trace = handlers.trace(handlers.substitute(handlers.seed(self.numpyro_model, 0), data=params)).get_trace(
            self.data)
        return {name: site["fn"].mean for name, site in trace.items()
                if site["type"] == "sample" and site.get("is_observed")}

    def log_likelihood(self, samples: dict) -> dict:
        """Pointwise log likelihood of every observed site for each draw in ``samples`` (E409 for simulated ones)."""
        from numpyro.infer import log_likelihood
        self.refuse_simulated()
        observed = {s.name for s in self.sites if s.role == OBSERVED}
        out = log_likelihood(self.numpyro_model, samples, self.data)
        return {k: v for k, v in out.items() if k in observed}

    def explain_nonfinite(self, params: dict) -> str | None:
        """The first statement whose log density is not finite at ``params`` (for init failures)."""
        from probdsl.codegen.diagnose import first_nonfinite
        return first_nonfinite(self, params)


class _ScaleSites(Messenger):
    """Multiplies the log density of the named sites by ``factor``."""

    def __init__(self, fn, sites: frozenset[str], factor: float):
        super().__init__(fn)
        self.sites, self.factor = sites, factor

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["name"] in self.sites:
            msg["scale"] = self.factor if msg["scale"] is None else msg["scale"] * self.factor


def _log_density(model, data, unconstrained):
    """``-potential_energy`` of ``model(data)``, -inf where it cannot be evaluated (see ``BoundModel.log_density``)."""
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy
    try:
        lp = -potential_energy(model, (data,), {}, unconstrained)
    except ValueError:  # evaluated eagerly, NumPyro refuses NaN distribution arguments (traced, they give NaN)
        return jnp.asarray(-jnp.inf)
    return jnp.where(jnp.isnan(lp), -jnp.inf, lp)


def _support_text(spec) -> str:
    s = spec.support
    if s.domain == "int":
        if s.lower == 0 and s.upper == 1:
            return f"`{spec.name}` takes values 0 and 1"
        if s.lower == 0 and s.upper is None and s.upper_arg is None:
            return f"`{spec.name}` takes non-negative integers"
        return f"`{spec.name}` takes integers"
    if s.lower == 0 and s.upper == 1:
        return f"`{spec.name}` takes values in (0, 1)"
    if s.lower == 0:
        return f"`{spec.name}` takes positive values"
    return f"see the support of `{spec.name}` in docs/language.md"
