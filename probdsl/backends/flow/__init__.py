"""Flow-matching amortized posteriors: train once on the model's own simulations
(``amortized.train_flow``), then get the posterior of any dataset of the trained
layout by solving one ODE (``fit.fit_flow``); calibration by SBC (``sbc.py``)."""

from probdsl.backends.flow.amortized import NETWORKS, TrainedFlow, train_flow
from probdsl.backends.flow.fit import FlowConfig, fit_flow
from probdsl.backends.flow.train import TrainConfig

__all__ = ["NETWORKS", "FlowConfig", "TrainConfig", "TrainedFlow", "fit_flow", "train_flow"]
