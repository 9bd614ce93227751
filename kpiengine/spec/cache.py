"""The spec cache: an unchanged spec is neither parsed, schema-checked, validated nor compiled again.

Loading a spec costs YAML parsing, the JSON Schema pass, every section's
checks and, through them, importing every plugin and sqlglot; a command over an
unchanged spec repeats all of it. A valid project is therefore pickled under
``<project folder>/.kpiengine/cache/``, and higher layers keep results derived
from it beside it (the compiled SQL of a request, see
:mod:`kpiengine.run.querycache`).

An entry is used only when its key matches, and the key covers everything the
result depends on: the bytes of every spec file and their paths, the spec
folder and working directory (locations in messages are relative to it), the
Python and kpiengine versions, the modification times of kpiengine's own
modules (an edited checkout), the installed plugins (entry points, their
distributions' versions and entry modules' times), and which ``${VAR}`` names
the spec uses and whether each is set. Anything unreadable, foreign or
mismatched is a miss that loads the spec normally, so a stale cache can cost
time but never give a wrong result. An invalid spec is never cached: its
problems are reported on every run.

Secrets stay out of the file: expanded ``${VAR}`` strings are
:class:`~kpiengine.spec.yamlsrc.EnvStr` and pickle as their template,
expanded again from the environment at load; a payload that would still
contain the value of a variable the spec uses is not written at all.
``KPIENGINE_NO_CACHE=1`` turns the cache off.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from ..plugins import (
    default_registry,
    entry_points,
    installed_fingerprint,
    prime_default_registry,
)
from .files import spec_files
from .leaves import index_leaves
from .located import referenced_env_vars
from .model import Project

CACHE_FORMAT = 1
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


class SpecCache:
    """The cache entry of one loaded project: derived results are stored under the same key."""

    def __init__(self, directory: Path, key: str, secrets: list[str]):
        self.directory = directory
        self.key = key
        self._secrets = secrets

    def _path(self, kind: str, name: str) -> Path:
        return self.directory / f"{kind}-{hashlib.sha256(name.encode()).hexdigest()[:24]}.pickle"

    def get(self, kind: str, name: str) -> Any:
        """A result stored for this spec version under ``kind``/``name``, or None."""
        return _read(self._path(kind, name), f"{self.key}/{kind}/{name}")

    def put(self, kind: str, name: str, value: Any) -> bool:
        """Store a result for this spec version; False when it was not written (unpicklable, a secret in it)."""
        return _write(self._path(kind, name), f"{self.key}/{kind}/{name}", value, self._secrets)


def cache_enabled() -> bool:
    return os.environ.get("KPIENGINE_NO_CACHE", "") in ("", "0")


def load_project_cached(folder: str | os.PathLike, *, registry=None) -> Project:
    """:func:`~kpiengine.spec.loader.load_project`, from the cache when the spec and its context are unchanged."""
    root = Path(folder)
    if not cache_enabled() or not root.exists():
        return load_project(folder, registry=registry)
    files = spec_files(root)
    if not files:
        return load_project(folder, registry=registry)
    project_dir = root if root.is_dir() else root.parent
    texts = [path.read_bytes() for path in files]
    env_names = sorted(set().union(*(referenced_env_vars(t.decode("utf-8", "replace")) for t in texts)))
    key = _key(root, files, texts, env_names)
    directory = project_dir / ".kpiengine" / "cache"
    entry = f"spec-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]}.pickle"
    secrets = [os.environ[n] for n in env_names if os.environ.get(n)]
    cached = _read(directory / entry, key)
    if cached is not None and registry is None:
        project, index = cached
        prime_default_registry(index)
        project.cache = SpecCache(directory, key, secrets)
        return project
    registry = registry or default_registry()
    project = load_project(folder, registry=registry)  # raises SpecError: an invalid spec is never cached
    index_leaves(project)  # a cached run then needs no formula parsing to know what each KPI reads
    if _write(directory / entry, key, (project, registry.index()), secrets):
        _forget_others(directory, keep=key)
    project.cache = SpecCache(directory, key, secrets)
    return project


def load_project(folder, *, registry=None) -> Project:
    from .loader import (
        load_project as load,  # lazy: a cache hit needs no YAML, JSON Schema or spec sections
    )

    return load(folder, registry=registry)


def _key(root: Path, files: list[Path], texts: list[bytes], env_names: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (CACHE_FORMAT, sys.version, __version__, str(root.resolve()), os.getcwd(), _code_stamp(),
                 installed_fingerprint(), _plugin_modules_stamp(),
                 [(name, name in os.environ) for name in env_names]):
        digest.update(repr(part).encode() + b"\0")
    for path, text in zip(files, texts):
        digest.update(str(path).encode() + b"\0" + hashlib.sha256(text).digest())
    return digest.hexdigest()


def _code_stamp() -> str:
    """Modification times and sizes of kpiengine's modules: an edited checkout is a new version."""
    digest = hashlib.sha256()
    stack = [_PACKAGE_DIR]
    while stack:
        for item in sorted(os.scandir(stack.pop()), key=lambda e: e.name):
            if item.is_dir() and item.name != "__pycache__" and not item.name.startswith("."):
                stack.append(Path(item.path))
            elif item.name.endswith(".py"):
                st = item.stat()
                digest.update(f"{item.path}:{st.st_mtime_ns}:{st.st_size}\0".encode())
    return digest.hexdigest()


