"""Which files make a spec: every ``.yml``/``.yaml`` below the folder, hidden folders and unit tests aside.

Apart from the loader so the spec cache can list and hash the files without importing YAML or JSON Schema.
"""
from __future__ import annotations

import os
from pathlib import Path


def spec_files(folder: str | os.PathLike) -> list[Path]:
    root = Path(folder)
    if root.is_file():
        return [root]
    files = [p for ext in ("*.yml", "*.yaml") for p in root.rglob(ext)
             if not any(part.startswith(".") for part in p.relative_to(root).parts)
             and not p.name.endswith((".test.yml", ".test.yaml"))]
    return sorted(files)
