"""A spec folder as it was at a git revision, or as it is in another folder: what ``kpi diff`` compares.

``REV`` is a folder when one exists at that path; otherwise a git revision
(``HEAD~1``, a tag, a commit, ``main@{2026-07-01}``) of the repository the spec
folder lives in, whose copy of the spec folder is extracted with ``git
archive`` into a temporary folder (the working tree is never touched).
"""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import KpiEngineError


def _git(cwd: Path, *args: str, binary: bool = False):
    try:
        done = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise KpiEngineError("git is not installed: compare two folders instead (kpi diff OLD_FOLDER NEW_FOLDER)") \
            from None
    if done.returncode != 0:
        raise KpiEngineError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout if binary else done.stdout.decode().strip()


def repository_of(folder: str | os.PathLike) -> tuple[Path, str]:
    """(top of the git repository, the folder's path inside it as git writes it)."""
    folder = Path(folder).resolve()
    probe = folder if folder.is_dir() else folder.parent
    try:
        top = Path(_git(probe, "rev-parse", "--show-toplevel"))
    except KpiEngineError:
        raise KpiEngineError(f"{folder} is not inside a git repository: compare two folders instead "
                             f"(kpi diff OLD_FOLDER NEW_FOLDER)") from None
    return top, folder.relative_to(top.resolve()).as_posix()


def commit_before(folder: str | os.PathLike, day: str) -> str | None:
    """The last commit touching the spec folder on or before ``day`` (YYYY-MM-DD), or None."""
    top, inside = repository_of(folder)
    found = _git(top, "rev-list", "-1", f"--before={day} 23:59:59", "HEAD", "--", inside or ".")
    return found or None


@contextmanager
def spec_at(revision: str, spec_folder: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield (folder to load, label) for a folder path or a git revision of ``spec_folder``."""
    if Path(revision).is_dir():
        yield str(revision), str(revision)
        return
    top, inside = repository_of(spec_folder)
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except KpiEngineError:
        raise KpiEngineError(f"{revision!r} is neither a folder nor a git revision of {top}") from None
    archive = _git(top, "archive", "--format=tar", commit, "--", inside or ".", binary=True)
    with tempfile.TemporaryDirectory(prefix="kpi-diff-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield str(Path(tmp) / inside) if inside else tmp, f"{revision} ({commit[:10]})"
