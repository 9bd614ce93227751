"""The ``funnels:`` spec section, registered by the funnels feature as an internal plugin.

Once the funnels are valid, each one's steps and conversions become ordinary
KPIs (``<funnel>_<step>``, ``..._rate``, ``..._from_top``) on the project, so
alert rules, formulas and the dashboard use them like any other KPI. The
section runs before the alerting sections for that reason.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..errors import SpecIssue
from ..hookspecs import hookimpl
from ..sections import CheckContext, SpecSection
from ..spec.model import Project
from .funnels import FUNNELS_SCHEMA_DEFS, attach_funnels, validate_funnels


class FunnelsSection(SpecSection):
    name = "funnels"
    description = "funnels: ordered steps joined on an entity key (their steps become KPIs)"
    order = 60

    def schema(self) -> dict[str, Any]:
        return FUNNELS_SCHEMA_DEFS["funnels"]

    def check(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        return validate_funnels(project) if project.section("funnels") else ()

    def complete(self, project: Project, context: CheckContext) -> Iterable[SpecIssue]:
        attach_funnels(project, context.dialect_of)
        return ()


@hookimpl
def kpiengine_spec_sections() -> list[SpecSection]:
    return [FunnelsSection()]
