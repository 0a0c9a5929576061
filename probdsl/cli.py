"""The ``probdsl`` command line.

JAX is imported lazily, inside the commands: ``fit`` must set the host device
count (one CPU device per chain) and x64 before JAX initialises.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional
from warnings import catch_warnings, simplefilter

import typer

from probdsl import __version__, interrupts, user_cache
from probdsl.backends import METHODS
from probdsl.backends.devices import configure_host_devices
from probdsl.errors import Diagnostic, ProbdslError, UsageError

EMITS = ("python",)
EXIT_STRICT = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

app = typer.Typer(
    name="probdsl",
    help="Compile and fit probdsl models (.pdl) with NumPyro.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ModelArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The model file (.pdl).")]
DataArgs = Annotated[Optional[list[Path]], typer.Argument(exists=True, dir_okay=False, help="Data files (.csv, .json).")]
FitArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A result file written by `probdsl fit` (.nc).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", dir_okay=False, help="Output file.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", min=0, max=2**32 - 1, help="Random seed (default: random, recorded in the output).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="Hide progress bars and status lines (results are still printed).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", envvar="PROBDSL_NO_CACHE",
                                          help="Do not use the persistent JAX compilation cache.")]
BudgetOpt = Annotated[Optional[str], typer.Option(
    "--memory-budget", envvar="PROBDSL_MEMORY_BUDGET",
    help="Refuse models and results larger than this, e.g. 4G (default: half the physical memory).")]


def _reports_errors(command):
    """Turn user errors into a message on stderr and their exit code; Ctrl-C into exit 130, SIGTERM 143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ProbdslError as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt as e:
            code = EXIT_TERMINATED if isinstance(e, interrupts.Terminated) else EXIT_INTERRUPTED
            typer.echo("interrupted: no output written", err=True)
            if interrupts.abandoned_work():  # a compiled loop still running: do not wait for it
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            raise typer.Exit(code) from None

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"probdsl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Compile and fit probdsl models (.pdl) with NumPyro."""


