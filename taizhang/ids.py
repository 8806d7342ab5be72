"""Row ids that arrive as text (form fields, URLs, JSON): read strictly, never with a bare int()."""

MAX_ID = 2**63 - 1   # the largest integer SQLite holds


def row_id(raw) -> int | None:
    """The id a text (or int) means, or None when it is no row id: ASCII digits only ("²" passes
    str.isdigit() but not int()), positive, and small enough for SQLite."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 < raw <= MAX_ID else None
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None
