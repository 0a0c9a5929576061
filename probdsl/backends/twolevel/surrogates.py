"""The coarse level of a two-level fit, from what the user chose (``--surrogate``):

- ``coarse``: the model's own coarse level, where each ``fine_coarse(fine, coarse)`` call
  evaluates its second argument;
- another bound model (a second ``.pdl`` file on the same data) with the same parameters;
- ``neural``: the model with a neural network in place of its expensive definitions
  (``neural.py``).
"""

from __future__ import annotations

from probdsl.errors import Diagnostic, ModelError
from probdsl.model_interface import PARAM, ModelLike

KINDS = ("coarse", "neural")


def coarse_level(model: ModelLike, surrogate, *, emulate=None, training: int = 500, seed: int = 0,
                 progress: bool = True) -> tuple[ModelLike, dict]:
    """The coarse model and a record of what it is (``{"surrogate": ..., ...}``)."""
    if surrogate is None:
        surrogate = "coarse"
    if surrogate == "coarse":
        if not model.has_coarse_level:
            raise ModelError(Diagnostic(
                "E406", f"`{model.name}` has no coarse level for --method twolevel",
                hint="write `fine_coarse(fine, coarse)` where the model computes something expensive, pass "
                     "--surrogate FILE.pdl (a cheaper model with the same parameters), or --surrogate neural"))
        return model.at_level("coarse"), {"surrogate": "coarse"}
    if surrogate == "neural":
        from probdsl.backends.twolevel.neural import neural_level

        return neural_level(model, emulate, training, seed, progress)
    if isinstance(surrogate, str):
        from probdsl.backends.draws import option_error

        raise option_error(f"unknown surrogate `{surrogate}`",
                           "use coarse, neural, or the path of a .pdl file with the same parameters")
    _check_same_parameters(model, surrogate)
    return surrogate, {"surrogate": "file", "surrogate_file": surrogate.compiled.file}


def _check_same_parameters(model: ModelLike, coarse: ModelLike) -> None:
    def parameters(m):
        return {s.name: (s.shape, s.constraint) for s in m.sites if s.role == PARAM}

    fine, other = parameters(model), parameters(coarse)
    if fine == other:
        return
    notes = []
    for name in sorted(fine.keys() | other.keys()):
        if name not in other:
            notes.append(f"`{name}` is a parameter of `{model.name}` only")
        elif name not in fine:
            notes.append(f"`{name}` is a parameter of `{coarse.name}` only")
        elif fine[name] != other[name]:
            notes.append(f"`{name}` is {_text(fine[name])} in `{model.name}` but {_text(other[name])} in "
                         f"`{coarse.name}`")
    raise ModelError(Diagnostic(
        "E407", f"the coarse model `{coarse.name}` does not have the parameters of `{model.name}`", notes=tuple(notes),
        hint="the coarse model must declare the same parameters (names, sizes and constraints): it is the "
             "same model, computed more cheaply"))


def _text(parameter) -> str:
    shape, constraint = parameter
    return f"{constraint} of shape {shape}" if shape else constraint
