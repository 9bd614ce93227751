"""The fuzz helpers (mutate.py) and the hostile-string table (tests/security/hostile.py) are imported by path."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
