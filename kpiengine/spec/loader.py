"""Load a spec folder: read every YAML file, merge each section, build the :class:`Project`, check it.

The loader knows no section by name: it asks the plugin registry for the
registered :class:`~kpiengine.sections.SpecSection` objects and lets each one
merge, build and check its part. All problems of all files are collected in
one pass and raised together as a :class:`~kpiengine.errors.SpecError`, so an
ops person fixes everything at once.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import Location, SpecError, SpecIssue
from ..plugins import default_registry
from ..sections import LIST, NAMED, SINGLE, CheckContext, SpecSection
from .dialect import known_dialect
from .files import spec_files
from .gcpause import paused_gc
from .limits import MAX_FILE_BYTES
from .located import LDict, LList, loc_of
from .model import Project
from .schema import validate_document
from .sqlsafety import reading
from .yamlsrc import load_yaml_text


def load_project(folder: str | os.PathLike, *, validate: bool = True, registry=None) -> Project:
    """Load and validate the project in ``folder``; raise SpecError listing every problem."""
    with paused_gc():
        project, issues = load_project_unchecked(folder, registry=registry)
        if validate:
            issues.extend(validate_project(project, registry=registry))
    if any(i.is_error for i in issues):
        raise SpecError(issues)
    project.warnings = issues  # the spec runs; the command line shows them
    return project


def load_project_unchecked(folder: str | os.PathLike, *, registry=None) -> tuple[Project, list[SpecIssue]]:
    """Read, schema-check and build the project; semantic checks are left to :func:`validate_project`."""
    registry = registry or default_registry()
    root = Path(folder)
    if not root.exists():
        raise SpecError([SpecIssue(f"spec folder {str(root)!r} does not exist",
                                   hint="pass --spec PATH or run from a folder with kpi_specs/", code="io")])
    files = spec_files(root)
    if not files:
        raise SpecError([SpecIssue(f"no .yml or .yaml files in {str(root)!r}",
                                   hint="copy a spec from kpi_specs/ to start", code="io")])
    sections = {s.name: s for s in registry.spec_sections}
    merged: dict[str, Any] = {name: None for name in sections}
    issues: list[SpecIssue] = []
    unread: list[str] = []  # files that could not be parsed: what they define is missing
    schema_broken: set[str] = set()  # sections the schema found errors in
    digest = hashlib.sha256()
    display_root = root if root.is_dir() else root.parent
    for path in files:
        rel = os.path.relpath(path, Path.cwd()) if path.is_absolute() else str(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                issues.append(SpecIssue(f"spec file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                                        Location(rel, 1, 1), hint="split it into several files of the folder",
                                        code="io"))
                continue
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            issues.append(SpecIssue(f"cannot read the file: {exc.strerror or exc}", Location(rel, 1, 1),
                                    code="io"))
            continue
        except UnicodeDecodeError as exc:
            issues.append(SpecIssue(f"file is not UTF-8 text: {exc.reason} at byte {exc.start}",
                                    Location(rel, 1, 1), hint="save the file as UTF-8", code="io"))
            continue
        digest.update(str(path.relative_to(display_root)).encode() + b"\0" + text.encode() + b"\0")
        doc, yaml_issues = load_yaml_text(text, rel)
        issues.extend(yaml_issues)
        if doc is None:  # an empty file is harmless; a broken one is already reported
            if yaml_issues:
                unread.append(rel)
            continue
        issues.extend(validate_document(doc, rel, registry, broken=schema_broken))
        if not isinstance(doc, LDict):
            continue
        for key, value in doc.items():
            if key in sections:  # an unknown key is reported by the schema
                merged[key] = _merge(sections[key], merged[key], value, doc.key_locs[key], issues)

    project = Project(name=root.resolve().name, folder=str(display_root), version=digest.hexdigest()[:16],
                      files=[str(f) for f in files], sections=merged, unread_files=unread,
                      schema_broken=schema_broken)
    for section in registry.spec_sections:
        issues.extend(_guarded(section, "build", lambda s=section: _build(s, project, merged[s.name]), project))
    return project, issues


def _build(section: SpecSection, project: Project, value: Any) -> list[SpecIssue]:
    found: list[SpecIssue] = []
    section.build(project, value, found)
    return found


def _merge(section: SpecSection, so_far: Any, value: Any, key_loc: Location, issues: list[SpecIssue]) -> Any:
    """Add one file's value of a section to what the earlier files gave."""
    if section.merge == SINGLE:
        if so_far is not None:
            issues.append(SpecIssue(f"`{section.name}:` is defined twice (first at {loc_of(so_far)})", key_loc,
                                    hint=f"keep one {section.name} section", code="duplicate"))
            return so_far
        return value
    if section.merge == LIST:
        if not isinstance(value, list):
            return so_far  # the schema reported it
        if so_far is None:
            return _located_list(value)
        so_far.extend(value)
        so_far.item_locs.extend(value.item_locs if isinstance(value, LList) else [None] * len(value))
        return so_far
    assert section.merge == NAMED
    if not isinstance(value, LDict):
        return so_far  # the schema reported it
    combined = so_far if so_far is not None else _empty_like(value)
    for name, body in value.items():
        if name in combined:
            issues.append(SpecIssue(
                f"{section.item_name} '{name}' is defined twice (first at {combined.key_locs[name]})",
                value.key_locs[name], hint="names are unique across all spec files; rename one", code="duplicate"))
            continue
        combined[name] = body
        combined.key_locs[name] = value.key_locs[name]
        combined.value_locs[name] = value.value_locs[name]
    return combined


