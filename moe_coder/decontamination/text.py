"""Text normalisation for the two matching methods.

Each method has a *reference* normaliser, written to be obviously right (one character at a
time), and a *chunk* normaliser that does the same job for many texts at once, fast enough that
normalisation is not the bottleneck. Both must agree exactly:
``normalize_chunk(texts) == SEPARATOR.join(map(reference, texts))``.

The chunk normalisers keep :data:`SEPARATOR` between texts. It is not a letter or digit, so no
evaluation pattern contains it and a match can never run from one training record into the next.
"""
from __future__ import annotations

import re

#: Stands between records in a normalised chunk; never part of a pattern.
SEPARATOR = "\x00"
#: What a SEPARATOR inside a record's own text becomes before chunking: like it, a control
#: character that is neither a letter/digit nor cased, so normalisation and lower-casing treat
#: both alike.
_SEPARATOR_STAND_IN = "\x01"

_ASCII_SYMBOLS = bytes(c for c in range(128) if not chr(c).isalnum() and chr(c) != SEPARATOR)
_ASCII_SYMBOLS_TO_SPACE = bytes.maketrans(_ASCII_SYMBOLS, b" " * len(_ASCII_SYMBOLS))
# In ``re``, \w is exactly str.isalnum() plus "_"; "_" and every other ASCII symbol are already
# gone by the time these run, and they only run on the (usually few) records that are not ASCII.
_NON_ASCII_SYMBOLS = re.compile(r"[^\w\x00]+")
_NON_ASCII_SYMBOLS_OR_SPACE = re.compile(r"[^\w\x00 ]+")


def alnum_reference(text: str, lowercase: bool = False) -> str:
    """OpenAI's normalisation: only letters and digits (``str.isalnum``), case kept unless asked."""
    if lowercase:
        text = text.lower()
    return "".join(ch for ch in text if ch.isalnum())


def words_reference(text: str) -> str:
    """GPT-3 style words: lower-cased runs of letters and digits, as ``" w1 w2 ... wn "``.

    The leading and trailing spaces make a word sequence match only on whole words.
    """
    spaced = "".join(ch if ch.isalnum() else " " for ch in text.lower())
    return " " + "".join(word + " " for word in spaced.split())


def _join(texts: list[str], separator: str) -> str:
    joined = separator.join(texts)
    if joined.count(SEPARATOR) != (len(texts) - 1) * separator.count(SEPARATOR):
        joined = separator.join(t.replace(SEPARATOR, _SEPARATOR_STAND_IN) for t in texts)
    return joined


def _ascii_pass(text: str, table: bytes | None, delete: bytes = b"") -> str:
    # Every byte of a multi-byte UTF-8 sequence is >= 0x80, so editing ASCII bytes never breaks a
    # character; "surrogatepass" lets lone surrogates (legal in JSON escapes) through unchanged.
    data = text.encode("utf-8", "surrogatepass").translate(table, delete)
    return data.decode("utf-8", "surrogatepass")


def _non_ascii_pass(text: str, pattern: re.Pattern, replacement: str) -> str:
    if text.isascii():
        return text
    # Regular expressions scan slowly; ``isascii`` is O(1), so only records that need it pay.
    records = text.split(SEPARATOR)
    return SEPARATOR.join([r if r.isascii() else pattern.sub(replacement, r) for r in records])


def alnum_chunk(texts: list[str], lowercase: bool = False) -> str:
    """:func:`alnum_reference` of each text, joined with :data:`SEPARATOR`."""
    joined = _join(texts, SEPARATOR)
    if lowercase:
        joined = joined.lower()
    return _non_ascii_pass(_ascii_pass(joined, None, _ASCII_SYMBOLS), _NON_ASCII_SYMBOLS, "")


def words_chunk(texts: list[str]) -> str:
    """:func:`words_reference` of each text, joined with :data:`SEPARATOR`."""
    joined = _join(texts, " " + SEPARATOR + " ").lower()
    out = _non_ascii_pass(_ascii_pass(joined, _ASCII_SYMBOLS_TO_SPACE), _NON_ASCII_SYMBOLS_OR_SPACE, " ")
    tokens = out.split()
    return f" {' '.join(tokens)} " if tokens else " "
