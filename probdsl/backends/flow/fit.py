"""``--method flow``: the posterior of new data from a trained flow, with no MCMC.

The observed data are summarised once by the flow's encoder; draws come from one
ODE solve (``ode.py``).  Their log density ``log_q`` (unconstrained space) is in
``sample_stats``.  When the model has a likelihood and the flow learned every
parameter, ``log_p - log_q`` gives Pareto-smoothed importance weights whose k̂
says whether the flow can be trusted for this dataset (as for VI); the draws
themselves are not reweighted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from probdsl.backends.draws import begin_fit, option_error, posterior_groups, status_printer
from probdsl.backends.flow import ode
from probdsl.backends.flow.amortized import TrainedFlow
from probdsl.backends.flow.layout import unflatten
from probdsl.backends.flow.simulate import transforms
from probdsl.model_interface import ModelLike
from probdsl.results.inference_data import build_inference_data


@dataclass
class FlowConfig:
    flow: TrainedFlow | str | None = None   # a trained flow, or the path of a .flow file
    draws: int = 1000
    density: bool = True       # integrate log q along with the draws
    tolerance: float = 1e-5    # the ODE solver's relative and absolute tolerance
    steps: int | None = None   # fixed midpoint steps instead of the adaptive solver
    seed: int | None = None
    x64: bool = False
    progress: bool = True


def load(flow) -> tuple[TrainedFlow, str]:
    if flow is None:
        raise option_error("--method flow needs a trained flow", "train one with `probdsl train MODEL DATA`, "
                                                                 "then pass --flow MODEL.flow")
    if isinstance(flow, TrainedFlow):
        return flow, "<in memory>"
    return TrainedFlow.load(flow), str(flow)


def posterior_sampler(flow: TrainedFlow, count: int, density: bool, tolerance: float = 1e-5,
                      steps: int | None = None):
    """``sample(x, mask, key) -> (theta, log_q, steps)``, jitted: unconstrained draws for standardised
    input ``(x, mask)`` (``TrainedFlow.context_input``), ``log_q`` in the unconstrained space."""
    import jax
    import jax.numpy as jnp

    mean, sd = jnp.asarray(flow.theta_mean), jnp.asarray(flow.theta_sd)

    @jax.jit
    def sample(x, mask, key):
        context = flow.network.encoder(x, mask)
        draws, log_q, taken = ode.sample(flow.network, context, key, count, flow.layout.theta_dim, density,
                                         tolerance, steps)
        theta = draws * sd + mean
        return theta, None if log_q is None else log_q - jnp.sum(jnp.log(sd)), taken

    return sample


def fit_flow(model: ModelLike, config: FlowConfig):
    """Draws from the flow's posterior for ``model``'s observed data, as an ``InferenceData``."""
    import jax

    if config.draws < 1:
        raise option_error("--draws must be at least 1")
    flow, file = load(config.flow)
    flow.check(model, file)
    seed, key = begin_fit(config)
    say = status_printer(config.progress)
    x, mask = flow.context_input(model)
    if config.steps is not None and config.steps < 1:
        raise option_error("--ode-steps must be at least 1")
    if not 0 < config.tolerance <= 0.1:
        raise option_error(f"--ode-tolerance {config.tolerance} must be above 0 and at most 0.1")
    sampler = posterior_sampler(flow, config.draws, config.density, config.tolerance, config.steps)
    k_draw, k_predict = jax.random.split(key)
    start = time.perf_counter()
    compiled = sampler.lower(x, mask, k_draw).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    theta, log_q, steps = jax.block_until_ready(compiled(x, mask, k_draw))
    seconds = time.perf_counter() - start
    say(f"flow: {config.draws} draws in {seconds:.3f} s after {compile_seconds:.1f} s of compilation")
    theta = np.asarray(theta)
    unconstrained = unflatten(theta, list(flow.layout.params))
    stats = {"log_q": np.asarray(log_q)[None]} if log_q is not None else {}
    record = {"method": "flow", "network": flow.record.get("network"), "chains": 1, "draws": config.draws,
              "simulations": flow.record.get("simulations"), "flow_file": file, "ode_steps": int(steps),
              "ode_tolerance": None if config.steps is not None else config.tolerance,
              "sampling_seconds": seconds, "compile_seconds": compile_seconds, "learned": [b.name for b in flow.layout.params],
              "marginal": flow.layout.marginal}
    if flow.layout.marginal:
        bijections = transforms(model, flow.layout)
        posterior = {name.removesuffix("__u"): np.asarray(bijections[name](value))[None]
                     for name, value in unconstrained.items()}
        log_lik, predictive = {}, {}
    else:
        constrained = jax.vmap(model.constrain)(unconstrained)
        samples = {k: np.asarray(v)[None] for k, v in constrained.items()}
        samples.update({k: np.asarray(v)[None] for k, v in unconstrained.items() if k.endswith("__u")})
        posterior, log_lik, predictive = posterior_groups(model, samples, k_predict)
        if log_q is not None and not getattr(model, "simulated_observations", ()):
            record.update(_importance(model, unconstrained, np.asarray(log_q)))
    idata = build_inference_data(model, posterior, stats, log_lik, predictive, record, seed)
    return idata


def _importance(model: ModelLike, unconstrained: dict, log_q: np.ndarray) -> dict:
    """k̂ and importance ESS of the flow's draws against the model's own posterior density."""
    from probdsl.backends.vi import psis

    weights = psis.importance(psis.log_density_at(model, unconstrained), log_q)
    return {"pareto_k": weights.pareto_k, "importance_ess": weights.ess}
