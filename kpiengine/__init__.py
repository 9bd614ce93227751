"""kpiengine: config-driven KPI rules engine.

Public API for plugin authors: ``hookimpl``, :mod:`kpiengine.sources`,
:mod:`kpiengine.sinks`, :mod:`kpiengine.errors`.
"""
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
