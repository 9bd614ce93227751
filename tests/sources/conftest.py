"""Helpers for connector tests."""
from __future__ import annotations

import pytest

from kpiengine.errors import SourceError


@pytest.fixture
def source_error():
    """Run fn(), expect a SourceError; check it names the source and leaks no secret; return its text."""
    def check(fn, source_name: str, *, secrets: tuple[str, ...] = ()) -> str:
        with pytest.raises(SourceError) as info:
            fn()
        text = str(info.value)
        assert info.value.source == source_name
        assert text.startswith(f"source '{source_name}': ")
        for secret in secrets:
            assert secret not in text, "a secret appeared in the error message"
            assert secret not in repr(info.value.__cause__ or "")
        assert info.value.__suppress_context__ or info.value.__cause__ is None
        return text
    return check
