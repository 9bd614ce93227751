"""The validator never crashes: seeded property-based mutations of the demo specs, and every crasher found so far.

The long run (100,000 cases, with its counts) is ``tests/fuzz/run_fuzz.py``.
"""
from __future__ import annotations

import random
import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from mutate import Workbench, make_case

CORPUS = sorted(p for p in (Path(__file__).resolve().parent / "corpus").glob("case_*") if p.is_file())


@pytest.fixture(scope="module")
def bench():
    workbench = Workbench()
    yield workbench
    workbench.close()


@seed(14)
@settings(max_examples=120, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_mutated_specs_give_located_errors_never_a_crash(bench, rng: random.Random):
    name, text = make_case(rng, bench.seeds)
    verdict = bench.run(name, text)
    assert not verdict.crashed, f"{name}: {verdict.why}\n--- mutant ---\n{text[:3000]}"


def test_the_fuzz_run_stays_within_memory():
    # after the cases above ran in this process: the ru_maxrss of the whole test process, in MB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < 1500


@pytest.mark.parametrize("case", CORPUS, ids=[p.name for p in CORPUS])
def test_every_crasher_found_so_far_is_now_a_located_error(bench, case: Path):
    name = case.name.split("__", 1)[1]
    verdict = bench.run(name, case.read_text(encoding="utf-8"))
    assert not verdict.crashed, verdict.why
    assert verdict.issues, "the mutant is invalid: it must be reported"
    assert all(i.location is not None for i in verdict.issues if i.code != "io")
