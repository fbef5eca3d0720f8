"""Atomic file and directory writes: no half-written output survives an error or a kill."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_dir", "atomic_path", "make_dir"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    An existing directory at ``path``, or a parent that cannot be made (a file in the
    way, no permission), is an :class:`InputError` before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory (expected a file to write)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only on success.

    An existing directory ``path`` is replaced whole (after the new content is complete);
    an existing file there (never replaced), or a parent that cannot be made, is an
    :class:`InputError` before anything is written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory (give a directory to write)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            old.rmdir()
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def make_dir(path: str | os.PathLike[str]) -> Path:
    """Create the directory ``path`` (and its parents) unless it exists; a file in the way
    or a directory that cannot be made is an :class:`InputError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory (give a directory to write)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path


def _cannot_write(path: Path, exc: OSError) -> InputError:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return InputError(f"{path}: cannot write here ({parent} is not a directory)")
            break
    return InputError(f"{path}: cannot write here ({exc.strerror or exc})")
