"""What the fuzz tests share: example counts, byte-level mutations of valid files, JSON trees."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

#: 4-byte values written over a file's words: zero, one, and the edges of int32 and uint32.
EXTREME_WORDS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1)

json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
#: Any JSON value (NaN and infinities included, as Python's json module writes them).
json_trees = st.recursive(
    json_leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                              max_size=4),
    max_leaves=12,
)


def examples(share: float = 1.0) -> int:
    """A test's example count: `share` of the loaded profile's (tests/fuzz/conftest.py)."""
    return max(10, int(settings.default.max_examples * share))


@st.composite
def mutated(draw, data: bytes, max_edits: int = 4) -> bytes:
    """`data` with 1 to `max_edits` edits: a flipped bit, a cut, inserted or deleted bytes,
    or an extreme 4-byte word written over it. Half the edits land in the first 64 bytes,
    where the headers are."""
    b = bytearray(data)
    for _ in range(draw(st.integers(1, max_edits))):
        at = draw(st.integers(0, min(len(b), 64)) | st.integers(0, len(b)))
        edit = draw(st.sampled_from(("flip", "cut", "insert", "delete", "word")))
        if edit == "flip" and at < len(b):
            b[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del b[at:]
        elif edit == "insert":
            b[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del b[at : at + draw(st.integers(1, 16))]
        elif edit == "word":
            order = draw(st.sampled_from(("big", "little")))
            b[at : at + 4] = draw(st.sampled_from(EXTREME_WORDS)).to_bytes(4, order)
    return bytes(b)
