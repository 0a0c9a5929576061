"""Train a flow on a model's simulations, and save or load it.

A ``.flow`` file is a NumPy ``.npz`` archive read with ``allow_pickle=False``:
the network's arrays (``leaf_0``, ``leaf_1``, ... in the order of its tree, which
is rebuilt from the stored architecture) and ``meta``, a JSON text with the model
hash, the layout, the standardisation and the training record.  Loading it runs
no code from the file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probdsl.backends.draws import begin_fit, option_error, progress_bar, show_progress, status_printer
from probdsl.backends.flow import networks, simulate as simulation
from probdsl.backends.flow.layout import Layout, check_layout, flatten, layout_for
from probdsl.backends.flow.tokens import RowLayout, padded, row_layout, tokens
from probdsl.backends.flow.train import TrainConfig, TrainingData, train
from probdsl.errors import Diagnostic, UsageError
from probdsl.model_interface import ModelLike
from probdsl.results.io import atomic_path

FORMAT = "probdsl-flow/1"
NETWORKS = ("mlp", "transformer")


@dataclass
class TrainedFlow:
    """A trained network with everything needed to use it on new data."""

    architecture: networks.Architecture
    network: object              # networks.Flow
    layout: Layout
    rows: RowLayout | None       # the transformer's token layout; None for the mlp
    theta_mean: np.ndarray
    theta_sd: np.ndarray
    x_mean: np.ndarray           # per observation (mlp) or per token feature (transformer)
    x_sd: np.ndarray
    record: dict

    def context_input(self, model: ModelLike):
        """The standardised network input for ``model``'s observed data: ``(x, mask)``."""
        if self.rows is None:
            x = flatten(model.observed_data(), list(self.layout.observations))
            return (x - self.x_mean) / self.x_sd, np.ones(1, bool)
        values = {**model.constant_data(), **model.observed_data()}
        rows = model.row_plan.rows
        full, count = padded(tokens(values, self.rows, rows), self.rows.max_rows)
        mask = np.arange(self.rows.max_rows) < count
        return np.where(mask[:, None], (full - self.x_mean) / self.x_sd, 0.0), mask

    def check(self, model: ModelLike, file: str) -> None:
        check_layout(model, self.layout, file, None if self.rows is None else self.rows.max_rows)

    # -- files --------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the flow to ``path`` atomically (a temporary file, then a rename)."""
        import equinox as eqx
        import jax

        leaves = jax.tree.leaves(eqx.filter(self.network, eqx.is_array))
        meta = {"format": FORMAT, "architecture": self.architecture.to_json(), "layout": self.layout.to_json(),
                "rows": None if self.rows is None else self.rows.to_json(), "record": self.record}
        arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
        arrays.update(theta_mean=self.theta_mean, theta_sd=self.theta_sd, x_mean=self.x_mean, x_sd=self.x_sd,
                      meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "TrainedFlow":
        import equinox as eqx
        import jax

        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
            meta = json.loads(arrays["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            arch = networks.Architecture(**meta["architecture"])
            skeleton = networks.build(arch)
            params, static = eqx.partition(skeleton, eqx.is_array)
            leaves, treedef = jax.tree.flatten(params)
            stored = [arrays[f"leaf_{i}"] for i in range(len(leaves))]
            if any(a.shape != b.shape for a, b in zip(stored, leaves)) or f"leaf_{len(leaves)}" in arrays:
                raise ValueError("the stored arrays do not fit the architecture")
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise UsageError(Diagnostic("E423", f"{path}: not a flow written by `probdsl train` ({error})",
                                        hint="train one: `probdsl train MODEL DATA --out MODEL.flow`")) from None
        network = eqx.combine(jax.tree.unflatten(treedef, [jax.numpy.asarray(a) for a in stored]), static)
        rows = None if meta["rows"] is None else RowLayout.from_json(meta["rows"])
        return cls(arch, network, Layout.from_json(meta["layout"]), rows, arrays["theta_mean"], arrays["theta_sd"],
                   arrays["x_mean"], arrays["x_sd"], meta["record"])


def train_flow(model: ModelLike, config: TrainConfig) -> TrainedFlow:
    """Simulate ``config.simulations`` pairs from ``model``'s prior predictive and train a flow on them."""
    import jax

    if config.network not in NETWORKS:
        raise option_error(f"unknown network `{config.network}`", f"choose one of: {', '.join(NETWORKS)}")
    if config.simulations < 20:
        raise option_error("--simulations must be at least 20")
    seed, key = begin_fit(config)
    say = status_printer(config.progress)
    transformer = config.network == "transformer"
    layout = layout_for(model, config.params, per_row=transformer)
    rows = row_layout(model, config.max_rows, config.min_rows, config.time_column) if transformer else None
    k_sim, k_init, k_train = jax.random.split(key, 3)
    bar = progress_bar("simulating", config.simulations, show_progress(config.progress))
    sims = simulation.simulate(model, layout, k_sim, config.simulations, rows, bar)
    if bar is not None:
        bar.close()
    if sims.dropped:
        say(f"dropped {sims.dropped} simulations with non-finite values")
    theta_mean, theta_sd = sims.theta.mean(0), sims.theta.std(0) + 1e-8
    features = sims.x.reshape(-1, sims.x.shape[-1])
    x_mean, x_sd = features.mean(0), features.std(0) + 1e-8
    count = len(sims.theta)
    if transformer:
        counts = np.random.default_rng(seed).integers(rows.min_rows, rows.max_rows + 1, count)
    else:
        counts = np.full(count, 1)
    data = TrainingData((sims.theta - theta_mean) / theta_sd, (sims.x - x_mean) / x_sd, counts)
    arch = networks.Architecture(config.network, layout.theta_dim, rows.features if transformer else layout.x_dim,
                                 config.width, config.depth, config.context)
    network = networks.build(arch, int(jax.random.randint(k_init, (), 0, 2**31 - 1)))
    say(f"training a {config.network} flow on {count} simulations: {layout.theta_dim} parameters, "
        + (f"up to {rows.max_rows} rows of {rows.features} features" if transformer else
           f"{layout.x_dim} observed values"))
    network, record, _ = train(network, data, config, k_train, say)
    record.update(simulations=count, dropped_simulations=sims.dropped, seed=seed, network=config.network,
                  time_exponent=config.time_exponent, x64=config.x64)
    return TrainedFlow(arch, network, layout, rows, theta_mean, theta_sd, x_mean, x_sd, record)
