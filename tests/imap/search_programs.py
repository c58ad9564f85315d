"""Random SEARCH programs for the tests that compare an answer with the plain query's (hypothesis)."""

from __future__ import annotations

from hypothesis import strategies as st


def programs(words: list[str], flags: list[str], uid_max: int, depth: int = 2) -> st.SearchStrategy[str]:
    """Programs over `words` (TEXT, SUBJECT, HEADER SUBJECT, several words at once), `flags` and UID sets up
    to `uid_max`, nested `depth` times in NOT, OR and AND."""
    leaf = st.one_of(
        st.sampled_from(words).map(lambda w: f'TEXT "{w}"'),
        st.sampled_from(words).map(lambda w: f'SUBJECT "{w}"'),
        st.sampled_from(words).map(lambda w: f'HEADER SUBJECT "{w}"'),
        st.sampled_from(flags),
        st.tuples(st.integers(1, uid_max), st.integers(1, uid_max)).map(lambda p: f"UID {p[0]}:{p[1]}"),
    )
    if depth == 0:
        return leaf
    inner = programs(words, flags, uid_max, depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda k: f"NOT {k}"),
        st.tuples(inner, inner).map(lambda p: f"OR {p[0]} {p[1]}"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} {p[1]}"),
        st.lists(st.sampled_from(words), min_size=1, max_size=3).map(
            lambda ws: " ".join(f'TEXT "{w}"' for w in ws)
        ),
    )
