"""Public entry point for scripts: ``from kpiengine.engine import Engine, KpiValue, ResultSet``.

A stable import path over the run layer (:mod:`kpiengine.run.engine`);
nothing inside kpiengine imports this module.
"""
from .results import KpiValue
from .run.engine import Engine, ResultSet

__all__ = ["Engine", "KpiValue", "ResultSet"]
