"""The hostile-string table (hostile.py) is imported by path (pytest runs in importlib mode)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