@app.command()
@_reports_errors
def fit(
    model: ModelArg,
    data: DataArgs = None,
    method: Annotated[str, typer.Option("--method", help="Inference method: nuts; sghmc (stochastic gradients on minibatches of rows); vi (variational inference); pathfinder; twolevel (a cheap coarse level screens proposals, the model corrects them); flow (a network trained by `probdsl train`: no MCMC).")] = "nuts",
    chains: Annotated[int, typer.Option("--chains", min=1, help="Number of chains.")] = 4,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Warmup (adaptation) iterations per chain; sghmc: burn-in steps after tuning.")] = 1000,
    draws: Annotated[int, typer.Option("--draws", min=1, help="Draws kept per chain.")] = 1000,
    seed: SeedOpt = None,
    adapt_delta: Annotated[float, typer.Option("--adapt-delta", help="Target acceptance rate.")] = 0.8,
    max_treedepth: Annotated[int, typer.Option("--max-treedepth", min=1, help="Maximum NUTS tree depth.")] = 10,
    x64: Annotated[bool, typer.Option("--x64", help="Compute in double precision.")] = False,
    init: Annotated[Optional[str], typer.Option("--init", help="nuts: a radius for uniform initialisation (default 2), pathfinder (start each chain at a Pathfinder draw), or a JSON file of initial values.")] = None,
    prior: Annotated[bool, typer.Option("--prior", help="Draw from the prior instead of the posterior.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with code 3 when there are sampler warnings.")] = False,
    dense_mass: Annotated[bool, typer.Option("--dense-mass", help="Adapt a dense (full) mass matrix instead of a diagonal one.")] = False,
    integrator: Annotated[str, typer.Option("--integrator", help="sghmc: splitting, baoab, euler, sgld or psgld.")] = "splitting",
    thin: Annotated[int, typer.Option("--thin", min=1, help="sghmc: steps per kept draw.")] = 10,
    step_size: Annotated[Optional[float], typer.Option("--step-size", help="sghmc: step in whitened units (default: tuned).")] = None,
    friction: Annotated[Optional[float], typer.Option("--friction", help="sghmc: friction in whitened units (default 1).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="sghmc: rows per minibatch (default: tuned).")] = None,
    control_variates: Annotated[bool, typer.Option("--control-variates/--no-control-variates", help="sghmc: gradients with control variates anchored at the mode.")] = True,
    guide: Annotated[str, typer.Option("--guide", help="vi: meanfield, lowrank, fullrank, flow, or auto (each in turn until k-hat < 0.7).")] = "meanfield",
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="vi: most optimisation steps (it stops earlier on an ELBO plateau).")] = 10000,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="vi: initial Adam learning rate (divided by 10 at the first plateau).")] = 0.02,
    particles: Annotated[int, typer.Option("--particles", min=1, help="vi: draws from the guide per ELBO gradient.")] = 1,
    paths: Annotated[int, typer.Option("--paths", min=1, help="pathfinder: independent L-BFGS paths.")] = 4,
    mode: Annotated[str, typer.Option("--mode", help="twolevel: da (delayed acceptance, exact) or estimator (two-level estimator of posterior means).")] = "da",
    surrogate: Annotated[Optional[str], typer.Option("--surrogate", help="twolevel: the coarse level: coarse (the model's fine_coarse calls), neural, or a .pdl file with the same parameters.")] = None,
    base: Annotated[str, typer.Option("--base", help="twolevel: the base chains on the coarse level: nuts, rwm or pcn.")] = "nuts",
    subchain: Annotated[int, typer.Option("--subchain", min=1, help="twolevel: coarse steps per fine solve.")] = 5,
    error_model: Annotated[bool, typer.Option("--error-model/--no-error-model", help="twolevel da: correct the coarse level's bias, adapted during the fine warmup.")] = True,
    fine_warmup: Annotated[int, typer.Option("--fine-warmup", min=0, help="twolevel da: fine iterations before the kept draws.")] = 100,
    emulate: Annotated[Optional[list[str]], typer.Option("--emulate", help="twolevel neural: a definition the network computes (repeat for several; default: each ODE solution).")] = None,
    training: Annotated[int, typer.Option("--training", min=20, help="twolevel neural: fine solves to train the network on.")] = 500,
    flow: Annotated[Optional[Path], typer.Option("--flow", exists=True, dir_okay=False, help="flow: the network written by `probdsl train` (.flow).")] = None,
    ode_steps: Annotated[Optional[int], typer.Option("--ode-steps", min=1, help="flow: fixed midpoint steps instead of the adaptive ODE solver (faster, less accurate).")] = None,
    ode_tolerance: Annotated[float, typer.Option("--ode-tolerance", help="flow: the adaptive ODE solver's relative and absolute tolerance (1e-3 is about twice as fast).")] = 1e-5,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
    memory_budget: BudgetOpt = None,
) -> None:
    """Fit MODEL to DATA and write the draws to a netCDF file (default: MODEL with suffix .nc)."""
    _set_memory_budget(memory_budget)
    if method not in METHODS:
        raise _usage(f"unknown method `{method}`", f"choose one of: {', '.join(METHODS)}")
    out = out or model.with_name(f"{model.stem}.prior.nc" if prior else f"{model.stem}.nc")
    init_value = _parse_init(init)
    _configure_jax(devices=chains if method == "nuts" else None, x64=x64)
    _configure_cache(enabled=not no_cache)
    from probdsl import api
    from probdsl.results.io import check_writable, write_netcdf_atomic
    from probdsl.sema import budget

    bound = api.compile_file(model).bind(list(data or []), predicting=prior)
    if method == "twolevel":
        surrogate = api.bind_surrogate(surrogate, list(data or []))
    kept = draws if method == "flow" else chains * draws  # flow: one chain
    check_writable(out, needed_bytes=budget.result_bytes(bound.sites, kept, 8 if x64 else 4))
    idata = interrupts.run_interruptibly(lambda: api.fit_bound(
        bound, method, prior=prior, chains=chains, warmup=warmup, draws=draws, seed=seed, x64=x64,
        progress=not quiet, adapt_delta=adapt_delta, max_treedepth=max_treedepth, init=init_value,
        dense_mass=dense_mass, integrator=integrator, thin=thin, step_size=step_size, friction=friction,
        batch_size=batch_size, control_variates=control_variates, guide=guide, max_steps=max_steps,
        learning_rate=learning_rate, particles=particles, paths=paths, mode=mode, surrogate=surrogate, base=base,
        subchain=subchain, error_model=error_model, fine_warmup=fine_warmup, emulate=emulate, training=training,
        flow=flow, ode_steps=ode_steps, ode_tolerance=ode_tolerance))
    write_netcdf_atomic(idata, out)
    warnings = _report(idata)
    if not quiet:
        typer.echo(f"wrote {out} (seed {idata.attrs['seed']})", err=True)
    if strict and warnings:
        raise typer.Exit(EXIT_STRICT)


