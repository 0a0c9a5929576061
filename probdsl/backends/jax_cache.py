"""JAX's persistent compilation cache, kept in a per-user directory.

Compiling the sampler takes most of the time of a small fit.  With the cache on,
a later fit of the same model with the same data shapes, options and JAX version
loads the compiled XLA programs from disk instead of compiling them again
(tracing the model still happens on every run).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from probdsl.user_cache import cache_root, writable_directory


class CompilationCacheWarning(RuntimeWarning):
    """The cache directory cannot be used; compilation goes on without the cache."""


def default_cache_dir() -> Path:
    """``jax`` in probdsl's cache directory (see ``probdsl.user_cache``)."""
    return cache_root() / "jax"


def enable_compilation_cache(directory: Path | str | None = None) -> Path | None:
    """Cache every compiled JAX program in ``directory`` (default: ``default_cache_dir()``).

    Applies to compilations after the call, for the rest of the process.  Returns the
    directory, or None, with a ``CompilationCacheWarning``, when it cannot be created or written.
    """
    import jax

    directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
    try:
        writable_directory(directory)
    except OSError as e:
        reason = e.strerror or str(e)
        warnings.warn(f"compilation cache disabled: cannot write to `{directory}`: {reason}",
                      CompilationCacheWarning, stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # cache even quick compilations
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # and small programs, whatever the filesystem
    return directory
