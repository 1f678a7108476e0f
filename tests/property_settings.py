"""What the Hypothesis suites (tests/test_properties_*.py) share: settings and damage."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def property_settings(max_examples: int) -> settings:
    """Derandomized settings (the same examples on every run) with a generous deadline: two busy
    cores; a hang would still be far slower."""
    return settings(
        max_examples=max_examples,
        deadline=5000,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )


DAMAGE = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6)
"""Bytes written over a file: (offset, byte); offsets are taken modulo the file's size."""
TRUNCATE = st.floats(0.0, 0.999)
"""Where a file is cut, as a fraction of its size."""


def damaged(data: bytes, changes, truncate: float | None) -> bytes:
    """``data`` with the :data:`DAMAGE` ``changes`` written over it, then cut at the
    :data:`TRUNCATE` fraction ``truncate`` (None: not cut)."""
    out = bytearray(data)
    for offset, value in changes:
        out[offset % len(out)] = value
    if truncate is not None:
        out = out[: int(len(out) * truncate)]
    return bytes(out)
