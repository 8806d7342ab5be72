"""Characters that make text look other than it is — for the database's rules (taizhang/schema.py
writes them as SQL) and the app's readers (taizhang/importer/values.py), from this one list.

- BLANK: what a value that only looks filled is made of: every Unicode space (ASCII, no-break,
  ideographic U+3000, the U+2000 series …), tabs and line breaks, and the zero-width characters
  (U+200B–U+200D, U+2060, U+FEFF) that Excel and web pages leave behind.
- UNSAFE: control characters (U+0000–U+001F, U+007F) and bidi overrides (U+202A–U+202E,
  U+2066–U+2069): refused in names and keys, where they make one name look like another or
  show text in a different order than it is stored.
- Keys are normalised the way NFKC would, but only where that is safe for Chinese text:
  full-width digits and Latin letters become ASCII (００12 -> 0012, Ｃ001 -> C001), zero-width
  characters go, surrounding blanks are trimmed. Full-width punctuation (（）、，) is kept, since
  it is how Chinese names are written.
"""

from __future__ import annotations

ZERO_WIDTH = (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)
BLANK = (
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
    0x202F, 0x205F, 0x3000, 0x180E, *ZERO_WIDTH,
)
UNSAFE = (*range(0x00, 0x20), 0x7F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# Full-width form -> ASCII, for the digits and Latin letters only.
FULL_WIDTH = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
}

BLANK_TEXT = "".join(map(chr, BLANK))
_KEY_TABLE = {**FULL_WIDTH, **{code: None for code in ZERO_WIDTH}}
_UNSAFE_SET = frozenset(map(chr, UNSAFE))


def is_blank(text: str) -> bool:
    return not text.strip(BLANK_TEXT)


def normalise_key(text: str) -> str:
    """A natural key as stored: what the database's trigger does, so matching finds it."""
    return text.translate(_KEY_TABLE).strip(BLANK_TEXT)


def has_unsafe(text: str) -> bool:
    return any(ch in _UNSAFE_SET for ch in text)
