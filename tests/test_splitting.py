from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dify_bridge.core.splitting import split_message, split_pieces

words = st.text(alphabet=st.sampled_from("ab cd\n`é😀"), min_size=0, max_size=30)
documents = st.lists(
    st.one_of(words, st.just("```python\n"), st.just("\n```\n"), st.just("\n\n")), max_size=80
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=documents, max_len=st.integers(min_value=40, max_value=300))
def test_every_piece_fits_and_the_bodies_rejoin_to_the_exact_answer(
    text: str, max_len: int
) -> None:
    pieces = split_pieces(text, max_len)
    assert all(len(p.text) <= max_len for p in pieces)
    assert "".join(p.body for p in pieces) == text


def test_short_text_is_one_message() -> None:
    assert split_message("hello", 100) == ["hello"]


def test_cuts_at_a_paragraph_before_a_line_or_a_word() -> None:
    text = "first paragraph here.\n\nsecond one is a bit longer than the first"
    parts = split_message(text, 45)
    assert parts[0] == "first paragraph here.\n\n"
    assert "".join(parts) == text


def test_never_breaks_a_word_when_there_is_a_space() -> None:
    text = " ".join(["word"] * 200)
    for part in split_message(text, 97):
        assert part.strip().split(" ") == ["word"] * len(part.strip().split(" "))


def test_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" for i in range(40))
    text = f"Here:\n```python\n{code}\n```\nDone."
    parts = split_message(text, 120)
    assert len(parts) > 2
    for part in parts:
        assert part.count("```") % 2 == 0, f"unbalanced fence in {part!r}"
    assert parts[1].startswith("```python\n")
