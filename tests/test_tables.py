"""Markdown tables as aligned monospace blocks, and held back while a stream is growing."""

from __future__ import annotations

from dify_bridge.core.tables import hold_back_open_table, tables_as_code

TABLE = "Prices:\n\n| Item | Cost |\n|---|--:|\n| Tea | 3 |\n| Coffee | 4 |\n\nThat is all."


def test_a_table_becomes_an_aligned_block():
    shown = tables_as_code(TABLE)
    assert "|" not in shown
    assert "```\nItem    Cost\n------  ----\nTea     3\nCoffee  4\n```" in shown
    assert shown.startswith("Prices:") and shown.endswith("That is all.")


def test_pipes_in_code_and_plain_text_stay():
    text = "```\n| a | b |\n|---|---|\n```\nuse a | b"
    assert tables_as_code(text) == text


def test_an_open_table_is_held_back_until_complete():
    growing = TABLE.split("\n\nThat")[0]
    assert hold_back_open_table(growing).rstrip() == "Prices:"
    assert hold_back_open_table("Prices:\n\n| Item |").rstrip() == "Prices:"
    assert hold_back_open_table(TABLE) == TABLE
