"""Cost of a compiled recurrence against the same scan written by hand in JAX.

Stochastic volatility (a latent AR(1) state), log density and gradient, T = 100, 1000, 10000.
Prints a markdown table and writes bench/recurrence_scan.json.

    python bench/recurrence_scan.py
"""

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.util import log_density

import probdsl

MODEL = """
data vector[T] y;
param real mu ~ normal(0, 10);
param real<lower=-1, upper=1> phi ~ uniform(-1, 1);
param real<lower=0> sigma ~ cauchy(0, 5);
param vector[T] h_std ~ normal(0, 1);
h[1] = mu + sigma * h_std[1] / sqrt(1 - square(phi));
for (t in 2:T) h[t] = mu + phi * (h[t - 1] - mu) + sigma * h_std[t];
y ~ normal(0, exp(h / 2));
"""


def by_hand(y):
    def log_lik(p):
        def step(h, e):
            h = p["mu"] + p["phi"] * (h - p["mu"]) + p["sigma"] * e
            return h, h
        first = p["mu"] + p["sigma"] * p["h_std"][0] / jnp.sqrt(1 - p["phi"] ** 2)
        _, rest = jax.lax.scan(step, first, p["h_std"][1:])
        h = jnp.concatenate([first[None], rest])
        return jax.scipy.stats.norm.logpdf(y, 0, jnp.exp(h / 2)).sum()
    return log_lik


def milliseconds(fn, params, repeats=50) -> float:
    fn = jax.jit(jax.value_and_grad(fn))
    fn(params)[0].block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        fn(params)[0].block_until_ready()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    model = probdsl.compile(MODEL)
    rows = []
    for T in (100, 1000, 10000):
        y = np.random.default_rng(0).normal(size=T)
        bound = model.bind({"y": y})
        params = {"mu": jnp.asarray(-0.5), "phi": jnp.asarray(0.9), "sigma": jnp.asarray(0.3), "h_std": jnp.zeros(T)}
        # the compiled model includes the priors; by hand is the likelihood alone (a lower bound on the work)
        compiled = milliseconds(lambda p: log_density(bound.numpyro_model, (bound.data,), {}, p)[0], params)
        hand = milliseconds(by_hand(jnp.asarray(y)), params)
        rows.append({"T": T, "probdsl_ms": round(compiled, 3), "hand_ms": round(hand, 3), "ratio": round(compiled / hand, 2)})
    print("| T | probdsl value+grad (ms) | hand-written scan (ms) | ratio |\n|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['T']} | {r['probdsl_ms']} | {r['hand_ms']} | {r['ratio']} |")
    out = Path(__file__).with_suffix(".json")
    out.write_text(json.dumps({"device": str(jax.devices()[0]), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