@app.command()
@_reports_errors
def train(
    model: ModelArg,
    data: DataArgs = None,
    simulations: Annotated[int, typer.Option("--simulations", min=20, help="Simulations from the prior predictive to train on.")] = 10000,
    network: Annotated[str, typer.Option("--network", help="mlp (data of one fixed size) or transformer (one token per row, any number of rows up to --max-rows).")] = "mlp",
    max_rows: Annotated[Optional[int], typer.Option("--max-rows", min=1, help="transformer: the most rows a dataset may have (default: the rows of DATA).")] = None,
    min_rows: Annotated[int, typer.Option("--min-rows", min=1, help="transformer: the fewest rows of a training dataset.")] = 1,
    time_column: Annotated[Optional[str], typer.Option("--time", help="transformer: a row column that orders the rows (time); the rows are exchangeable without it.")] = None,
    params: Annotated[Optional[str], typer.Option("--params", help="Comma-separated parameters to learn (default: all); the others are integrated over.")] = None,
    size: Annotated[Optional[list[str]], typer.Option("--size", help="A size no data fixes, NAME=VALUE (repeat for several).")] = None,
    width: Annotated[int, typer.Option("--width", min=8, help="Hidden width of the vector field.")] = 128,
    depth: Annotated[int, typer.Option("--depth", min=1, help="Residual blocks of the vector field.")] = 4,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most training epochs (it stops earlier when the validation loss stalls).")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Simulations per gradient step.")] = 256,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="Initial Adam learning rate.")] = 1e-3,
    time_exponent: Annotated[float, typer.Option("--time-exponent", help="Training times t ~ Beta(a + 1, 1), density proportional to t^a: a > 0 weights the posterior end.")] = 1.0,
    x64: Annotated[bool, typer.Option("--x64", help="Compute in double precision.")] = False,
    seed: SeedOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Train a flow on simulations from MODEL (DATA fixes sizes and covariates; observed columns are ignored)."""
    out = out or model.with_suffix(".flow")
    _configure_jax(devices=None, x64=x64)
    _configure_cache(enabled=not no_cache)
    from probdsl import api
    from probdsl.results.io import check_writable

    check_writable(out)
    trained = interrupts.run_interruptibly(lambda: api.train(
        model, list(data or []), sizes=_parse_sizes(size), simulations=simulations, network=network,
        max_rows=max_rows, min_rows=min_rows, time_column=time_column,
        params=[p.strip() for p in params.split(",") if p.strip()] if params else None, width=width, depth=depth,
        max_epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, time_exponent=time_exponent,
        x64=x64, seed=seed, progress=not quiet))
    trained.save(out)
    record = trained.record
    typer.echo(f"trained on {record['simulations']:,} simulations ({record['dropped_simulations']} dropped as "
               f"non-finite), {record['epochs']} epochs, validation loss {record['best_validation_loss']:.4f}, "
               f"{record['training_seconds']:.1f} s")
    if not quiet:
        typer.echo(f"wrote {out} (seed {record['seed']})", err=True)


@app.command()
@_reports_errors
def sbc(
    model: ModelArg,
    data: DataArgs = None,
    flow: Annotated[Path, typer.Option("--flow", exists=True, dir_okay=False, help="The network written by `probdsl train` (.flow).")] = ...,
    simulations: Annotated[int, typer.Option("--simulations", min=10, help="Held-out simulations to rank.")] = 200,
    draws: Annotated[int, typer.Option("--draws", min=9, help="Posterior draws per simulation.")] = 100,
    size: Annotated[Optional[list[str]], typer.Option("--size", help="A size no data fixes, NAME=VALUE.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the held-out simulations.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", dir_okay=False, help="Rank histograms (default: FLOW with suffix .sbc.png); the figures go beside it as .json.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Simulation-based calibration of a trained flow: rank histograms and expected coverage."""
    out = out or flow.with_suffix(".sbc.png")
    _configure_jax(devices=None, x64=False)
    from probdsl import api
    from probdsl.backends.flow import sbc as calibration
    from probdsl.results.io import check_writable, write_text_atomic

    check_writable(out)
    result = interrupts.run_interruptibly(lambda: api.calibrate(
        model, flow, list(data or []), sizes=_parse_sizes(size), simulations=simulations, draws=draws, seed=seed))
    calibration.plot(result, out)
    write_text_atomic(json.dumps(result.to_json(), indent=1), out.with_suffix(".json"))
    typer.echo(result.table())
    if not quiet:
        typer.echo(f"wrote {out} and {out.with_suffix('.json')}", err=True)


