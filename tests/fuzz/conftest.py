"""Hypothesis profiles for the fuzz tests, and a cap on memory while they run.

HYPOTHESIS_PROFILE=thorough runs 25x the examples of the default "ci" profile (see
tests/fuzz/strategies.py, `examples`). No example database: nothing is written to the tree.
"""

from __future__ import annotations

import os
import resource
import sys

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("thorough", max_examples=5000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HEADROOM = 3 * 2**30  # address space a fuzz test may add to what the process already maps


@pytest.fixture(autouse=True)
def capped_memory():
    """Cap the address space (Linux) so that a reader allocating what a header claims fails
    with MemoryError instead of passing on lazily mapped pages."""
    if not sys.platform.startswith("linux"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = mapped + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY
                                            else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
