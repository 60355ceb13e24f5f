"""Newlines are found a block at a time: the same offsets as one pass over the whole body."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.files import newline_positions


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n")), step=st.integers(1, 64))
def test_newline_positions_match_a_whole_pass(body: bytes, step: int) -> None:
    expected = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
    assert newline_positions(body, step=step).tolist() == expected.tolist()