@app.command()
@_reports_errors
def check(model: ModelArg, data: DataArgs = None, memory_budget: BudgetOpt = None) -> None:
    """Check MODEL (and, when given, that DATA fits it) without fitting."""
    _set_memory_budget(memory_budget)
    from probdsl import api
    from probdsl.model_interface import PARAM

    compiled = api.compile_file(model)
    if data:
        compiled.bind(list(data))
    resolved = compiled.resolved
    params = [name for name in resolved.order if resolved.names[name].role == PARAM]
    listed = f": {', '.join(params)}" if params else ""
    typer.echo(f"ok: {model} ({len(params)} parameter{'' if len(params) == 1 else 's'}{listed})")


@app.command(name="compile")
@_reports_errors
def compile_(
    model: ModelArg,
    emit: Annotated[str, typer.Option("--emit", help="What to print: python (the generated NumPyro program).")] = "python",
    memory_budget: BudgetOpt = None,
) -> None:
    """Print the NumPyro program MODEL compiles to."""
    _set_memory_budget(memory_budget)
    if emit not in EMITS:
        raise _usage(f"unknown --emit `{emit}`", f"choose one of: {', '.join(EMITS)}")
    from probdsl import api

    source = api.compile_file(model).python_source()
    typer.echo(source, nl=not source.endswith("\n"))


@app.command()
@_reports_errors
def summary(fit_file: FitArg) -> None:
    """Print the summary table and sampler warnings of a result file."""
    from probdsl.results.io import load_fit

    _report(load_fit(fit_file))


@app.command()
@_reports_errors
def fmt(
    model: ModelArg,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if MODEL is not formatted; change nothing.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite MODEL in place.")] = False,
) -> None:
    """Print MODEL formatted (or check it, or rewrite it in place)."""
    if check and write:
        raise _usage("--check and --write cannot be combined")
    from probdsl import api
    from probdsl.results.io import write_text_atomic

    formatted = api.format_file(model)
    changed = formatted != model.read_text(encoding="utf-8")
    if check:
        if changed:
            typer.echo(f"would reformat {model}", err=True)
            raise typer.Exit(1)
    elif write:
        if changed:
            write_text_atomic(formatted, model)
            typer.echo(f"reformatted {model}", err=True)
    else:
        typer.echo(formatted, nl=False)


@app.command()
@_reports_errors
def expand(model: ModelArg) -> None:
    """Print MODEL with every `lm(...)` formula expanded into the statements it stands for."""
    from probdsl import api

    typer.echo(api.expand_file(model), nl=False)


@app.command()
@_reports_errors
def predict(
    fit_file: FitArg,
    new_data: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="New data files (.csv, .json).")],
    out: OutOpt = None,
    seed: SeedOpt = None,
    quiet: QuietOpt = False,
    no_cache: NoCacheOpt = False,
    memory_budget: BudgetOpt = None,
) -> None:
    """Predict for NEW_DATA from the posterior in FIT_FILE (default out: FIT_FILE with suffix .predict.nc)."""
    _set_memory_budget(memory_budget)
    from probdsl.results.inference_data import recorded_config
    from probdsl.results.io import check_writable, load_fit, write_netcdf_atomic

    out = out or fit_file.with_name(f"{fit_file.stem}.predict.nc")
    check_writable(out)
    fitted = load_fit(fit_file)
    _configure_jax(devices=None, x64=recorded_config(fitted).get("x64", False))
    _configure_cache(enabled=not no_cache)
    from probdsl import api
    from probdsl.backends.draws import resolve_seed

    write_netcdf_atomic(api.predict(fitted, list(new_data), resolve_seed(seed)), out)
    if not quiet:
        typer.echo(f"wrote {out}", err=True)


