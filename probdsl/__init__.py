"""probdsl: a declarative probabilistic modelling language compiled to NumPyro."""

from probdsl.backends.jax_cache import enable_compilation_cache  # light: imports JAX only when called
from probdsl.errors import DataError, ModelError, ProbdslError, RuntimeModelError, SyntaxErrorPdl, UsageError

__version__ = "0.1.0"


def compile(path_or_source):  # noqa: A001 - the natural name for the entry point
    """Compile a model file (a Path, or a str ending in .pdl) or model source text."""
    from probdsl.api import compile as _compile

    return _compile(path_or_source)


def fit(model, data=None, **options):
    """Compile if needed, bind ``data`` and run inference; returns ArviZ InferenceData."""
    from probdsl.api import fit as _fit

    return _fit(model, data, **options)


def train(model, data=None, **options):
    """Train a flow on the model's own simulations (``fit(..., method="flow", flow=...)`` then uses it)."""
    from probdsl.api import train as _train

    return _train(model, data, **options)


__all__ = [
    "DataError",
    "ModelError",
    "ProbdslError",
    "RuntimeModelError",
    "SyntaxErrorPdl",
    "UsageError",
    "__version__",
    "compile",
    "enable_compilation_cache",
    "fit",
    "train",
]
