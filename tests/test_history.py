"""The earlier messages ahead of a first question: capped and laid out once for every platform."""

from __future__ import annotations

from dify_bridge.core import Said, history


def test_lines_name_their_speakers_oldest_first() -> None:
    said = [Said("Bob", "Shall we\n launch?"), Said("Alice", "   "), Said("Assistant", "Yes.")]
    assert (
        history.history_text(said)
        == "Earlier in this thread:\nBob: Shall we launch?\nAssistant: Yes."
    )
    assert history.history_text([], history.IN_REPLY_TO) == ""
    assert history.history_text([Said("Bob", "")]) == "", "nothing with text: no heading either"


def test_speakers_are_labelled() -> None:
    assert history.speaker_label("Bob") == "Bob"
    assert history.speaker_label("dify-bot", own=True) == history.ASSISTANT
    assert history.speaker_label("CI", bot=True) == "CI (bot)"
    assert history.speaker_label("  ") == "Someone"


def test_the_newest_messages_are_kept_within_both_caps() -> None:
    many = [Said("Bob", f"message {n}") for n in range(50)]
    lines = history.history_text(many).splitlines()[1:]
    assert lines == [f"Bob: message {n}" for n in range(30, 50)]

    long = [Said("Bob", f"{n:02d}" + "x" * 3000) for n in range(5)]
    text = history.history_text(long)
    assert len(text) <= history.MAX_CHARS
    lines = text.splitlines()[1:]
    assert [line[:7] for line in lines] == ["Bob: 02", "Bob: 03", "Bob: 04"]
    assert lines[0].endswith("…") and not lines[1].endswith("…"), "the oldest kept is cut"


def test_one_message_longer_than_the_cap_gives_its_beginning() -> None:
    text = history.history_text([Said("Bob", "old"), Said("Alice", "y" * 20_000)])
    assert len(text) == history.MAX_CHARS
    assert text.startswith("Earlier in this thread:\nAlice: yyy") and text.endswith("y…")