@app.command()
@_reports_errors
def plot(
    fit_file: FitArg,
    kind: Annotated[str, typer.Option("--kind", help="trace, rank, forest, ppc, or elbo (the ELBO trace of a vi fit).")] = "trace",
    out: Annotated[Optional[Path], typer.Option("--out", dir_okay=False, help="Output PNG (default: FIT_FILE with suffix .<kind>.png).")] = None,
) -> None:
    """Draw a diagnostic plot of a result file into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from probdsl.results.io import check_writable, load_fit
    from probdsl.results.plots import plot as draw

    out = out or fit_file.with_name(f"{fit_file.stem}.{kind}.png")
    check_writable(out)
    draw(load_fit(fit_file), kind, out)
    typer.echo(f"wrote {out}", err=True)


def main() -> None:
    """Console-script entry point."""
    interrupts.raise_on_sigterm()
    app(prog_name="probdsl")


def _report(idata) -> list[str]:
    """Print the summary table (stdout) and warnings (stderr); return the warnings."""
    from probdsl.results.summary import approximation_verdict, diagnose, render_summary, summarize, twolevel_report

    table = summarize(idata)
    typer.echo(render_summary(table))
    verdict = approximation_verdict(idata)
    if verdict:
        typer.echo(verdict, err=True)
    for line in twolevel_report(idata):
        typer.echo(line, err=True)
    warnings = diagnose(idata, summary=table)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    return warnings


def _configure_jax(devices: int | None, x64: bool) -> None:
    """Ask for ``devices`` CPU devices (effective only before JAX initialises) and x64."""
    if devices is not None:
        configure_host_devices(devices)
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _configure_cache(enabled: bool) -> None:
    """Turn on JAX's persistent compilation cache; if it cannot be used, warn and go on without it."""
    if not enabled:
        user_cache.turn_off()
        return
    from probdsl.backends.jax_cache import CompilationCacheWarning, enable_compilation_cache

    with catch_warnings():
        simplefilter("error", CompilationCacheWarning)
        try:
            enable_compilation_cache()
        except CompilationCacheWarning as warning:
            typer.echo(f"warning: {warning}", err=True)


def _parse_init(init: str | None) -> float | str | dict | None:
    """``--init``: a number is a radius, ``pathfinder`` itself; anything else names a JSON file of initial values."""
    if init is None or init == "pathfinder":
        return init
    try:
        return float(init)
    except ValueError:
        pass
    path = Path(init)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise _usage(f"--init: cannot read `{path}`: {e.strerror}", "give a radius (a number), pathfinder, or a JSON file") from None
    except json.JSONDecodeError as e:
        raise _usage(f"--init: `{path}` is not valid JSON: {e}") from None
    if not isinstance(values, dict):
        raise _usage(f"--init: `{path}` must hold a JSON object of parameter values")
    return values


def _parse_sizes(pairs: list[str] | None) -> dict[str, int] | None:
    """``["N=20", "K=3"]`` as ``{"N": 20, "K": 3}``."""
    if not pairs:
        return None
    sizes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not name.strip() or not value.strip().isdigit():
            raise _usage(f"--size {pair}: expected NAME=VALUE with a whole number", "e.g. --size N=20")
        sizes[name.strip()] = int(value)
    return sizes


def _set_memory_budget(amount: str | None) -> None:
    """``--memory-budget``: checked here, read by the checker (``probdsl.sema.budget``) from the environment."""
    from probdsl.sema import budget

    if amount is None:
        return
    if budget.parse_bytes(amount) is None:
        raise _usage(f"--memory-budget: `{amount}` is not an amount of memory", "write it as bytes or with a unit, e.g. 4G or 512M")
    os.environ[budget.ENV] = amount


def _usage(message: str, hint: str | None = None) -> UsageError:
    return UsageError(Diagnostic("E505", message, hint=hint))
