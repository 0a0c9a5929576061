"""Run one tool on one benchmark model in this process and print one JSON line of results.

    python bench/nuts/worker.py TOOL MODEL DATA_JSON --seed S [--chains 4 --warmup 1000 --draws 1000]

TOOL is one of probdsl, numpyro, stan, nutpie.  ``bench/nuts/run.py`` starts one worker per
(tool, model, seed) so that every measurement starts from a fresh interpreter: imports, model
compilation and JIT compilation are paid each time, as a user pays them, and peak RSS is the
worker's own.  Times (seconds, ``time.perf_counter``):

- ``compile_s``: what happens before the first iteration: the model to a runnable program
  (probdsl: .pdl to NumPyro, then JAX tracing and XLA compilation; NumPyro: tracing and XLA
  compilation; Stan: stanc and the C++ build; nutpie: the PyMC model and its numba build);
- ``sampling_s``: warmup and sampling, compilation excluded;
- ``end_to_end_s``: from the worker's start (imports included) to an ArviZ InferenceData.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

START = time.perf_counter()
HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"

# The parameters every tool samples; min ESS is taken over all their elements.
PARAMETERS = {
    "eight_schools": ["mu", "tau", "eta"],
    "logistic": ["alpha", "beta"],
    "radon": ["mu_a", "g", "sigma_a", "a", "b", "sigma_y"],
    "stochastic_volatility": ["mu", "phi", "sigma", "h_std"],
    "radon_noncentred": ["mu_a", "g", "sigma_a", "a", "b", "sigma_y"],  # probdsl only, radon's data
}


class JaxCompileClock:
    """Wall time JAX spends tracing, lowering and compiling (or loading from its cache):
    the union of the intervals of JAX's own monitoring events, so nested events count once."""

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration", "/jax/compilation_cache/cache_retrieval_time_sec")

    def __init__(self):
        import jax.monitoring

        self.intervals: list[tuple[float, float]] = []
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event: str, duration: float, **_) -> None:
        if event in self.EVENTS:
            end = time.perf_counter()
            self.intervals.append((end - duration, end))

    def seconds(self, start: float = float("-inf"), end: float = float("inf")) -> float:
        total, reach = 0.0, float("-inf")
        for lo, hi in sorted((max(lo, start), min(hi, end)) for lo, hi in self.intervals):
            if hi <= lo or hi <= reach:
                continue
            total += hi - max(lo, reach)
            reach = hi
        return total


def timed_mcmc_runs(clock: JaxCompileClock, timings: dict) -> None:
    """Time every ``MCMC.run`` (blocking on its results), split into JAX compilation and sampling."""
    import jax
    from numpyro.infer import MCMC

    run = MCMC.run

    def timed_run(self, *args, **kwargs):
        start = time.perf_counter()
        result = run(self, *args, **kwargs)
        jax.block_until_ready(self._states)
        end = time.perf_counter()
        compiling = clock.seconds(start, end)
        timings["run_compile_s"] = timings.get("run_compile_s", 0.0) + compiling
        timings["sampling_s"] = timings.get("sampling_s", 0.0) + (end - start - compiling)
        return result

    MCMC.run = timed_run


def run_probdsl(model: str, data: dict, args) -> tuple[object, dict]:
    clock = JaxCompileClock()
    timings: dict = {}
    timed_mcmc_runs(clock, timings)  # imports NumPyro, as probdsl.compile would: not part of pdl_compile_s
    import probdsl

    start = time.perf_counter()
    compiled = probdsl.compile(MODELS / f"{model}.pdl")
    timings["pdl_compile_s"] = time.perf_counter() - start
    idata = compiled.fit(data, chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                         progress=False)
    timings["compile_s"] = timings["pdl_compile_s"] + timings["run_compile_s"]
    return idata, timings


