"""probdsl's per-user cache directory: the parser tables and JAX's compiled programs.

``$PROBDSL_CACHE_DIR``, else ``$XDG_CACHE_HOME/probdsl``, else ``~/.cache/probdsl``.
Everything in it can be deleted at any time; ``PROBDSL_NO_CACHE=1`` or ``turn_off()`` (the
CLI's ``--no-cache``) turns it off.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_DIR_ENV = "PROBDSL_CACHE_DIR"
NO_CACHE_ENV = "PROBDSL_NO_CACHE"


def cache_root() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "probdsl"


_off = False


def turn_off() -> None:
    """No cache for the rest of this process."""
    global _off
    _off = True


def turned_off() -> bool:
    return _off or os.environ.get(NO_CACHE_ENV, "") not in ("", "0")


def writable_directory(directory: Path) -> Path:
    """``directory``, created if needed and checked writable; raises ``OSError`` otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=directory).close()
    return directory
