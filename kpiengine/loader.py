"""Public entry point for scripts: ``from kpiengine.loader import load_project``.

A stable import path over the spec layer (:mod:`kpiengine.spec.loader`);
nothing inside kpiengine imports this module.
"""
from .spec.loader import load_project, load_project_unchecked, validate_project

__all__ = ["load_project", "load_project_unchecked", "validate_project"]
