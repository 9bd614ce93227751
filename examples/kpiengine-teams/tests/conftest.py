"""Run the tests from a checkout too: put src/ on the path when the package is not installed."""
import importlib.util
import os
import sys

if importlib.util.find_spec("kpiengine_teams") is None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
