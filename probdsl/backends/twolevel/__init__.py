"""Two-level surrogate MCMC: a cheap coarse level screens proposals, the model as written corrects
them (delayed acceptance, exact for the model's posterior), or the two-level estimator of
posterior means."""

from probdsl.backends.twolevel.fit import TwoLevelConfig, fit_twolevel
from probdsl.backends.twolevel.surrogates import coarse_level

__all__ = ["TwoLevelConfig", "coarse_level", "fit_twolevel"]
