"""Stochastic-gradient Hamiltonian and Langevin samplers on minibatches of rows.

``integrators`` (one step of each scheme), ``target`` (the model's minibatch log
density of a flat parameter vector), ``tuning`` (mode, whitening, step, friction,
batch size), ``sampler`` (the driver: ``fit_sg(model, SgConfig(...))``).
"""

from probdsl.backends.sg.integrators import INTEGRATORS
from probdsl.backends.sg.sampler import SgConfig, fit_sg

__all__ = ["INTEGRATORS", "SgConfig", "fit_sg"]
