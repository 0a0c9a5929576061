"""Posterior summary table and convergence warnings."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from probdsl.errors import Diagnostic, ProbdslError
from probdsl.results.inference_data import recorded_config

COLUMNS = ["mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat", "mcse_mean"]
RHAT_MAX = 1.01
ESS_PER_CHAIN = 100
DEFAULT_MAX_TREEDEPTH = 10
MAX_NAMES = 10
NOISE_RATIO_WARNING = 0.5  # see probdsl/backends/sg/integrators.py, Integrator.noise_ratio
SUMMARY_GROUPS = ("predictions", "posterior", "prior", "posterior_predictive")
APPROXIMATIONS = ("vi", "pathfinder")  # methods whose draws are independent draws of an approximation
LOW_STAGE2_ACCEPTANCE = 0.1


def summarize(idata, var_names: list[str] | None = None) -> pd.DataFrame:
    """Summary statistics of the draws: the predictions of a ``predict`` result, else the
    posterior, else the prior, else the posterior predictive."""
    import arviz as az

    group = next((g for g in SUMMARY_GROUPS if g in idata.groups()), None)
    if group is None:
        raise ProbdslError(Diagnostic("E506", f"nothing to summarise: the file has none of the groups "
                                              f"{', '.join(SUMMARY_GROUPS)}"))
    arviz_log = getattr(az, "_log", logging.getLogger("arviz"))  # ArviZ 0.x logs through its own Logger object
    level = arviz_log.level
    arviz_log.setLevel(logging.ERROR)  # one chain (a flow's draws): no R-hat, and no need to say so
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = az.summary(idata, group=group, var_names=var_names, hdi_prob=0.94, round_to="none")
    finally:
        arviz_log.setLevel(level)
    return df[COLUMNS]


def diagnose(idata, max_treedepth: int | None = None, summary: pd.DataFrame | None = None) -> list[str]:
    """Warnings about divergences, tree-depth saturation, r_hat and ESS (empty when all is well).

    ``max_treedepth`` defaults to the one recorded in the result's ``config``.
    """
    if "sample_stats" not in idata.groups():
        return []
    stats = idata.sample_stats
    config = recorded_config(idata)
    if max_treedepth is None:
        max_treedepth = config.get("max_treedepth", DEFAULT_MAX_TREEDEPTH)
    if config.get("method") in APPROXIMATIONS:
        return _approximation_warnings(config)
    if config.get("method") == "flow":
        return _flow_warnings(config)
    summary = summarize(idata) if summary is None else summary
    n_chains = idata.posterior.sizes["chain"]
    stochastic = config.get("method") == "sghmc"
    found = [
        _count_warning(stats, "diverging", lambda d: d.astype(bool),
                       "ended with non-finite parameters: the sampler blew up; pass a smaller --step-size"
                       if stochastic else
                       "ended with a divergence: the posterior may be biased; "
                       "try a higher --adapt-delta or a non-centred parameterisation"),
        _noise_warning(stats) if stochastic else None,
        _count_warning(stats, "tree_depth", lambda t: t >= max_treedepth,
                       f"hit the maximum tree depth ({max_treedepth}): sampling is inefficient; "
                       "try a higher --max-treedepth"),
        _names_warning(summary["r_hat"] > RHAT_MAX,
                       f"r_hat above {RHAT_MAX} (the chains disagree; run longer or check the model)"),
        _names_warning((summary["ess_bulk"] < ESS_PER_CHAIN * n_chains) | (summary["ess_tail"] < ESS_PER_CHAIN * n_chains),
                       f"effective sample size below {ESS_PER_CHAIN * n_chains} ({ESS_PER_CHAIN} per chain; "
                       "estimates are unreliable; draw more)"),
    ]
    return [w for w in found if w] + _twolevel_warnings(config) + _failed_chains(idata.posterior)


def approximation_verdict(idata) -> str | None:
    """For a VI or Pathfinder result, one line reading its Pareto k̂ (None for other results)."""
    config = recorded_config(idata)
    method = config.get("method")
    if method == "flow":
        return _flow_verdict(config)
    if method not in APPROXIMATIONS:
        return None
    from probdsl.backends.vi.psis import verdict  # imports JAX: only for the results that need it

    name = f"vi ({config['guide_used']} guide)" if method == "vi" else f"pathfinder ({config['paths']} paths)"
    draws = "draws PSIS-resampled" if config["draws_from"] == "psis_resampled" else "draws straight from q"
    return (f"{name}: {verdict(config['pareto_k'])}; importance ESS {config['importance_ess']:.0f} "
            f"of {config['chains'] * config['draws']}; ELBO {config['elbo']:.6g}; {draws}")


def twolevel_report(idata) -> list[str]:
    """For a two-level result: its cost accounting, and the two-level estimate when there is one."""
    config = recorded_config(idata)
    if config.get("method") != "twolevel":
        return []
    surrogate = {"coarse": "the model's coarse level", "file": f"`{config.get('surrogate_file')}`",
                 "neural": f"a network emulating {', '.join(config.get('emulated', []))} (validation error "
                           f"{config.get('validation_error', float('nan')):.3g}, {config.get('training_solves')} "
                           "training solves)"}[config["surrogate"]]
    lines = [f"twolevel {config['mode']}: coarse level {surrogate}; base chains {config['base']}, "
             f"{config['subchain']} coarse steps per fine solve",
             f"fine solves {config['fine_solves']:,} ({config['fine_solves_sampling']:,} while sampling); "
             f"coarse evaluations {config['coarse_evaluations']:,}; stage-two acceptance "
             f"{config['stage2_acceptance']:.2f}; subchain acceptance {config['subchain_acceptance']:.2f}; "
             f"min ESS {config['min_ess_bulk']:.0f}, {config['ess_per_fine_solve']:.3g} per fine solve"]
    if "twolevel_estimate" in idata.groups():
        estimate = idata.twolevel_estimate
        lines.append("two-level estimate of the posterior means (level 0 + correction):")
        for i, name in enumerate(estimate["quantity"].values):
            lines.append(f"  {name:>12} {float(estimate['mean'][i]):.4g} ± {float(estimate['standard_error'][i]):.2g} "
                         f"(level 0 {float(estimate['level0_mean'][i]):.4g}, correction "
                         f"{float(estimate['correction'][i]):+.3g})")
    return lines


def _twolevel_warnings(config: dict) -> list[str]:
    if config.get("method") != "twolevel":
        return []
    found = []
    if config["stage2_acceptance"] < LOW_STAGE2_ACCEPTANCE:
        found.append(f"stage-two acceptance {config['stage2_acceptance']:.2f}: the coarse level disagrees with the "
                     "model; the draws are exact but few are new: use a better surrogate"
                     + (" or keep the error model on" if not config["error_model"] and config["mode"] == "da" else ""))
    return found


def _flow_verdict(config: dict) -> str:
    line = (f"flow ({config['network']}, trained on {config['simulations']:,} simulations): {config['draws']:,} "
            f"draws in {config['sampling_seconds']:.2f} s, {config['ode_steps']} ODE steps")
    if "pareto_k" in config:
        from probdsl.backends.vi.psis import K_GOOD, K_USABLE

        k = config["pareto_k"]
        reading = "good" if k < K_GOOD else "usable" if k < K_USABLE else "unreliable"
        line += (f"; Pareto k̂ of its draws against the model's own density {k:.2f} ({reading}), "
                 f"importance ESS {config['importance_ess']:.0f}")
    return line


def _flow_warnings(config: dict) -> list[str]:
    """A flow's draws are independent: k̂ against the model's density (when it has one) is the check."""
    from probdsl.backends.vi.psis import K_USABLE

    if config.get("pareto_k", 0.0) < K_USABLE:
        return []
    return [f"Pareto k̂ = {config['pareto_k']:.2f} >= {K_USABLE}: the flow's posterior misses mass of the model's "
            "posterior for these data; train on more simulations, or check these data against the prior predictive "
            "(data unlike any simulation are outside what the flow learned)"]


def _approximation_warnings(config: dict) -> list[str]:
    """Warnings of a VI or Pathfinder fit: k̂ too high, no ELBO plateau, skipped steps.  R-hat and
    ESS say nothing about independent draws of an approximation: k̂ is its diagnostic."""
    from probdsl.backends.vi.psis import K_USABLE

    found = []
    if not config["pareto_k"] < K_USABLE:
        found.append(f"Pareto k̂ = {config['pareto_k']:.2f} >= {K_USABLE}: the approximation misses posterior mass; "
                     "its means and especially its variances are unreliable")
    if config.get("stopped") == "max_steps":
        found.append(f"the ELBO was still rising after {config['steps']} steps: raise --max-steps")
    if config.get("skipped_steps"):
        found.append(f"{config['skipped_steps']} of {config['steps']} steps had a non-finite ELBO estimate or gradient "
                     "and were skipped")
    return found


def render_summary(df: pd.DataFrame) -> str:
    """The summary as plain aligned text (fit for terminals and logs alike)."""
    formatted = pd.DataFrame(index=df.index)
    for column in df.columns:
        formatted[column] = [_format(column, v) for v in df[column]]
    return formatted.to_string(justify="right")


def _format(column: str, value: float) -> str:
    if not np.isfinite(value):
        return "nan"
    if column.startswith("ess"):
        return f"{value:.0f}"
    if column == "r_hat":
        return f"{value:.3f}"
    return f"{value:.4g}"


def _count_warning(stats, name: str, predicate, text: str) -> str | None:
    if name not in stats:
        return None
    hits = np.asarray(predicate(stats[name].values))
    count, total = int(hits.sum()), hits.size
    if not count:
        return None
    per_chain = hits.reshape(hits.shape[0], -1).sum(axis=1)
    chains = f" (per chain: {', '.join(str(int(n)) for n in per_chain)})" if per_chain.size > 1 else ""
    return f"{count} of {total} transitions ({100 * count / total:.1f}%){chains} {text}"


def _failed_chains(posterior) -> list[str]:
    """Chains that never moved (every draw the same) or hold non-finite draws: named, so that a
    failed chain is not silently averaged into the summary."""
    if not posterior.data_vars:
        return []
    draws = np.concatenate([posterior[name].values.reshape(posterior.sizes["chain"], posterior.sizes["draw"], -1)
                            for name in posterior.data_vars], axis=2)
    stuck = [i + 1 for i, chain in enumerate(draws) if chain.shape[0] > 1 and np.all(chain == chain[0])]
    broken = [i + 1 for i, chain in enumerate(draws) if not np.all(np.isfinite(chain))]
    found = []
    if stuck:
        found.append(f"chain {', '.join(map(str, stuck))} never moved (every draw is the same): it is stuck and its "
                     "draws are in the summary; rerun with another --seed or other initial values")
    if broken:
        found.append(f"chain {', '.join(map(str, broken))} has non-finite draws: the sampler blew up there")
    return found


def _noise_warning(stats) -> str | None:
    """Minibatch noise comparable to the sampler's own noise inflates the posterior variance."""
    if "noise_ratio" not in stats:
        return None
    ratio = float(np.nanmedian(stats["noise_ratio"].values))
    if ratio < NOISE_RATIO_WARNING:
        return None
    verb = "dominates" if ratio >= 1 else "is not small against"
    return (f"minibatch gradient noise {verb} the sampler's own noise (median noise ratio {ratio:.2g}): "
            "posterior variances are inflated, to first order in the step for every integrator; "
            "use a larger --batch-size, a smaller --step-size, or --control-variates")


def _names_warning(mask: pd.Series, text: str) -> str | None:
    names = list(mask.index[mask.to_numpy(dtype=bool)])  # NaN compares False: constant quantities pass
    if not names:
        return None
    shown = ", ".join(names[:MAX_NAMES]) + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")
    return f"{text}: {shown}"
