"""The core spec sections, registered as an internal plugin.

``project``, ``sources``, ``models``, ``kpis``, ``process`` and ``checks`` reach the
loader through the ``kpiengine`` entry-point group and the
``kpiengine_spec_sections`` hook, exactly like a feature's or a third-party
plugin's section: the loader has no list of sections of its own.
"""
from __future__ import annotations

from ...hookspecs import hookimpl
from ...sections import SpecSection
from .calendars import CalendarsSection
from .checks import ChecksSection
from .kpis import KpisSection
from .models import ModelsSection
from .process import ProcessSection
from .project import ProjectSection
from .sources import SourcesSection


@hookimpl
def kpiengine_spec_sections() -> list[SpecSection]:
    return [ProjectSection(), SourcesSection(), ModelsSection(), KpisSection(), ProcessSection(), ChecksSection(),
            CalendarsSection()]
