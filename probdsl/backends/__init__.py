"""Inference backends; each takes a model bound to data (``probdsl.model_interface.ModelLike``)."""

METHODS = ("nuts", "sghmc", "vi", "pathfinder", "twolevel", "flow")
