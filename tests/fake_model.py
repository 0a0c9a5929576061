"""Hand-written stand-ins for compiled models, implementing ``ModelLike``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from probdsl.model_interface import DATA, DETERMINISTIC, GENERATED, OBSERVED, PARAM, SiteInfo

SCHOOLS = ["Choate", "Deerfield", "Phillips Andover", "Phillips Exeter", "Hotchkiss", "Lawrenceville", "St. Paul's", "Mt. Hermon"]
Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]

EIGHT_SCHOOLS_SOURCE = """\
data { int J; vector[J] y; vector<lower=0>[J] sigma; }
parameters { real mu; real<lower=0> tau; vector[J] eta; }
transformed parameters { vector[J] theta = mu + tau * eta; }
model { mu ~ normal(0, 5); tau ~ cauchy(0, 5); eta ~ normal(0, 1); y ~ normal(theta, sigma); }
generated quantities { real theta_max = max(theta); }
"""


@dataclass
class FakeModel:
    """A ``ModelLike`` around a hand-written NumPyro program."""

    name: str
    source: str
    sites: list[SiteInfo]
    coords: dict[str, list]
    data: dict[str, Any]
    model_fn: Callable
    observed: tuple[str, ...] = ("y",)
    explain: Callable[[dict], str | None] | None = field(default=None, repr=False)

    def numpyro_model(self, data, predict=False, from_prior=False):
        self.model_fn(data, predict)

    def observed_data(self):
        return {k: np.asarray(self.data[k]) for k in self.observed}

    def constant_data(self):
        return {k: np.asarray(v) for k, v in self.data.items() if k not in self.observed}

    def refuse_simulated(self, method=None):
        """A hand-written program with a likelihood for every observation: nothing to refuse."""

    def data_hash(self):
        payload = json.dumps({k: np.asarray(v).tolist() for k, v in sorted(self.data.items())})
        return hashlib.sha256(payload.encode()).hexdigest()


class ExplainingFakeModel(FakeModel):
    """A fake model that can explain a non-finite density."""

    def explain_nonfinite(self, params):
        return self.explain(params)


def _eight_schools_fn(data, predict=False):
    J = data["J"]
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
    theta = numpyro.deterministic("theta", mu + tau * eta)
    with numpyro.plate("J_obs", J):
        numpyro.sample("y", dist.Normal(theta, data["sigma"]), obs=None if predict else data["y"])
    if predict:
        numpyro.deterministic("theta_max", jnp.max(theta))


def eight_schools() -> FakeModel:
    """The non-centred eight-schools model with school names as coordinates."""
    J = len(Y)
    sites = [
        SiteInfo("J", DATA, (), ()),
        SiteInfo("sigma", DATA, (J,), ("school",)),
        SiteInfo("mu", PARAM, (), (), distribution="normal"),
        SiteInfo("tau", PARAM, (), (), constraint="<lower=0>", distribution="cauchy"),
        SiteInfo("eta", PARAM, (J,), ("school",), distribution="normal"),
        SiteInfo("theta", DETERMINISTIC, (J,), ("school",)),
        SiteInfo("y", OBSERVED, (J,), ("school",), distribution="normal"),
        SiteInfo("theta_max", GENERATED, (), ()),
    ]
    data = {"J": J, "y": np.array(Y), "sigma": np.array(SIGMA)}
    return FakeModel("eight_schools", EIGHT_SCHOOLS_SOURCE, sites, {"school": SCHOOLS}, data, _eight_schools_fn)


def _normal_normal_fn(data, predict=False):
    mu = numpyro.sample("mu", dist.Normal(0.0, data["prior_sd"]))
    with numpyro.plate("N", data["N"]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=None if predict else data["y"])


def normal_normal(y: np.ndarray, prior_sd: float = 10.0) -> FakeModel:
    """mu ~ normal(0, prior_sd); y[i] ~ normal(mu, 1): a conjugate model."""
    n = len(y)
    sites = [
        SiteInfo("mu", PARAM, (), (), distribution="normal"),
        SiteInfo("y", OBSERVED, (n,), ("obs",), distribution="normal"),
    ]
    data = {"N": n, "y": np.asarray(y, dtype=np.float32), "prior_sd": prior_sd}
    return FakeModel("normal_normal", "// normal-normal\n", sites, {"obs": list(range(n))}, data, _normal_normal_fn)


def fabricated_fit(model: FakeModel | None = None, chains: int = 4, draws: int = 100, seed: int = 0,
                   divergences: int = 0, saturated: int = 0, chain_offsets: float = 0.0, max_treedepth: int = 10):
    """A posterior ``InferenceData`` of eight schools built from random draws (no sampling).

    ``divergences`` and ``saturated`` transitions are marked in sample_stats;
    ``chain_offsets`` shifts ``mu`` by that much per chain (a bad r_hat).
    """
    from probdsl.results.inference_data import build_inference_data

    model = model or eight_schools()
    rng = np.random.default_rng(seed)
    shape = (chains, draws)
    mu = rng.normal(4.0, 3.0, shape) + chain_offsets * np.arange(chains)[:, None]
    tau = np.abs(rng.normal(0.0, 3.0, shape))
    eta = rng.normal(0.0, 1.0, shape + (8,))
    theta = mu[..., None] + tau[..., None] * eta
    flags = np.zeros(chains * draws, bool)
    flags[:divergences] = True
    depth = np.full(chains * draws, 3)
    depth[:saturated] = max_treedepth
    sigma, y = model.data["sigma"], model.data["y"]
    stats = {
        "diverging": flags.reshape(shape), "energy": rng.normal(50, 3, shape), "step_size": np.full(shape, 0.4),
        "tree_depth": depth.reshape(shape), "n_steps": 2 ** depth.reshape(shape) - 1,
        "lp": rng.normal(-45, 3, shape), "acceptance_rate": rng.uniform(0.6, 1.0, shape),
    }
    log_lik = {"y": -0.5 * ((y - theta) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))}
    predictive = {"y": rng.normal(theta, sigma)}
    posterior = {"mu": mu, "tau": tau, "eta": eta, "theta": theta, "theta_max": theta.max(-1)}
    config = {"method": "nuts", "chains": chains, "draws": draws, "max_treedepth": max_treedepth, "seed": seed}
    return build_inference_data(model, posterior, stats, log_lik, predictive, config, seed)
