"""Byte-level damage for robustness tests: deterministic edits that hypothesis draws and shrinks."""

from __future__ import annotations

from hypothesis import strategies as st

mutations = st.lists(
    st.tuples(
        st.integers(0, 10**6), st.sampled_from(["flip", "cut", "insert"]), st.binary(min_size=1, max_size=12)
    ),
    min_size=1,
    max_size=8,
)


def mutate(raw: bytes, edits: list[tuple[int, str, bytes]]) -> bytes:
    data = bytearray(raw)
    for position, kind, chunk in edits:
        at = position % (len(data) or 1)
        if kind == "flip" and data:
            data[at] = chunk[0]
        elif kind == "cut":
            del data[at : at + len(chunk) * 8]
        else:
            data[at:at] = chunk
    return bytes(data)
