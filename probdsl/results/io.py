"""Atomic writes and fit-file loading: a target is either fully written or untouched."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from probdsl.errors import Diagnostic, ProbdslError, UsageError
from probdsl.sema.budget import human


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is left as it was.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_netcdf_atomic(idata, path: str | os.PathLike) -> None:
    """Write an ``InferenceData`` to netCDF at ``path`` atomically."""
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp))


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable(path: str | os.PathLike, needed_bytes: int = 0) -> None:
    """Raise ``UsageError`` unless a file can be created at ``path`` (probes the directory) and its
    file system has ``needed_bytes`` free: checked before a fit, not found out after it."""
    target = Path(path)
    if target.is_dir():
        raise _unwritable(target, "it is a directory")
    if not target.parent.is_dir():
        raise _unwritable(target, f"directory `{target.parent}` does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
        free = shutil.disk_usage(target.parent).free
    except OSError as e:
        raise _unwritable(target, e.strerror or str(e)) from None
    if free < needed_bytes:
        raise _unwritable(target, f"the result needs about {human(needed_bytes)} and only {human(free)} is free there")


def load_fit(path: str | os.PathLike):
    """Read an ``InferenceData`` netCDF file fully into memory."""
    import arviz as az

    source = Path(path)
    if not source.is_file():
        raise UsageError(Diagnostic("E502", f"fit file `{source}` does not exist"))
    try:
        with az.rc_context({"data.load": "eager"}):
            return az.from_netcdf(source)
    except (OSError, ValueError) as e:
        raise ProbdslError(Diagnostic("E503", f"cannot read fit file `{source}`: {e}")) from None


def _unwritable(target: Path, reason: str) -> UsageError:
    return UsageError(Diagnostic("E501", f"cannot write `{target}`: {reason}", hint="choose another path with --out"))


def _mode_for(target: Path) -> int:
    """The existing file's mode, else the mode a new file gets under the umask."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
