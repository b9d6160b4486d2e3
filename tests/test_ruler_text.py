"""The reduced scale's word-level tokenizer and the shipped essay haystack."""

from __future__ import annotations

import sys

from course_lib import assets
from course_lib.longctx.ruler.text import SPACE, course_tokenizer, extract_essay_text, split_sentences


def test_round_trip_and_fallback():
    tok = course_tokenizer()
    text = "One of the special magic uuids for bold-anchor is: 0be3a1f2-7c4d-4e5f-8a9b-0c1d2e3f4a5b.\nVAR QWXYZ = 12345"
    assert tok.decode(tok.encode(text)) == text
    pieces = tok.tokenize("is: 1234567.")
    assert pieces == ["is", ":", f"{SPACE}1", "2", "3", "4", "5", "6", "7", "."]  # long numbers digit by digit
    assert tok.tokenize("list: 12. boat") == ["list", ":", f"{SPACE}12", ".", f"{SPACE}boat"]  # list numbers are words
    assert tok.tokenize("zqxj") == ["z", "q", "x", "j"]  # unknown word: letters
    assert tok.decode([tok.eos_id, tok.pad_id]) == ""


def test_vocabulary_is_fixed_and_small():
    tok = course_tokenizer()
    assert 3000 < tok.vocab_size < 8000
    assert tok.tokens[:3] == ["<pad>", "<eos>", "\n"]


def test_sentences():
    assert split_sentences("One sentence. Another one! A third? yes. Done.") == ["One sentence.", "Another one!", "A third? yes.", "Done."]


def test_essay_asset_is_the_extracted_manual_prose():
    text = bytes(assets.load("ch02_essay")["utf8"].tolist()).decode("utf-8")
    record = assets.metadata("ch02_essay")
    assert record["metrics"]["words"] == len(text.split()) > 15_000
    assert text.isascii() and "`" not in text and ">>>" not in text
    if sys.version_info[:2] == (3, 11):  # the manual ships with CPython and changes between versions
        assert extract_essay_text() == text
