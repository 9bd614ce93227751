"""The ``process:`` section: the level-1/2/3 process map the KPIs are attached to."""
from __future__ import annotations

from typing import Any

from ...errors import SpecIssue
from ...sections import LIST, NAME_PATTERN, SpecSection
from ..located import loc_of
from ..model import ProcessNode, Project

PROCESS_NODE = {
    "type": "object",
    "required": ["id", "label"],
    "properties": {
        "id": {"type": "string", "pattern": NAME_PATTERN},
        "label": {"type": "string"},
        "description": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/process_node"}},
    },
    "additionalProperties": False,
}


class ProcessSection(SpecSection):
    name = "process"
    merge = LIST
    item = "process node"
    description = "the process map: nodes with children, level 1 at the top"
    order = 5  # KPIs name their process node

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"$ref": "#/$defs/process_node"}}

    def schema_defs(self) -> dict[str, Any]:
        return {"process_node": PROCESS_NODE}

    def build(self, project: Project, value: Any, issues: list[SpecIssue]) -> None:
        def visit(node: Any, parent: str | None, level: int) -> None:
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                return  # the schema reports it
            node_id = str(node["id"])
            if node_id in project.process:
                first = project.process[node_id].location
                issues.append(SpecIssue(f"process node '{node_id}' is defined twice (first at {first})",
                                        loc_of(node), hint="process ids are unique across all files",
                                        code="duplicate"))
                return
            project.process[node_id] = ProcessNode(
                id=node_id, label=str(node.get("label", node_id)), level=level, parent=parent,
                description=str(node.get("description") or ""), location=loc_of(node))
            if parent:
                project.process[parent].children.append(node_id)
            children = node.get("children")
            for child in children if isinstance(children, list) else []:
                visit(child, node_id, level + 1)

        for root in value if isinstance(value, list) else []:
            visit(root, None, 1)
