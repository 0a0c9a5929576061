"""Turn backend draws into an ArviZ ``InferenceData`` with named dims and provenance."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import Any, Mapping

import arviz as az
import numpy as np
import xarray as xr

from probdsl.model_interface import DETERMINISTIC, GENERATED, OBSERVED, PARAM, ModelLike, SiteInfo

POSTERIOR_ROLES = (PARAM, DETERMINISTIC, GENERATED)


def build_inference_data(
    model: ModelLike,
    samples_by_chain: Mapping[str, Any],
    sample_stats: Mapping[str, Any],
    log_lik: Mapping[str, Any],
    posterior_predictive: Mapping[str, Any],
    config_dict: Mapping[str, Any],
    seed: int,
) -> az.InferenceData:
    """Posterior draws, shaped ``(chain, draw, ...)``, as an ``InferenceData``.

    ``samples_by_chain`` holds parameters, deterministic and generated sites;
    ``log_lik`` and ``posterior_predictive`` hold the observed sites.
    """
    groups = {
        "posterior": _draws_dataset(model, samples_by_chain, POSTERIOR_ROLES),
        "sample_stats": _draws_dataset(model, sample_stats, None),
        "log_likelihood": _draws_dataset(model, log_lik, (OBSERVED,)),
        "posterior_predictive": _draws_dataset(model, posterior_predictive, (OBSERVED,)),
        **_data_groups(model),
    }
    return _assemble(model, groups, config_dict, seed)


def build_prior_inference_data(
    model: ModelLike, prior: Mapping[str, Any], config_dict: Mapping[str, Any], seed: int
) -> az.InferenceData:
    """Prior draws shaped ``(chain, draw, ...)``: groups ``prior`` and ``prior_predictive``."""
    groups = {
        "prior": _draws_dataset(model, prior, POSTERIOR_ROLES),
        "prior_predictive": _draws_dataset(model, prior, (OBSERVED,)),
        **_data_groups(model),
    }
    return _assemble(model, groups, config_dict, seed)


def build_predictions_inference_data(
    model: ModelLike, posterior, predictions: Mapping[str, Any], config_dict: Mapping[str, Any], seed: int
) -> az.InferenceData:
    """Predictions for new data: groups ``posterior`` (the fit's dataset, as given),
    ``predictions`` (observed, deterministic and generated sites) and ``predictions_constant_data``."""
    groups = {
        "posterior": posterior,
        "predictions": _draws_dataset(model, predictions, (OBSERVED, DETERMINISTIC, GENERATED)),
        "predictions_constant_data": _static_dataset(model, model.constant_data()),
    }
    return _assemble(model, groups, config_dict, seed)


def provenance_attrs(model: ModelLike, config_dict: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Root attributes recording how a result was produced.

    A model with a ``result_attrs() -> dict`` method (optional, checked with hasattr)
    adds its own attributes (netCDF-compatible values: str, int, float).
    """
    import jax
    import numpyro

    from probdsl import __version__

    versions = {"numpyro": numpyro.__version__, "jax": jax.__version__, "arviz": az.__version__, "numpy": np.__version__}
    extra = model.result_attrs() if hasattr(model, "result_attrs") else {}
    return {
        **extra,
        "model_name": model.name,
        "model_source": model.source,
        "data_hash": model.data_hash(),
        "config": json.dumps(dict(config_dict), sort_keys=True),
        "seed": int(seed),
        "probdsl_version": __version__,
        "versions": json.dumps(versions, sort_keys=True),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def recorded_config(idata) -> dict[str, Any]:
    """The configuration recorded in a result's ``config`` attribute ({} when absent)."""
    try:
        return json.loads(idata.attrs.get("config", "{}"))
    except json.JSONDecodeError:
        return {}


def _data_groups(model: ModelLike) -> dict[str, xr.Dataset]:
    return {
        "observed_data": _static_dataset(model, model.observed_data()),
        "constant_data": _static_dataset(model, model.constant_data()),
    }


def _assemble(model: ModelLike, groups: dict[str, xr.Dataset], config_dict, seed) -> az.InferenceData:
    """An ``InferenceData`` of the non-empty ``groups`` with provenance attributes."""
    groups = {name: ds for name, ds in groups.items() if ds.data_vars}
    return az.InferenceData(attrs=provenance_attrs(model, config_dict, seed), **groups)


def _draws_dataset(model: ModelLike, values: Mapping[str, Any], roles: tuple[str, ...] | None) -> xr.Dataset:
    """A dataset of ``(chain, draw, ...)`` arrays; ``roles`` keeps only sites with these roles."""
    sites = {s.name: s for s in model.sites}
    if roles is not None:
        values = {s.name: values[s.name] for s in model.sites if s.role in roles and s.name in values}
    builder = _DatasetBuilder(model.coords)
    if values:
        chains, draws = np.shape(next(iter(values.values())))[:2]
        builder.coords.update(chain=np.arange(chains), draw=np.arange(draws))
    for name, value in values.items():
        builder.add(name, np.asarray(value), ("chain", "draw"), sites.get(name))
    return builder.dataset()


def _static_dataset(model: ModelLike, values: Mapping[str, Any]) -> xr.Dataset:
    sites = {s.name: s for s in model.sites}
    builder = _DatasetBuilder(model.coords)
    for name, value in values.items():
        builder.add(name, np.asarray(value), (), sites.get(name))
    return builder.dataset()


class _DatasetBuilder:
    """Collects variables, giving every axis a dim name unique within its variable
    and consistent in size across the dataset."""

    def __init__(self, model_coords: Mapping[str, list]):
        self.model_coords = model_coords
        self.coords: dict[str, Any] = {}
        self.variables: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}

    def add(self, name: str, array: np.ndarray, lead: tuple[str, ...], site: SiteInfo | None) -> None:
        shape = array.shape[len(lead):]
        wanted = site.dims if site is not None and len(site.dims) == len(shape) else ()
        dims = list(lead)
        for axis, size in enumerate(shape):
            dims.append(self._dim(wanted[axis] if wanted else f"{name}_dim_{axis}", size, dims))
        self.variables[name] = (tuple(dims), array)

    def _dim(self, base: str, size: int, taken: list[str]) -> str:
        """``base``, or ``base_2``, ``base_3``, ... when taken or sized differently."""
        for k in itertools.count(1):
            dim = base if k == 1 else f"{base}_{k}"
            if dim in taken:
                continue
            if dim not in self.coords:
                labels = self.model_coords.get(base)
                self.coords[dim] = list(labels) if labels is not None and len(labels) == size else np.arange(size)
            if len(self.coords[dim]) == size:
                return dim

    def dataset(self) -> xr.Dataset:
        used = {d for dims, _ in self.variables.values() for d in dims}
        coords = {k: v for k, v in self.coords.items() if k in used}
        return xr.Dataset({k: (dims, a) for k, (dims, a) in self.variables.items()}, coords=coords)
