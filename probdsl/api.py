"""The Python API: compile a model, fit it, predict with it.

    import probdsl
    model = probdsl.compile("examples/eight_schools/eight_schools.pdl")
    idata = model.fit("examples/eight_schools/eight_schools.json", chains=4)
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from probdsl.backends import METHODS
from probdsl.backends.devices import configure_host_devices
from probdsl.compiled import BoundModel, CompiledModel, compile_source
from probdsl.errors import Diagnostic, DiagnosticBag, ModelError, ProbdslError, Span, SyntaxErrorPdl, UsageError
from probdsl.sema.budget import check_result_size
from probdsl.syntax.formula import expand as expand_formulas
from probdsl.syntax.parser import parse
from probdsl.syntax.printer import format_program

def compile(path_or_source: str | Path) -> CompiledModel:  # noqa: A001 - the natural name
    """Compile a model: a ``Path`` or a ``str`` ending in ``.pdl`` is read as a file, any other ``str`` is source."""
    if isinstance(path_or_source, Path) or (isinstance(path_or_source, str) and path_or_source.endswith(".pdl")):
        return compile_file(path_or_source)
    return compile_source(str(path_or_source), "<string>")


def compile_file(path: str | Path) -> CompiledModel:
    path = Path(path)
    return compile_source(read_model(path), str(path))


def read_model(path: Path) -> str:
    """The text of a model file; a byte that is not UTF-8 is a syntax error (E001) at its line and column."""
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such model file") from None
    except (IsADirectoryError, PermissionError) as error:
        raise ProbdslError(f"{path}: cannot read the model file ({error.__class__.__name__})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        shown = data.decode("utf-8", errors="replace")
        before = data[:error.start].decode("utf-8").splitlines(keepends=True) or [""]
        line, column = (len(before) + 1, 1) if before[-1].endswith(("\n", "\r")) else (len(before), len(before[-1]) + 1)
        span = Span(str(path), line, column, line, column + 1)
        diagnostic = Diagnostic("E001", f"{path} is not UTF-8 text: line {line} has the byte "
                                f"0x{data[error.start]:02x} ({error.reason})", span, label="not UTF-8",
                                hint="save the file as UTF-8")
        raise SyntaxErrorPdl(diagnostic, {str(path): shown}) from None


def format_file(path: str | Path) -> str:
    """The canonical layout of a model file (``probdsl fmt``)."""
    path = Path(path)
    return format_program(parse(read_model(path), str(path)))


def expand_file(path: str | Path) -> str:
    """The model with every ``lm(...)`` formula expanded, as model text (``probdsl expand``)."""
    path = Path(path)
    text = read_model(path)
    bag = DiagnosticBag()
    program = expand_formulas(parse(text, str(path)), bag)
    bag.raise_if_any(ModelError, {str(path): text})
    return format_program(program)


def fit(model: CompiledModel | str | Path, data=None, method: str = "nuts", *, prior: bool = False,
        chains: int = 4, x64: bool = False, **options):
    """Fit ``model`` to ``data`` and return an ArviZ ``InferenceData``.

    ``data``: a path, a dict, a DataFrame, or a list of them.  The options are
    those of ``fit_bound``.
    """
    if not isinstance(model, CompiledModel):
        model = compile(model)
    if method not in METHODS:
        raise UsageError(f"unknown method `{method}`; available: {', '.join(METHODS)}")
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    if not prior and method == "nuts":
        configure_host_devices(chains)  # parallel chains, unless JAX is already initialised
    if method == "twolevel":
        options["surrogate"] = bind_surrogate(options.get("surrogate"), data)
    return fit_bound(model.bind(data, predicting=prior), method, prior=prior, chains=chains, x64=x64, **options)


def bind_surrogate(surrogate, data):
    """A two-level ``surrogate`` naming a ``.pdl`` file: that model bound to ``data`` (the fitted
    model's); any other surrogate as given."""
    if isinstance(surrogate, (str, Path)) and str(surrogate).endswith(".pdl"):
        return compile_file(surrogate).bind(data)
    return surrogate


def fit_bound(bound: BoundModel, method: str = "nuts", *, prior: bool = False, chains: int = 4,
              warmup: int = 1000, draws: int = 1000, seed: int | None = None, x64: bool = False,
              progress: bool = True, adapt_delta: float = 0.8, max_treedepth: int = 10, init=None,
              dense_mass: bool = False, integrator: str = "splitting", thin: int = 10,
              step_size: float | None = None, friction: float | None = None, batch_size: int | None = None,
              control_variates: bool = True, guide: str = "meanfield", max_steps: int = 10000,
              learning_rate: float = 0.02, particles: int = 1, paths: int = 4, mode: str = "da",
              surrogate=None, base: str = "nuts", subchain: int = 5, error_model: bool = True,
              fine_warmup: int = 100, emulate: list[str] | None = None, training: int = 500, flow=None,
              density: bool = True, ode_steps: int | None = None, ode_tolerance: float = 1e-5):
    """Fit a model bound to its data with ``method``; ``draws`` is per chain.

    ``prior=True`` simulates the prior and prior predictive instead.
    nuts: ``warmup``, ``adapt_delta``, ``max_treedepth``, ``dense_mass``, ``init`` (a radius,
    a dict of initial values, or ``"pathfinder"``).
    sghmc (stochastic gradients on minibatches of rows): ``integrator``, ``thin``, ``step_size``,
    ``friction``, ``batch_size``, ``control_variates``; ``warmup`` counts its burn-in steps.
    vi: ``guide`` (meanfield, lowrank, fullrank, flow or auto), ``max_steps``, ``learning_rate``,
    ``particles``.  pathfinder: ``paths``.
    twolevel: ``mode`` (da or estimator), ``surrogate`` (coarse, neural, or a bound model with the same
    parameters), ``base`` (nuts, rwm or pcn), ``subchain``, ``error_model``, ``fine_warmup``; neural:
    ``emulate`` (the definitions to emulate), ``training`` (fine solves to train on).
    flow (one chain of ``draws``): ``flow`` (a ``TrainedFlow`` or a ``.flow`` file from ``train``), ``density``
    (integrate the draws' log density too), ``ode_steps`` (fixed midpoint steps instead of the adaptive solver),
    ``ode_tolerance`` (the adaptive solver's relative and absolute tolerance).
    """
    if method != "flow" and not prior:
        bound.refuse_simulated(method)
    if method == "flow" and not prior:
        from probdsl.backends.flow import FlowConfig, fit_flow

        check_result_size(bound.sites, draws, bound.source)
        return fit_flow(bound, FlowConfig(flow=flow, draws=draws, density=density, steps=ode_steps,
                                          tolerance=ode_tolerance, seed=seed, x64=x64, progress=progress))
    check_result_size(bound.sites, chains * draws, bound.source)
    if prior:
        from probdsl.backends.nuts import fit_prior

        return fit_prior(bound, draws=draws, seed=seed)
    if method == "sghmc":
        from probdsl.backends.sg import SgConfig, fit_sg

        return fit_sg(bound, SgConfig(integrator=integrator, chains=chains, warmup=warmup, draws=draws, thin=thin,
                                      step_size=step_size, friction=friction, batch_size=batch_size,
                                      control_variates=control_variates, seed=seed, x64=x64, progress=progress))
    if method == "vi":
        from probdsl.backends.vi import ViConfig, fit_vi

        return fit_vi(bound, ViConfig(guide=guide, chains=chains, draws=draws, max_steps=max_steps,
                                      learning_rate=learning_rate, particles=particles, seed=seed, x64=x64,
                                      progress=progress))
    if method == "pathfinder":
        from probdsl.backends.vi import PathfinderConfig, fit_pathfinder

        return fit_pathfinder(bound, PathfinderConfig(paths=paths, chains=chains, draws=draws, seed=seed, x64=x64,
                                                      progress=progress))
    if method == "twolevel":
        from probdsl.backends.twolevel import TwoLevelConfig, coarse_level, fit_twolevel

        coarse, description = coarse_level(bound, surrogate, emulate=emulate, training=training,
                                           seed=0 if seed is None else seed, progress=progress)
        return fit_twolevel(bound, coarse, TwoLevelConfig(
            mode=mode, base=base, subchain=subchain, error_model=error_model, chains=chains, warmup=warmup,
            fine_warmup=fine_warmup, draws=draws, init=init, seed=seed, x64=x64, progress=progress), description)
    from probdsl.backends.nuts import NutsConfig, fit_nuts

    config = NutsConfig(chains=chains, warmup=warmup, draws=draws, seed=seed, adapt_delta=adapt_delta,
                        max_treedepth=max_treedepth, x64=x64, init=init, dense_mass=dense_mass, progress=progress)
    return fit_nuts(bound, config)


def train(model: CompiledModel | str | Path, data=None, *, sizes: dict[str, int] | None = None, **options):
    """Train a flow on ``model``'s own simulations and return it (``TrainedFlow``; ``.save(path)`` writes it).

    ``data``, when given, fixes the sizes and the covariates; its observed values are not used (they may be
    left out).  ``sizes`` gives sizes no data fixes.  The options are those of
    ``probdsl.backends.flow.TrainConfig`` (``simulations``, ``network``, ``max_rows``, ``seed``, ...).
    """
    from probdsl.backends.flow import TrainConfig, train_flow

    if not isinstance(model, CompiledModel):
        model = compile(model)
    return train_flow(model.bind(data, sizes=sizes, predicting=True), TrainConfig(**options))


def calibrate(model: CompiledModel | str | Path, flow, data=None, *, sizes: dict[str, int] | None = None,
              simulations: int = 200, draws: int = 100, seed: int = 0):
    """Simulation-based calibration of a trained ``flow`` (a ``TrainedFlow`` or a ``.flow`` path) on held-out
    simulations of ``model`` (``data`` and ``sizes`` as for ``train``); returns ``sbc.Calibration``."""
    from probdsl.backends.flow import fit as flow_fit, sbc

    if not isinstance(model, CompiledModel):
        model = compile(model)
    bound = model.bind(data, sizes=sizes, predicting=True)
    trained, file = flow_fit.load(flow)
    trained.check(bound, file)
    return sbc.calibrate(bound, trained, simulations, draws, seed)


def load_fit_model(idata) -> CompiledModel:
    """The compiled model stored in a fit's attributes."""
    source = idata.attrs.get("model_source")
    if source is None:
        raise ProbdslError("this netCDF file has no `model_source` attribute: it was not written by probdsl fit")
    return compile_source(source, idata.attrs.get("model_file", "<fit>"))


def predict(idata, data, seed: int | None = None):
    """Posterior predictive draws for new data, using the posterior draws in ``idata``."""
    from probdsl.backends.nuts import predict as predict_draws

    compiled = load_fit_model(idata)
    levels = json.loads(idata.attrs.get("factor_levels", "{}"))
    bound = compiled.bind(data, levels=levels, predicting=True)
    return predict_draws(bound, idata, seed)


__all__ = ["BoundModel", "CompiledModel", "calibrate", "compile", "compile_file", "expand_file", "fit", "fit_bound",
           "format_file", "load_fit_model", "predict", "train"]
