"""Smoke test of bench/vi: gradient counting, and NUTS and Pathfinder on a regression whose posterior
is known exactly (normal prior, known noise), scored and judged against the targets (VI's rows only
read its fit's config: the full run covers them)."""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).parent.parent
_spec = importlib.util.spec_from_file_location("bench_vi_run", ROOT / "bench" / "vi" / "run.py")
bench = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # dataclasses look the module up
_spec.loader.exec_module(bench)

MODEL = """
data int<lower=0> N;
data matrix[N, 2] X;
data vector[N] y;
param vector[2] b ~ normal(0, 10);
y ~ normal(X * b, 1);
"""


def exact_regression(rows: int = 40, seed: int = 3):
    """Data, and the exact posterior of ``b``: N(S X'y, S) with S = (X'X + I / 100)^-1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
    y = x @ np.array([1.5, -0.5]) + rng.normal(size=rows)
    cov = np.linalg.inv(x.T @ x + np.eye(2) / 100)
    mean, sd = cov @ x.T @ y, np.sqrt(np.diag(cov))
    reference = {f"b[{i + 1}]": {"mean": mean[i], "sd": sd[i]} for i in range(2)}
    cond = np.linalg.cond(cov / np.outer(sd, sd))
    return {"N": rows, "X": x, "y": y}, reference, cond


def test_counter_counts_values_and_gradients_exactly():
    counter = bench.EvaluationCounter()
    model = SimpleNamespace(log_density=lambda u: -0.5 * jnp.sum(u["x"] ** 2))
    counter.install(model)
    point = {"x": jnp.ones(3)}
    jax.jit(jax.value_and_grad(model.log_density))(point)
    assert (counter.values, counter.gradients) == (0, 1)
    jax.jit(jax.vmap(model.log_density))({"x": jnp.ones((5, 3))})
    assert (counter.values, counter.gradients) == (5, 1)
    jax.vmap(jax.grad(model.log_density))({"x": jnp.ones((4, 3))})
    assert (counter.values, counter.gradients) == (5, 5)


def test_bench_vi_scores_fits_against_an_exact_posterior(tmp_path, capsys):
    data, reference, cond = exact_regression()
    (tmp_path / "regression.pdl").write_text(MODEL)
    case = bench.Case("regression", tmp_path / "regression.pdl", data, True, reference, cond)
    args = SimpleNamespace(seed=1, chains=2, nuts_warmup=200, nuts_draws=200, draws=250, x64=False, quiet=True,
                           count_in_timed_run=True)
    rows = {r["method"]: r for r in bench.run_case(case, ["nuts", "pathfinder"], args)}
    assert all("error" not in r for r in rows.values()), rows
    nuts, pathfinder = rows["nuts"], rows["pathfinder"]
    assert nuts["gradients"] > nuts["warmup_gradients"] > 0
    assert pathfinder["gradients"] > 0 and pathfinder["density_evaluations"] >= 4000  # the PSIS pool: 4 paths x 1000
    for r in rows.values():  # a Gaussian posterior: both get the means
        assert r["mean_err_max"] < 0.3 and r["mean_err_mean"] <= r["mean_err_max"] and r["missing"] == 0
    result = bench.targets(list(rows.values()), {"regression": case})
    assert [(t["method"], t["met"]) for t in result["well_conditioned"]] == [("pathfinder", True)]
    assert result["second_met"]
    bench.print_tables(list(rows.values()), {"regression": case}, result)
    assert "| regression | pathfinder |" in capsys.readouterr().out
