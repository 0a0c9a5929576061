"""Variational inference: guides fitted by ELBO maximisation (``fit_vi``) and multi-path Pathfinder
(``fit_pathfinder``), both judged by the Pareto k̂ of their importance weights."""

from probdsl.backends.vi.fit import ViConfig, fit_vi
from probdsl.backends.vi.pathfinder import PathfinderConfig, fit_pathfinder

__all__ = ["PathfinderConfig", "ViConfig", "fit_pathfinder", "fit_vi"]
