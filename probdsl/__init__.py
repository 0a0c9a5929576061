"""probdsl: a declarative probabilistic modelling language compiled to NumPyro."""

from probdsl.errors import DataError, ModelError, ProbdslError, RuntimeModelError, SyntaxErrorPdl, UsageError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "ModelError",
    "ProbdslError",
    "RuntimeModelError",
    "SyntaxErrorPdl",
    "UsageError",
    "__version__",
]
