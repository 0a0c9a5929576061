"""What a flow is trained on: the parameters it learns and the observations it conditions on.

A ``Layout`` is read off a model bound to data: the sampled parameter sites
(in the unconstrained space, so no mass can leak outside a bounded support),
flattened to one vector ``theta``, and the observed sites, flattened to one
vector ``x`` (or, for the transformer, one token per row).  It is stored with
the trained network and checked against the data a posterior is asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from probdsl.backends.draws import site_names
from probdsl.errors import Diagnostic, UsageError
from probdsl.model_interface import OBSERVED, PARAM, ModelLike


@dataclass(frozen=True)
class Block:
    """One named array inside a flat vector: ``values[offset:offset + size].reshape(shape)``."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


def blocks(shapes: list[tuple[str, tuple[int, ...]]]) -> list[Block]:
    out, offset = [], 0
    for name, shape in shapes:
        out.append(Block(name, tuple(int(n) for n in shape), offset))
        offset += out[-1].size
    return out


def blocks_to_json(layout) -> list:
    return [[b.name, list(b.shape)] for b in layout]


def blocks_from_json(rows: list) -> tuple[Block, ...]:
    return tuple(blocks([(name, tuple(shape)) for name, shape in rows]))


def flatten(values: dict, layout: list[Block]) -> np.ndarray:
    """One vector of ``values[name]``, raveled and concatenated in layout order."""
    return np.concatenate([np.asarray(values[b.name], float).reshape(b.size) for b in layout])


def unflatten(vector, layout: list[Block]) -> dict:
    """The inverse of ``flatten`` for any leading axes (NumPy or JAX arrays)."""
    lead = vector.shape[:-1]
    return {b.name: vector[..., b.offset:b.offset + b.size].reshape(lead + b.shape) for b in layout}


@dataclass(frozen=True)
class Layout:
    """The flat layout of a model's parameters and observations, and the design it was simulated on.

    ``params``: sampled sites the flow learns, unconstrained (``mu``, or ``tau__u`` for a parameter
    whose support depends on others); ``observations``: observed sites; ``rows``: the size of the
    observation dimension for a transformer (each row one token), else None; ``design``: a digest of
    every data value that is not an observation (covariates and sizes), which the network assumes.
    """

    model_hash: str
    params: tuple[Block, ...]
    observations: tuple[Block, ...]
    design: str
    design_sizes: dict = field(default_factory=dict)
    marginal: bool = False      # True: some parameters are left out (integrated over), not learned

    @property
    def theta_dim(self) -> int:
        return sum(b.size for b in self.params)

    @property
    def x_dim(self) -> int:
        return sum(b.size for b in self.observations)

    def to_json(self) -> dict:
        return {"model_hash": self.model_hash, "params": blocks_to_json(self.params),
                "observations": blocks_to_json(self.observations), "design": self.design,
                "design_sizes": self.design_sizes, "marginal": self.marginal}

    @classmethod
    def from_json(cls, data: dict) -> "Layout":
        return cls(data["model_hash"], blocks_from_json(data["params"]), blocks_from_json(data["observations"]),
                   data["design"], dict(data["design_sizes"]), bool(data["marginal"]))


def model_hash(model: ModelLike) -> str:
    return hashlib.sha256(model.source.encode()).hexdigest()


def sampled_params(model: ModelLike) -> list[tuple[str, tuple[int, ...]]]:
    """The parameter sites NumPyro samples (``name`` or ``name__u``), with their shapes, in model order.

    Discrete parameters are summed out of the model, so they are not among them (the flow's posterior
    recovers them from the continuous ones, as the other backends do)."""
    return [(name, tuple(site["value"].shape)) for name, site in prior_trace(model).items()
            if site["type"] == "sample" and not site["is_observed"]]


def prior_trace(model: ModelLike) -> dict:
    """The NumPyro trace of one run of the model at a prior draw (its sites, their distributions and shapes)."""
    import jax
    import numpyro
    from numpyro import handlers

    with handlers.block(), numpyro.validation_enabled(False):  # a draw may overflow: simulate() counts those
        return handlers.trace(handlers.seed(model.numpyro_model, jax.random.PRNGKey(0))).get_trace(model.data)


