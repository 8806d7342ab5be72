"""简/繁 conversion with OpenCC, and the bigram text that makes Chinese searchable in FTS5.

Why bigrams: FTS5's `unicode61` tokenizer treats a run of Han characters as one token and
`trigram` cannot match two-character words (预算, 客户); a custom tokenizer would not load in a
plain sqlite3 shell. So the app writes *derived* text into an ordinary unicode61 FTS5 table:
each Han run becomes its overlapping character pairs ("讨论预算" -> "讨论 论预 预算 算"),
after converting to simplified characters. A query goes through the same conversion and
becomes an FTS5 phrase, so 预算 and 預算 both match, and so do longer words (phrase of pairs)
and single characters (prefix query).
"""

from __future__ import annotations

import functools
import itertools
import math
import re

import opencc

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
# What FTS5's unicode61 tokenizer would keep as word characters outside Han runs.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@functools.cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    return _converter("s2t").convert(text)


# A word has at most this many spellings enumerated (the registers' enum words have ≤ 16).
MAX_SPELLINGS = 256


@functools.cache
def _traditional_of() -> dict[str, frozenset[str]]:
    """Simplified character -> the characters OpenCC's t2s turns into it (伙 -> 伙, 夥). Each
    character converted alone (one per line), so no phrase spans two of them."""
    chars = [chr(c) for c in range(0x3400, 0xA000)]
    out: dict[str, set[str]] = {}
    for char, simple in zip(chars, to_simplified("\n".join(chars)).split("\n")):
        out.setdefault(simple, {simple}).add(char)
    return {k: frozenset(v) for k, v in out.items()}


def spellings(word: str) -> set[str]:
    """Every spelling whose t2s is the t2s of `word` (合作伙伴 -> 合作伙伴, 合作夥伴): what the
    database, which cannot run OpenCC, must accept for it. Enumerated character by character,
    kept only when OpenCC agrees (phrases may convert differently); bounded by MAX_SPELLINGS."""
    simple = to_simplified(word)
    options = [sorted(_traditional_of().get(ch, {ch})) for ch in simple]
    if math.prod(map(len, options)) > MAX_SPELLINGS:
        return {word, simple, to_traditional(simple)}
    return {word, *("".join(p) for p in itertools.product(*options) if to_simplified("".join(p)) == simple)}


def _han_bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    # Every character starts a token: a pair, or the run's last character alone. So a
    # one-character query can be a prefix query and still find any occurrence.
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def index_text(text: str | None) -> str:
    """The text stored in the search index for one field."""
    if not text:
        return ""
    text = to_simplified(str(text))
    tokens: list[str] = []
    pos = 0
    for match in _HAN_RUN.finditer(text):
        tokens.extend(_WORD.findall(text[pos : match.start()]))
        tokens.extend(_han_bigrams(match.group()))
        pos = match.end()
    tokens.extend(_WORD.findall(text[pos:]))
    return " ".join(tokens)


def _query_term(term: str) -> str | None:
    """One whitespace-separated query word -> an FTS5 phrase, or None if it has no word."""
    term = to_simplified(term)
    tokens: list[str] = []
    pos = 0
    for match in _HAN_RUN.finditer(term):
        tokens.extend(_WORD.findall(term[pos : match.start()]))
        run = match.group()
        tokens.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        pos = match.end()
    tokens.extend(_WORD.findall(term[pos:]))
    if not tokens:
        return None
    # Quotes inside a phrase are doubled; tokens never contain whitespace.
    phrase = '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'
    # A lone Han character is stored as the first half of pairs: match it as a prefix.
    if len(tokens) == 1 and _HAN_RUN.fullmatch(tokens[0]) and len(tokens[0]) == 1:
        return phrase + "*"
    return phrase


def search_query(query: str | None) -> str:
    """User input -> FTS5 MATCH expression: every word must appear (implicit AND).

    Like Datasette's escape_fts, the result never contains FTS5 syntax from the user, so
    no input can raise an FTS5 syntax error. Returns '""' (matches nothing) for empty input.
    """
    phrases = [p for p in (_query_term(t) for t in (query or "").split()) if p]
    return " ".join(phrases) if phrases else '""'