def _empty_like(value: LDict) -> LDict:
    out = LDict()
    out.loc = value.loc  # where the section is first written
    return out


def _located_list(value: list) -> LList:
    out = LList(value)
    out.loc = loc_of(value)
    out.item_locs = list(value.item_locs) if isinstance(value, LList) else [None] * len(value)
    return out


def validate_project(project: Project, registry=None) -> list[SpecIssue]:
    """Every section's semantic checks, in section order; then each valid section completes the project."""
    registry = registry or default_registry()
    context = CheckContext(registry=registry, dialect_of=lambda source: _dialect_of(project, registry, source))
    for section in registry.spec_sections:
        with reading(known_dialect(project.sql_dialect)):  # user SQL is parsed in project.sql_dialect
            found = _guarded(section, "check", lambda s=section: list(s.check(project, context)), project)
        context.issues.extend(found)
        if not found:
            done = _guarded(section, "complete", lambda s=section: list(s.complete(project, context)), project)
            if context.issues or project.schema_broken:  # derived objects of a project already known to be broken: its errors say why
                done = [i for i in done if i.code != "internal"]
            context.issues.extend(done)
    if project.unread_files:
        # A name defined in a file that could not be parsed is not unknown: say the parse error once.
        return [i for i in context.issues if i.code != "reference"]
    return context.issues


def _dialect_of(project: Project, registry, source: str) -> str:
    spec = project.sources.get(source)
    cls = registry.source_types.get(spec.type) if spec is not None else None
    return getattr(cls, "dialect", None) or "duckdb"


def _guarded(section: SpecSection, step: str, fn, project: Project) -> list[SpecIssue]:
    """Run one step of a section: never raises, and every issue it gives has a location."""
    try:
        found = list(fn())
    except Exception as exc:  # a bug in one section must not hide the other findings
        if os.environ.get("KPIENGINE_DEBUG"):
            raise
        if section.name in project.schema_broken:
            return []  # a section tripping over input its schema already rejected: that message says it
        found = [SpecIssue(f"internal error in the {step} step of section '{section.name}': {exc!r}",
                           hint="please report this as a kpiengine bug (KPIENGINE_DEBUG=1 shows a traceback)",
                           code="internal")]
    where = loc_of(project.sections.get(section.name)) or project.project_loc
    for issue in found:
        if issue.location is None and where is not None:
            issue.location = where  # a value without a location of its own (a number): its section's
    return found