def _plugin_modules_stamp() -> list[tuple[str, int, int]]:
    """Times and sizes of each plugin's entry module, found without importing it (editable installs)."""
    out = []
    for ep in entry_points():
        module = ep.value.split(":")[0].strip()
        top, _, rest = module.partition(".")
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            out.append((module, -1, -1))
            continue
        base = Path(spec.origin).parent if spec.origin and not rest else None
        if rest and spec.submodule_search_locations:
            base = Path(list(spec.submodule_search_locations)[0]).joinpath(*rest.split("."))
        candidates = [base.with_suffix(".py"), base / "__init__.py"] if rest and base else \
            [Path(spec.origin)] if spec.origin else []
        found = next((c for c in candidates if c.is_file()), None)
        st = found.stat() if found else None
        out.append((module, st.st_mtime_ns if st else -1, st.st_size if st else -1))
    return sorted(out)


def _read(path: Path, key: str) -> Any:
    """The payload stored under ``key``, or None (absent, another key, foreign or unreadable file)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            # A pickle runs code when loaded: only trust a file this user wrote and nobody else can change.
            if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            if fh.readline().rstrip(b"\n") != key.encode():
                return None
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - any damage is a miss: the spec is loaded the normal way
        return None


def _write(path: Path, key: str, value: Any, secrets: list[str]) -> bool:
    try:
        body = _dumps(value)
    except Exception:  # noqa: BLE001 - a plugin's unpicklable object: run without the cache
        return False
    if any(secret.encode() in body for secret in secrets):
        return False  # an expanded secret reached a plain string somewhere: never write it down
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        with os.fdopen(fd, "wb") as fh:  # mkstemp: mode 0600, owned by this user
            fh.write(key.encode() + b"\n" + body)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
        return True
    except OSError:  # a read-only project folder: run without the cache
        return False


def _dumps(value: Any) -> bytes:
    projects = [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Project)]
    saved = [p.cache for p in projects]
    for p in projects:
        p.cache = None
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for p, c in zip(projects, saved):
            p.cache = c


def _forget_others(directory: Path, *, keep: str) -> None:
    """Derived results of older spec versions are of no use any more."""
    for item in directory.glob("*.pickle"):
        if item.name.startswith("spec-"):
            continue
        try:
            with open(item, "rb") as fh:
                if not fh.readline().startswith(keep.encode() + b"/"):
                    item.unlink()
        except OSError:
            pass
