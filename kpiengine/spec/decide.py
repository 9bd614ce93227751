"""``kpi review --decide visits=strengthen --reason "..."``: record a review decision in the KPI's own YAML file.

The decision is appended to the KPI's ``review:`` log (date, decision, reason,
who) and, for decisions that change the status, ``status:`` and ``since:`` are
set. The file is edited with ruamel.yaml's round-trip mode, so every comment,
blank line, quote style and key order of the file stays as the ops person
wrote it; only the new lines appear. A comment that followed the KPI (the
heading of the next group, a blank line) stays after the inserted lines.

Each file is replaced atomically (write a sibling, rename, same permissions);
then the whole spec folder must still load and validate, else every file
is put back as it was and the error says why.
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from ..errors import KpiEngineError, SpecError
from .lifecycle import DECISIONS


@dataclass
class Decision:
    kpi: str
    decision: str
    reason: str
    who: str | None = None
    day: date | None = None


@dataclass
class Written:
    kpi: str
    path: str
    status_before: str
    status_after: str
    entry: dict


def parse_decide(text: str) -> tuple[str, str]:
    """'visits=strengthen' -> ('visits', 'strengthen'); a clear error otherwise."""
    if "=" not in text:
        raise KpiEngineError(f"--decide {text!r}: write KPI=DECISION, e.g. visits=strengthen "
                             f"(decisions: {', '.join(DECISIONS)})")
    kpi, decision = (part.strip() for part in text.split("=", 1))
    if decision not in DECISIONS:
        raise KpiEngineError(f"--decide {text!r}: unknown decision '{decision}'; use one of {', '.join(DECISIONS)}")
    return kpi, decision


def mapping_indent(text: str) -> int:
    """Spaces per level of the file's block mappings: the first nested key's indentation."""
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if stripped and line != stripped and not stripped.startswith(("#", "- ")) and ":" in stripped:
            return len(line) - len(stripped)
    return 2


def _yaml(text: str) -> YAML:
    """A round-trip dumper that writes with the file's own indentation (mappings, sequences, dashes)."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap a long line of the file
    yaml.representer.ignore_aliases = lambda _data: True  # `since` and the entry's date: two plain dates
    step = mapping_indent(text)
    _, sequence, dash = load_yaml_guess_indent(text)  # (sequence indent, dash offset) when it has block sequences
    if dash is None:
        sequence, dash = step + 2, 2
    yaml.indent(mapping=step, sequence=sequence, offset=dash)
    return yaml


def _last_slot(node):
    """(container, key) of the last scalar written in ``node``: where a trailing comment hangs."""
    container, key = None, None
    while True:
        if isinstance(node, CommentedMap) and node:
            container, key = node, list(node.keys())[-1]
            node = node[key]
        elif isinstance(node, CommentedSeq) and node:
            container, key = node, len(node) - 1
            node = node[key]
        else:
            return container, key


def _take_trailing(node):
    """Remove and return the comment after the mapping's last value (the next group's heading, a blank line).

    After a block scalar (``playbook: |``) the token's text starts on the line
    after the scalar; after a plain value it first ends that value's line: the
    text is given the form a plain value needs, since it moves after one.
    """
    container, key = _last_slot(node)
    if container is None:
        return None
    slot = container.ca.items.get(key)
    if not slot:
        return None
    index = 2 if isinstance(container, CommentedMap) else 0
    token = slot[index] if len(slot) > index else None
    if token is not None:
        slot[index] = None
        if isinstance(container[key], (LiteralScalarString, FoldedScalarString)):
            token.value = "\n" + token.value
    return token


def _put_trailing(node, token) -> None:
    if token is None:
        return
    container, key = _last_slot(node)
    if isinstance(container, CommentedMap):
        slot = container.ca.items.setdefault(key, [None, None, None, None])
        slot[2] = token
    elif isinstance(container, CommentedSeq):
        slot = container.ca.items.setdefault(key, [None, None])
        slot[0] = token


def edited_text(text: str, decision: Decision, today: date) -> tuple[str, str, str, dict]:
    """The file's new text with the decision recorded: (text, status before, status after, entry)."""
    yaml = _yaml(text)
    data = yaml.load(text)
    body = (data or {}).get("kpis", {}).get(decision.kpi) if isinstance(data, dict) else None
    if not isinstance(body, CommentedMap):
        raise KpiEngineError(f"KPI '{decision.kpi}' is not written as a mapping under `kpis:` in this file")
    before = str(body.get("status", "active"))
    after = DECISIONS[decision.decision] or before
    trailing = _take_trailing(body)
    day = decision.day or today
    if after != before:
        body["status"] = after
        body["since"] = day
    entry = CommentedMap([("date", day), ("decision", decision.decision), ("reason", decision.reason.strip())])
    if decision.who:
        entry["by"] = decision.who
    log = body.get("review")
    if not isinstance(log, CommentedSeq):
        log = body["review"] = CommentedSeq()
    log.append(entry)
    _put_trailing(body, trailing)
    out = io.StringIO()
    yaml.dump(data, out)
    plain = {"date": day.isoformat(), "decision": decision.decision, "reason": decision.reason.strip(),
             "by": decision.who}
    return out.getvalue(), before, after, plain


def record_decisions(project, decisions: list[Decision], *, today: date | None = None, load=None) -> list[Written]:
    """Write each decision into the file its KPI is defined in; validate the result first; return what changed.

    ``load(folder)`` loads and validates a spec folder (kpiengine.spec.loader.load_project).
    """
    today = today or date.today()
    if not decisions:
        return []
    for d in decisions:
        if d.kpi not in project.kpis:
            project_kpis = ", ".join(sorted(n for n in (project.section("kpis") or {})))
            raise KpiEngineError(f"unknown KPI '{d.kpi}' in --decide; KPIs of the spec: {project_kpis}")
        if not d.reason or not d.reason.strip():
            raise KpiEngineError("a decision needs a reason (--reason): the next review reads it")
        spec = project.kpis[d.kpi]
        if spec.location is None or d.kpi not in (project.section("kpis") or {}):
            raise KpiEngineError(f"KPI '{d.kpi}' is derived (a funnel step), not written under `kpis:`: "
                                 f"decide on its funnel instead")
    by_file: dict[str, list[Decision]] = {}
    for d in decisions:
        by_file.setdefault(project.kpis[d.kpi].location.file, []).append(d)
    originals: dict[Path, str] = {}
    written: list[Written] = []
    for file, items in by_file.items():
        path = Path(file)
        text = originals.setdefault(path, path.read_text(encoding="utf-8"))
        for d in items:
            text, before, after, entry = edited_text(text, d, today)
            written.append(Written(d.kpi, str(path), before, after, entry))
        _replace(path, text)
    if load is not None:
        try:
            load(project.folder)
        except SpecError as exc:  # never leave a spec that no longer loads: put every file back
            for path, text in originals.items():
                _replace(path, text)
            raise KpiEngineError("the decision was not recorded: the spec would not validate with it:\n"
                                 + "\n".join(str(i) for i in exc.issues)) from None
    return written


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
