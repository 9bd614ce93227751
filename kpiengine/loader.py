"""Load a spec folder: read every YAML file, merge, check, and build a :class:`Project`.

All problems of all files are collected in one pass and raised together as a
:class:`~kpiengine.errors.SpecError`, so an ops person fixes everything at once.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .errors import Location, SpecError, SpecIssue
from .schema import validate_document
from .spec import KpiSpec, ModelSpec, ProcessNode, Project, SourceSpec
from .yamlsrc import LDict, LList, expand_env, load_yaml_text, loc_of

# Sections that are maps of name -> definition, merged across files.
_NAMED_SECTIONS = ("sources", "models", "kpis", "funnels", "rules", "sinks")


def spec_files(folder: str | os.PathLike) -> list[Path]:
    root = Path(folder)
    if root.is_file():
        return [root]
    files = [p for ext in ("*.yml", "*.yaml") for p in root.rglob(ext)
             if not any(part.startswith(".") for part in p.relative_to(root).parts)
             and not p.name.endswith((".test.yml", ".test.yaml"))]
    return sorted(files)


def load_project(folder: str | os.PathLike, *, validate: bool = True, registry=None) -> Project:
    """Load and validate the project in ``folder``; raise SpecError listing every problem."""
    project, issues = load_project_unchecked(folder)
    if validate:
        from .validate import validate_project

        issues.extend(validate_project(project, registry=registry))
    if issues:
        raise SpecError(issues)
    return project


def load_project_unchecked(folder: str | os.PathLike) -> tuple[Project, list[SpecIssue]]:
    root = Path(folder)
    issues: list[SpecIssue] = []
    if not root.exists():
        raise SpecError([SpecIssue(f"spec folder {str(root)!r} does not exist",
                                   hint="pass --spec PATH or run from a folder with kpi_specs/", code="io")])
    files = spec_files(root)
    if not files:
        raise SpecError([SpecIssue(f"no .yml or .yaml files in {str(root)!r}",
                                   hint="copy a spec from kpi_specs/ to start", code="io")])
    merged: dict[str, LDict] = {name: LDict() for name in _NAMED_SECTIONS}
    project_section: LDict | None = None
    process_roots: list[Any] = []
    routes = None
    digest = hashlib.sha256()
    display_root = root if root.is_dir() else root.parent
    for path in files:
        rel = os.path.relpath(path, Path.cwd()) if path.is_absolute() else str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            issues.append(SpecIssue(f"file is not UTF-8 text: {exc.reason} at byte {exc.start}",
                                    Location(rel, 1, 1), hint="save the file as UTF-8", code="io"))
            continue
        digest.update(str(path.relative_to(display_root)).encode() + b"\0" + text.encode() + b"\0")
        doc, yaml_issues = load_yaml_text(text, rel)
        issues.extend(yaml_issues)
        if doc is None:  # an empty file is harmless; a broken one is already reported
            continue
        schema_issues = validate_document(doc, rel)
        issues.extend(schema_issues)
        if not isinstance(doc, LDict):
            continue
        for section in _NAMED_SECTIONS:
            block = doc.get(section)
            if not isinstance(block, LDict):
                continue
            target = merged[section]
            for name, body in block.items():
                if name in target:
                    first = target.key_locs[name]
                    issues.append(SpecIssue(
                        f"{section[:-1]} '{name}' is defined twice (first at {first})", block.key_locs[name],
                        hint="names are unique across all spec files; rename one", code="duplicate"))
                    continue
                target[name] = body
                target.key_locs[name] = block.key_locs[name]
                target.value_locs[name] = block.value_locs[name]
        if isinstance(doc.get("project"), LDict):
            if project_section is not None:
                issues.append(SpecIssue(f"`project:` is defined twice (first at {project_section.loc})",
                                        doc.key_locs["project"], hint="keep one project section", code="duplicate"))
            else:
                project_section = doc["project"]
        if isinstance(doc.get("process"), list):
            process_roots.extend(doc["process"])
        if "routes" in doc:
            if routes is not None:
                issues.append(SpecIssue("`routes:` is defined twice", doc.key_locs["routes"], code="duplicate"))
            routes = doc["routes"]

    p = project_section or LDict()
    project = Project(
        name=str(p.get("name") or root.resolve().name),
        folder=str(display_root),
        timezone=str(p.get("timezone") or "UTC"),
        default_source=p.get("default_source"),
        history_path=str(p.get("history") or ".kpiengine/history.db"),
        version=digest.hexdigest()[:16],
        files=[str(f) for f in files],
    )
    project.project_loc = loc_of(p) if project_section is not None else None  # type: ignore[attr-defined]
    _build_sources(project, merged["sources"], issues)
    _build_models(project, merged["models"])
    _build_kpis(project, merged["kpis"])
    _build_process(project, process_roots, issues)
    project.funnels = merged["funnels"]
    project.rules = merged["rules"]
    project.sinks = expand_env(merged["sinks"], issues)
    project.routes = routes
    if project.default_source is None and len(project.sources) == 1:
        project.default_source = next(iter(project.sources))
    for model in project.models.values():
        if not model.source:
            model.source = project.default_source or ""
    return project, issues


def _build_sources(project: Project, block: LDict, issues: list[SpecIssue]) -> None:
    for name, body in block.items():
        if not isinstance(body, dict):
            continue
        options = expand_env(LDict({k: v for k, v in body.items() if k != "type"}), issues)
        if isinstance(body, LDict):
            options.key_locs = {k: v for k, v in body.key_locs.items() if k != "type"}
            options.value_locs = {k: v for k, v in body.value_locs.items() if k != "type"}
            options.loc = body.loc
        project.sources[name] = SourceSpec(name=name, type=str(body.get("type", "")), options=options,
                                           location=block.loc_of(name))


def _build_models(project: Project, block: LDict) -> None:
    for name, body in block.items():
        if not isinstance(body, dict):
            continue
        dims = body.get("dimensions") or {}
        project.models[name] = ModelSpec(
            name=name, source=body.get("source") or "", table=body.get("table"), sql=body.get("sql"),
            file=body.get("file"), time=body.get("time") or "", time_format=body.get("time_format"),
            entity=body.get("entity"), dimensions=dims if isinstance(dims, dict) else {},
            description=body.get("description") or "", location=block.key_locs.get(name),
        )
        project.models[name].raw = body  # type: ignore[attr-defined]


def _build_kpis(project: Project, block: LDict) -> None:
    fields = set(KpiSpec.__dataclass_fields__) - {"name", "location"}
    for name, body in block.items():
        if not isinstance(body, dict):
            continue
        kwargs = {k: v for k, v in body.items() if k in fields}
        kwargs.setdefault("label", name)
        for listy in ("dimensions", "tags"):
            if not isinstance(kwargs.get(listy, []), list):
                kwargs[listy] = []
        kpi = KpiSpec(name=name, location=block.key_locs.get(name), **kwargs)
        kpi.raw = body  # type: ignore[attr-defined]
        project.kpis[name] = kpi


def _build_process(project: Project, roots: list[Any], issues: list[SpecIssue]) -> None:
    def visit(node: Any, parent: str | None, level: int) -> None:
        if not isinstance(node, dict) or "id" not in node:
            return
        node_id = str(node["id"])
        if node_id in project.process:
            first = project.process[node_id].location
            issues.append(SpecIssue(f"process node '{node_id}' is defined twice (first at {first})",
                                    loc_of(node), hint="process ids are unique across all files", code="duplicate"))
            return
        project.process[node_id] = ProcessNode(
            id=node_id, label=str(node.get("label", node_id)), level=level, parent=parent,
            description=str(node.get("description") or ""), location=loc_of(node))
        if parent:
            project.process[parent].children.append(node_id)
        for child in node.get("children") or []:
            visit(child, node_id, level + 1)

    for root in roots:
        visit(root, None, 1)
