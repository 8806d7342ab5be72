"""Reference choices: the rows a foreign-key field may point to, each shown the way people
know it — 张三（00012）· 市场部: label, natural key, and the register's `picker_detail` column
(a reference there shows its target's label). Searched by label, key and detail, with the
query in 简 and 繁 forms so 張三 finds 张三. Used by the picker endpoint and the form's
no-JavaScript select."""

from __future__ import annotations

from taizhang.chinese import to_simplified, to_traditional
from taizhang.registers import Register, load
from taizhang.schema import quote

LIMIT = 20


def _key_column(target: Register) -> str | None:
    key = target.natural_key[0]
    return key if key != target.label_column and key in target.columns and target.columns[key].type != "fk" else None


def _select_sql(target: Register) -> tuple[str, str | None, str | None]:
    """SELECT … FROM … for (id, label, key, detail) of a target register's rows."""
    key = _key_column(target)
    detail = target.picker_detail
    joins, detail_sql = "", None
    if detail:
        col = target.columns[detail]
        if col.type == "fk":
            other = load().registers[col.references]
            joins = f" LEFT JOIN {quote(other.name)} d ON d.id = t.{quote(detail)}"
            detail_sql = f"d.{quote(other.label_column)}"
        else:
            detail_sql = f"t.{quote(detail)}"
    key_sql = f"t.{quote(key)}" if key else None
    sql = (f"SELECT t.id, t.{quote(target.label_column)}, {key_sql or 'NULL'}, {detail_sql or 'NULL'}"
           f" FROM {quote(target.name)} t{joins}")
    return sql, key_sql, detail_sql


def label(name, key, detail) -> str:
    text = str(name if name is not None else "")
    if key is not None and key != name:
        text += f"（{key}）"
    if detail is not None and detail != "":
        text += f"· {detail}" if key is not None and key != name else f" · {detail}"
    return text


TITLE_CHARACTERS = 40   # a long label (a progress note) is cut for a page title


async def title(db, target: Register, row_id: int) -> str | None:
    """How people name one row, for its page's title: its label, with the natural key when that
    differs (张三（00012）); None when the label is blank."""
    sql, _, _ = _select_sql(target)
    found = (await db.execute(f"{sql} WHERE t.id = ?", [row_id])).first()
    if found is None or found[1] is None or str(found[1]).strip() == "":
        return None
    name = " ".join(str(found[1]).split())
    if len(name) > TITLE_CHARACTERS:
        name = name[:TITLE_CHARACTERS] + "…"
    return label(name, found[2], None)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(db, target: Register, q: str = "", ids: list[int] | None = None, limit: int = LIMIT,
                 visible: str | None = None) -> list[dict]:
    """[{id, label}] of the target's rows matching `q` (or with these ids), best first:
    rows whose label or key starts with the query, then the rest, by label. `visible`: the
    reader's rows of a narrowed register (taizhang/row_access.py, over alias t)."""
    sql, key_sql, detail_sql = _select_sql(target)
    label_sql = f"t.{quote(target.label_column)}"
    where, params, order = ([visible] if visible else []), [], ""
    if ids is not None:
        where.append(f"t.id IN ({', '.join('?' * len(ids))})")
        params += ids
    q = (q or "").strip()
    if q:
        forms = list(dict.fromkeys([q, to_simplified(q), to_traditional(q)]))
        searched = [s for s in (label_sql, key_sql, detail_sql) if s]
        where.append("(" + " OR ".join(f"{s} LIKE ? ESCAPE '\\'" for f in forms for s in searched) + ")")
        params += [_like(f) for f in forms for _ in searched]
        prefix = " OR ".join(f"{s} LIKE ? ESCAPE '\\'" for f in forms for s in (label_sql, key_sql) if s)
        order = f"CASE WHEN {prefix} THEN 0 ELSE 1 END, "
        params += [_like(f)[1:] for f in forms for s in (label_sql, key_sql) if s]
    sql += (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order}{label_sql}, t.id LIMIT {int(limit)}"
    rows = (await db.execute(sql, params)).rows
    return [{"id": r[0], "label": label(r[1], r[2], r[3])} for r in rows]
