"""The compiled-model interface every backend and the results layer use.

Backends never import the parser or the checker: they receive a
:class:`ModelLike` (in practice :class:`probdsl.compiled.BoundModel`, a compiled
model bound to data) and use only what is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from probdsl.errors import Span

# Site roles
PARAM = "param"                  # a sampled parameter
DETERMINISTIC = "deterministic"  # derived, feeds the density (Stan's transformed parameters)
GENERATED = "generated"          # derived per draw, not in the density (Stan's generated quantities)
OBSERVED = "observed"            # a likelihood site `data ~ dist(...)`, or a simulated observation
DATA = "data"                    # declared data
TRANSFORMED_DATA = "transformed_data"


@dataclass(frozen=True)
class SiteInfo:
    """Metadata of one named quantity of the model."""

    name: str
    role: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]            # one distinct name per axis (xarray needs distinct names)
    span: Span | None = None          # where the model defines it
    constraint: str = "real"         # human text: "real", "<lower=0>", "simplex", ...
    distribution: str | None = None  # Stan name of its distribution, for params and observed sites
    discrete: bool = False
    flat_prior: bool = False
    imputed: bool = False            # the missing entries of a data variable (`y_missing`), sampled like a parameter
    simulated: bool = False          # an observation defined from parameters and random draws: no likelihood


class ModelLike(Protocol):
    name: str                        # model stem, e.g. "eight_schools"
    source: str                      # the model text
    sites: list[SiteInfo]
    coords: dict[str, list]          # dim name -> coordinate labels (factor levels, or 0..n-1)
    data: dict[str, Any]             # prepared data passed to the NumPyro model

    def numpyro_model(self, data: Mapping[str, Any], predict: bool = False, from_prior: bool = False) -> None:
        """The NumPyro model; ``predict`` draws observations, ``from_prior`` ignores the data for discrete latents."""
    def observed_data(self) -> dict[str, Any]: ...
    def constant_data(self) -> dict[str, Any]: ...
    def data_hash(self) -> str: ...
    def refuse_simulated(self, method: str | None = None) -> None:
        """Raise E409 when an observation is simulated (no likelihood), for a ``method`` that needs one."""
