"""The spec layer: YAML files with locations -> schema and semantic checks -> a typed :class:`Project`.

The dataclasses every later layer reads are re-exported here
(``from kpiengine.spec import Project, KpiSpec``).
"""
from .model import (
                    AGGREGATES,
                    DIRECTIONS,
                    GRAINS,
                    UNITS,
                    KpiSpec,
                    ModelSpec,
                    ProcessNode,
                    Project,
                    SourceSpec,
)

__all__ = ["AGGREGATES", "DIRECTIONS", "GRAINS", "UNITS", "KpiSpec", "ModelSpec", "ProcessNode", "Project",
           "SourceSpec"]