def design_digest(model: ModelLike, per_row: bool = False) -> tuple[str, dict]:
    """A digest of the data the simulations were run on (all but the observations) and its sizes;
    ``per_row``: leaving out the columns indexed by rows and the row count (a transformer's inputs)."""
    observed = site_names(model, OBSERVED)
    skipped = set(model.row_plan.row_data) | {model.row_plan.size} if per_row else set()
    digest = hashlib.sha256()
    for name, value in sorted(model.constant_data().items()):
        if name in observed or name in skipped:
            continue
        value = np.ascontiguousarray(np.asarray(value, float))
        digest.update(name.encode() + str(value.shape).encode() + value.tobytes())
    sizes = {name: int(len(labels)) for name, labels in sorted(model.coords.items())
             if not (per_row and len(labels) == model.row_plan.rows)}
    return digest.hexdigest()[:16], sizes


def layout_for(model: ModelLike, params: list[str] | None = None, per_row: bool = False) -> Layout:
    """The layout of ``model``: every sampled parameter, or those named in ``params`` (``per_row``: for a
    transformer, whose inputs are the rows)."""
    _refuse_unsupported(model)
    sampled = sampled_params(model)
    by_param = {name.removesuffix("__u"): (name, shape) for name, shape in sampled}
    if params:
        unknown = [p for p in params if p not in by_param]
        if unknown:
            raise UsageError(Diagnostic("E505", f"--params: no continuous parameter named {', '.join(unknown)}",
                                        hint=f"the model's parameters: {', '.join(by_param)}"))
        dynamic = [p for p in params if by_param[p][0].endswith("__u")]
        if dynamic:
            raise UsageError(Diagnostic("E505", f"--params: the support of {', '.join(dynamic)} depends on other "
                                        "parameters, so it cannot be learned alone",
                                        hint="leave --params out, or name those parameters too and all they "
                                             "depend on"))
        chosen = [by_param[p] for p in by_param if p in params]
    else:
        chosen = sampled
    shapes = [(s.name, s.shape) for s in model.sites if s.role == OBSERVED]
    design, sizes = design_digest(model, per_row)
    return Layout(model_hash(model), tuple(blocks(chosen)), tuple(blocks(shapes)), design, sizes,
                  marginal=len(chosen) < len(sampled))


def _refuse_unsupported(model: ModelLike) -> None:
    flat = sorted(s.name for s in model.sites if s.role == PARAM and s.flat_prior)
    if flat:
        raise UsageError(Diagnostic(
            "E420", f"a flow is trained on simulations from the prior, and `flat()` is not a distribution one "
                    f"can draw from: {', '.join(flat)}",
            hint="give each parameter a proper prior (`~ normal(0, 10)`, say)"))
    imputed = sorted(s.name for s in model.sites if s.imputed)
    if imputed:
        raise UsageError(Diagnostic(
            "E420", f"the data have missing values ({', '.join(imputed)}), which a flow cannot condition on",
            hint="drop the rows with missing values, or fit with --method nuts, which imputes them"))
    if not site_names(model, OBSERVED):
        raise UsageError(Diagnostic("E420", "the model observes nothing, so there is nothing to condition on",
                                    hint="add a likelihood (`y ~ ...`) or a simulated observation"))


def check_layout(model: ModelLike, layout: Layout, flow_file: str, max_rows: int | None = None) -> None:
    """Refuse data the network was not trained for: another model, other sizes or another design
    (``max_rows``: a transformer's most rows; the other row counts and covariates are its inputs)."""
    if model_hash(model) != layout.model_hash:
        raise UsageError(Diagnostic("E421", f"{flow_file} was trained on another version of the model file",
                                    hint="train again: `probdsl train MODEL DATA`"))
    if max_rows is not None and model.row_plan.rows > max_rows:
        raise UsageError(Diagnostic("E421", f"the data have {model.row_plan.rows} rows; {flow_file} was trained "
                                    f"for at most {max_rows}", hint="train with a larger --max-rows"))
    design, sizes = design_digest(model, per_row=max_rows is not None)
    changed = [f"{name} = {sizes.get(name)} (trained for {value})" for name, value in layout.design_sizes.items()
               if sizes.get(name) != value]
    if changed:
        raise UsageError(Diagnostic("E421", f"the data do not have the layout {flow_file} was trained for: "
                                    + "; ".join(changed),
                                    hint="train on data of this size, or use a transformer flow "
                                         "(`probdsl train --network transformer`), which takes any number of rows"))
    if design != layout.design:
        raise UsageError(Diagnostic("E421", f"the covariates (data that are not observations) differ from those "
                                    f"{flow_file} was trained with",
                                    hint="train with this data file: the network's posterior holds for the design "
                                         "it was simulated on"))
