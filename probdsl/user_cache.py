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
    """``directory``, created private if needed and checked writable; raises ``OSError`` otherwise.

    What the cache holds is run as code when loaded (Lark unpickles its parser tables, JAX loads
    compiled programs), so a directory that another user owns or can write to is refused.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = directory.stat()
    if hasattr(os, "getuid") and (status.st_uid != os.getuid() or status.st_mode & 0o022):
        raise PermissionError(f"another user owns it or can write to it, and the cache holds code "
                              f"(`chmod go-w` it, or choose another with ${CACHE_DIR_ENV})")
    tempfile.TemporaryFile(dir=directory).close()
    return directory
