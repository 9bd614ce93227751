"""Mutations of the demo specs for fuzzing the validator, and the verdict on one mutated spec.

Shared by the in-suite property test (tests/fuzz/test_validator_fuzz.py,
hypothesis drives the ``random.Random`` passed in, so failures shrink) and the
long run (tests/fuzz/run_fuzz.py, 100,000 seeded cases). A case takes one file
of ``kpi_specs/``, changes its YAML tree (a value replaced by a hostile one, a
key renamed or deleted, a subtree copied elsewhere) and/or its text (lines
deleted, duplicated, re-indented, truncated, hostile snippets inserted), then
loads and validates the folder. A crash is any exception other than the
project's own SpecError, an "internal error" issue, an issue without a
location, or a validation slower than the time limit.
"""
from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from hostile import HOSTILE  # noqa: E402

from kpiengine.errors import SpecError  # noqa: E402
from kpiengine.spec.loader import load_project_unchecked, validate_project  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEED_FOLDER = REPO / "kpi_specs"
TIME_LIMIT_S = 5.0

YAML_SNIPPETS = [
    "!!float abc", "!!int x", "!!binary ###", "!!set {a, b}", "!!python/object:os.system x", "!!timestamp 2026",
    "&a [*a]", "*nowhere", "&x", "[", "]", "{", "}", "\"", "'", ": :", "\t", "- ", "? ", "|", ">", "%YAML 1.1",
    "---", "...", "\x00", "\x1b[2J", "\x07", "~", "null", "[1, [2, [3, [4]]]]", "{a: {b: {c: {d: 1}}}}",
    "<<: *nowhere", "<<: [1, 2]", "99999999999d", "1e400", "-0", "0x1F", ".nan", ".inf",
]

SPECIAL_VALUES = [
    None, True, False, 0, -1, 1, 2 ** 70, 1.5, float("inf"), "", [], {}, [None], {"x": None},
    "99999999999d", "-5m", "{kpi:>30000000}", "{value:.99999999f}", " + ".join(["visits"] * 1000),
    "(" * 50 + "visits" + ")" * 50, "visits + 'x", "lo_from_bytea(0, 'x') IS NOT NULL",
    "stage = \"won\"", "2026-W43", "2026-13-45", "${UNSET_KPI_FUZZ_VAR}", "${UNSET_KPI_FUZZ:-x",
]


def seed_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEED_FOLDER.glob("*.yml"))
            if not p.name.endswith(".test.yml")}


def _random_value(rng: random.Random, depth: int = 0):
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(HOSTILE)[1]
    if pick < 0.7 or depth > 2:
        value = rng.choice(SPECIAL_VALUES)
        return value.copy() if isinstance(value, (list, dict)) else value
    if pick < 0.8:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if pick < 0.9:
        return {_random_key(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))}
    nested = "x"
    for _ in range(rng.choice([10, 100, 500])):  # deep trees: a process tree, a nested mapping
        nested = rng.choice([[nested], {"id": "n", "label": "n", "children": [nested]}])
    return nested


def _random_key(rng: random.Random):
    return rng.choice([rng.choice(HOSTILE)[1][:40], 1, None, True, "label", "model", "formula", "children",
                       "dimensions", "filter", "time", "sql", "file", "type", "repeat_interval", "template"])


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(node, path):
    for part in path:
        node = node[part]
    return node


def mutate_tree(data, rng: random.Random):
    paths = [p for p in _paths(data) if p]
    if not paths:
        return _random_value(rng)
    path = rng.choice(paths)
    parent = _get(data, path[:-1])
    last = path[-1]
    op = rng.random()
    if op < 0.55:
        parent[last] = _random_value(rng)
    elif op < 0.7 and isinstance(parent, dict):
        del parent[last]
    elif op < 0.85 and isinstance(parent, dict):
        value = parent.pop(last)
        parent[_random_key(rng)] = value
    else:  # a subtree where another one belongs (shared: YAML writes it as an anchor and aliases)
        parent[last] = _get(data, rng.choice(paths))
    return data


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randrange(1, 4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.randrange(7)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            lines[i] = " " * rng.choice([1, 2, 4]) + lines[i]
        elif op == 3:
            lines[i] = lines[i][rng.choice([1, 2]):]
        elif op == 4:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(YAML_SNIPPETS + [h for _, h in HOSTILE[:20]]) + lines[i][pos:]
        elif op == 5 and ": " in lines[i]:
            key = lines[i].split(": ", 1)[0]
            lines[i] = key + ": " + rng.choice(YAML_SNIPPETS)
        else:
            return "\n".join(lines)[: rng.randrange(len(text) + 1)]
    return "\n".join(lines)


def make_case(rng: random.Random, seeds: dict[str, str]) -> tuple[str, str]:
    """(file name, mutated text) of one case."""
    name = rng.choice(sorted(seeds))
    text = seeds[name]
    if rng.random() < 0.75:
        data = yaml.safe_load(text)
        try:
            for _ in range(rng.randrange(1, 4)):
                data = mutate_tree(data, rng)
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        except (yaml.YAMLError, RecursionError, ValueError):
            text = mutate_text(text, rng)  # a mutant too deep to write as YAML: mutate the text instead
    if rng.random() < 0.35:
        text = mutate_text(text, rng)
    return name, text


@dataclass
class Verdict:
    crashed: bool
    why: str = ""
    seconds: float = 0.0
    issues: list = field(default_factory=list)


def judge(folder: Path) -> Verdict:
    """Load and validate ``folder``; a crash is what the module docstring lists."""
    # CPU time of this process, not wall time: the limit is on the validator's own work, and a
    # machine busy with other jobs must not turn a 0.1 s case into a "took 7 s" crash.
    t0 = time.process_time()
    try:
        project, issues = load_project_unchecked(folder)
        issues += validate_project(project)
    except SpecError as exc:
        issues = exc.issues
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
        return Verdict(True, f"{type(exc).__name__}: {exc}"[:500], time.process_time() - t0)
    seconds = time.process_time() - t0
    for issue in issues:
        if issue.code == "internal":
            return Verdict(True, issue.message[:500], seconds, issues)
        if issue.location is None and issue.code != "io":
            return Verdict(True, f"issue without a location: {issue.message}"[:500], seconds, issues)
    if seconds > TIME_LIMIT_S:
        return Verdict(True, f"took {seconds:.1f}s of CPU", seconds, issues)
    return Verdict(False, "", seconds, issues)


class Workbench:
    """A copy of the demo spec folder in which one file at a time is replaced by a mutant."""

    def __init__(self):
        self.seeds = seed_files()
        self.root = Path(tempfile.mkdtemp(prefix="kpifuzz_"))
        self.folder = self.root / "specs"
        self.folder.mkdir()
        for name, text in self.seeds.items():
            (self.folder / name).write_text(text, encoding="utf-8")

    def run(self, name: str, text: str) -> Verdict:
        path = self.folder / name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return judge(self.folder)
        finally:
            path.write_text(self.seeds[name], encoding="utf-8")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