def run_numpyro(model: str, data: dict, args) -> tuple[object, dict]:
    import numpyro

    numpyro.set_host_device_count(args.chains)
    clock = JaxCompileClock()
    timings: dict = {}
    timed_mcmc_runs(clock, timings)
    import arviz as az
    import jax
    from numpyro.distributions.distribution import validation_enabled
    from numpyro.infer import MCMC, NUTS

    sys.path.insert(0, str(MODELS))
    import numpyro_models

    chain_method = "parallel" if jax.local_device_count() >= args.chains else "vectorized"
    mcmc = MCMC(NUTS(getattr(numpyro_models, model)), num_warmup=args.warmup, num_samples=args.draws,
                num_chains=args.chains, chain_method=chain_method, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(args.seed), **numpyro_models.arrays(data), extra_fields=("diverging", "num_steps"))
    with validation_enabled(False):  # ArviZ re-runs the model at a prior draw, which can overflow here
        idata = az.from_numpyro(mcmc)
    timings["compile_s"] = timings["run_compile_s"]
    return idata, timings


def run_stan(model: str, data: dict, args) -> tuple[object, dict]:
    import arviz as az
    import httpstan.cache
    import httpstan.models
    import stan

    code = (MODELS / f"{model}.stan").read_text()
    try:  # a cold build every time, as for the other tools: no model left in httpstan's cache
        httpstan.cache.delete_model_directory(httpstan.models.calculate_model_name(code))
    except (FileNotFoundError, KeyError):
        pass
    start = time.perf_counter()
    posterior = stan.build(code, data=data, random_seed=args.seed)
    built = time.perf_counter()
    fit = posterior.sample(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.draws)
    sampled = time.perf_counter()
    idata = az.from_pystan(posterior=fit, posterior_model=posterior)
    return idata, {"compile_s": built - start, "sampling_s": sampled - built}


# nutpie's default backend (numba) turns pytensor's scan into a slow loop: 74 s of sampling for 4 x 150/150
# draws of stochastic volatility against 13.5 s with its JAX backend; each model gets the faster one.
NUTPIE_BACKEND = {"stochastic_volatility": "jax"}


def run_nutpie(model: str, data: dict, args) -> tuple[object, dict]:
    import nutpie

    sys.path.insert(0, str(MODELS))
    import pymc_models

    start = time.perf_counter()
    backend = NUTPIE_BACKEND.get(model, "numba")
    compiled = nutpie.compile_pymc_model(getattr(pymc_models, model)(**data), backend=backend, gradient_backend="jax"
                                         if backend == "jax" else "pytensor")
    built = time.perf_counter()
    idata = nutpie.sample(compiled, draws=args.draws, tune=args.warmup, chains=args.chains, seed=args.seed,
                          progress_bar=False)
    sampled = time.perf_counter()
    return idata, {"compile_s": built - start, "sampling_s": sampled - built}


RUNNERS = {"probdsl": run_probdsl, "numpyro": run_numpyro, "stan": run_stan, "nutpie": run_nutpie}


def diagnostics(idata, model: str) -> dict:
    import arviz as az
    import numpy as np

    posterior = idata.posterior[PARAMETERS[model]]
    bulk = az.ess(posterior, method="bulk")
    tail = az.ess(posterior, method="tail")
    stats = idata.sample_stats
    steps = stats["n_steps"] if "n_steps" in stats else stats["num_steps"]  # leapfrog steps per draw
    return {
        "steps_per_draw": float(np.mean(steps)),
        "min_ess_bulk": float(min(np.min(bulk[name].values) for name in PARAMETERS[model])),
        "min_ess_tail": float(min(np.min(tail[name].values) for name in PARAMETERS[model])),
        "divergences": int(np.asarray(idata.sample_stats["diverging"]).sum()),
        "draws": int(posterior.sizes["chain"] * posterior.sizes["draw"]),
    }


def peak_rss_mb() -> float:
    """The largest resident set of this process and its finished children, in MB."""
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=sorted(RUNNERS))
    parser.add_argument("model", choices=sorted(PARAMETERS))
    parser.add_argument("data", type=Path)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    data = json.loads(args.data.read_text())
    idata, timings = RUNNERS[args.tool](args.model, data, args)
    end_to_end = time.perf_counter() - START
    result = {"tool": args.tool, "model": args.model, "seed": args.seed, **timings,
              "end_to_end_s": end_to_end, **diagnostics(idata, args.model), "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
