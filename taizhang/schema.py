"""SQL for the registers, generated from the definition.

Validation lives here, in the database: every write path (Datasette's forms and JSON API,
stored queries, /-/execute-write, imports, a sqlite3 shell) meets the same CHECK constraints
and triggers. Each constraint is named with the Chinese sentence a person should read, so
SQLite's own error ("CHECK constraint failed: <name>") already carries it. The schema must run
on SQLite 3.40 (Python 3.11), hence literal messages and no newer SQL.
"""

from __future__ import annotations

import re
import sqlite3

from taizhang import characters, checks
from taizhang.checks import Check
from taizhang.registers import Column, Definition, Register

NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
# The largest finite REAL: anything beyond it (1e400, Infinity) is not a number a register holds.
MAX_REAL = "1.7976931348623157e308"
ID_FIXED = "编号（id）由系统分配，不能修改"
TIMES_KEPT = "创建时间和更新时间（created_at、updated_at）由数据库记录，不能填写或修改"
# Prefix of every trigger this module owns: derived.sync() drops and recreates only these.
TRIGGER_PREFIX = "tz_"
SEARCH_QUEUE = "_search_queue"
XREF_QUEUE = "_xref_queue"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def fts_table(register: Register) -> str:
    return f"{register.name}_fts"


# How the database compares input with synonyms: surrounding ASCII, full-width (U+3000) and
# no-break (U+00A0) spaces removed, ASCII case folded. Mirrors registers.normalise_token.
def _normalised(column_sql: str) -> str:
    return f"lower(trim({column_sql}, ' ' || char(9, 10, 13, 12288, 160)))"


def _synonym_inputs(col: Column) -> list[str]:
    """Inputs a write may use that the canonicalise trigger turns into a stored value
    (synonyms, and canonical values with spaces around them)."""
    return sorted(col.synonyms())


def _checks(reg: Register, col: Column) -> list[Check]:
    """The CHECK constraints of one column; each holds when the value is NULL."""
    c = quote(col.name)
    found: list[tuple[str, str, dict]] = []   # (kind, condition, params)
    if col.required and col.sql_type == "TEXT":
        found.append(("blank", f"length(trim({c})) > 0", {}))
    if col.type in ("enum", "bool"):
        # Synonyms pass the CHECK and are canonicalised by a trigger within the same statement.
        synonyms = f" OR {_normalised(c)} IN ({', '.join(map(literal, _synonym_inputs(col)))})"
        condition = f"{c} IN ({', '.join(map(literal, col.values))}){synonyms}"
        if col.type == "enum":
            found.append(("choice", condition, {"values": tuple(col.values)}))
        else:
            found.append(("yes_no", condition, {}))
    elif col.type == "date":
        found.append(("date", f"{c} GLOB '[12][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]' AND date({c}, '+0 days') = {c}", {}))
    elif col.type == "datetime":
        found.append(("datetime", f"{c} GLOB '[12][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]'"
                                  f" AND strftime('%Y-%m-%d %H:%M', {c}) = {c}", {}))
    elif col.type == "period":
        found.append(("period", f"{c} GLOB '[12][0-9][0-9][0-9]' OR {c} GLOB '[12][0-9][0-9][0-9]-Q[1-4]'"
                                f" OR ({c} GLOB '[12][0-9][0-9][0-9]-[01][0-9]' AND substr({c}, 6) BETWEEN '01' AND '12')", {}))
    elif col.type == "time":
        found.append(("time", f"{c} GLOB '[0-2][0-9]:[0-5][0-9]' AND substr({c}, 1, 2) < '24'", {}))
    elif col.type in ("int", "fk"):
        found.append(("integer", f"typeof({c}) = 'integer'", {}))
    elif col.type == "real":
        found.append(("number", f"typeof({c}) IN ('integer', 'real')", {}))
    if col.min is not None and col.max is not None:
        found.append(("range", f"{c} BETWEEN {col.min!r} AND {col.max!r}", {"min": col.min, "max": col.max}))
    elif col.min is not None:
        found.append(("at_least", f"{c} >= {col.min!r}", {"min": col.min}))
    elif col.max is not None:
        found.append(("at_most", f"{c} <= {col.max!r}", {"max": col.max}))
    if col.format == "email":
        found.append(("email", f"{c} GLOB '?*@?*.?*' AND {c} NOT GLOB '*[ ,;<>]*' AND {c} NOT GLOB '*@*@*'", {}))
    elif col.format == "phone":
        found.append(("phone", f"{c} GLOB '*[0-9][0-9][0-9]*' AND length({c}) <= 40", {}))
    if col.not_before:
        other = quote(col.not_before)
        found.append(("not_before", f"{other} IS NULL OR {c} >= {other}", {"other": col.not_before}))
    return [checks.make(kind, col.name, f"{c} IS NULL OR ({condition})", _label_of(reg), **params)
            for kind, condition, params in found]


def _label_of(reg: Register):
    return lambda column: reg.columns[column].label


def chars_sql(codes) -> str:
    return " || ".join(f"char({', '.join(map(str, codes[i:i + 50]))})" for i in range(0, len(codes), 50))


# SQLite's parser overflows on about 20 nested calls, and the key normalisation is 67 replace()s:
# the key triggers apply them in steps to one scratch row (this table), then write the result.
KEY_SCRATCH = "_key_scratch"


def _key_steps() -> list[str]:
    """The key normalisation (characters.normalise_key) as replace() chains of at most 15 calls,
    each applied to `value`: zero-width characters removed, full-width digits and letters made
    ASCII. Trimming is the last step, done where the result is written."""
    pairs = [(code, "") for code in characters.ZERO_WIDTH] + [(w, chr(n)) for w, n in characters.FULL_WIDTH.items()]
    steps = []
    for i in range(0, len(pairs), 15):
        expression = "value"
        for code, narrow in pairs[i : i + 15]:
            expression = f"replace({expression}, char({code}), {literal(narrow)})"
        steps.append(expression)
    return steps


def needs_key_normalising(value_sql: str) -> str:
    # GLOB ranges compare code points: full-width digits and letters, then the zero-width ones.
    return (f"{value_sql} GLOB '*[０-９Ａ-Ｚａ-ｚ' || {chars_sql(characters.ZERO_WIDTH)} || ']*'"
            f" OR {value_sql} IS NOT trim({value_sql}, {chars_sql(characters.BLANK)})")


def not_finite_sentence(label: str) -> str:
    """The "finite" rule's sentence for any field (a JSON body may send Infinity to any column)."""
    return checks.SENTENCES["finite"].format(label=label)


def _guards(reg: Register, col: Column) -> list[Check]:
    """The rules a BEFORE trigger enforces rather than a CHECK (their sql is on NEW): rules added
    after registers were created, so that `derived.sync` gives every existing database file
    them too (a CHECK is part of the table and would need it rebuilt). Each holds when the
    value is NULL, like a CHECK."""
    v = f"NEW.{quote(col.name)}"
    # No register holds bytes; the audit log's json_object() could not record them either.
    found = [("blob", f"typeof({v}) <> 'blob'")]
    if col.required and col.sql_type == "TEXT":
        # Same sentence as the CHECK it widens: spaces of every kind and zero-width characters.
        found.append(("blank", f"trim({v}, {chars_sql(characters.BLANK)}) <> ''"))
    if col.name in reg.name_columns:
        # Blanks around it are trimmed (a key by its trigger, text by every reader): not refused.
        found.append((
            "characters",
            f"NOT (trim({v}, {chars_sql(characters.BLANK)}) GLOB '*[' || {chars_sql([c for c in characters.UNSAFE if c])} || ']*')"
            f" AND instr(CAST({v} AS BLOB), X'00') = 0",
        ))
    if col.type == "real":
        found.append(("finite", f"typeof({v}) = 'integer' OR abs(CAST({v} AS REAL)) <= {MAX_REAL}"))
    return [checks.make(kind, col.name, f"{v} IS NULL OR ({condition})", _label_of(reg))
            for kind, condition in found]


def column_checks(reg: Register) -> list[Check]:
    """Every rule of every column of the register: CHECK constraints, then guard triggers."""
    return [*(k for col in reg.columns.values() for k in _checks(reg, col)),
            *(k for col in reg.columns.values() for k in _guards(reg, col))]


def column_check(reg: Register, col: Column, kind: str) -> Check:
    """The column's rule of `kind` (ValueError when it has none)."""
    found = [k for k in (*_checks(reg, col), *_guards(reg, col)) if k.kind == kind]
    if not found:
        raise ValueError(f"{reg.name}.{col.name} has no {kind!r} check")
    return found[0]


def check_columns(reg: Register) -> dict[str, list[str]]:
    """Each CHECK constraint's (or guard trigger's) message -> the columns whose values it judges."""
    out = {k.message: list(k.judged) for k in column_checks(reg)}
    for check in reg.checks:
        out[check["message"]] = [c for c in reg.columns if re.search(rf"\b{c}\b", check["sql"])]
    return out


def create_table_sql(reg: Register) -> str:
    lines = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
    for col in reg.columns.values():
        line = f"{quote(col.name)} {col.sql_type}"
        if col.required:
            line += " NOT NULL"
        if col.unique:
            line += " UNIQUE"
        if col.type == "fk":
            line += f" REFERENCES {quote(col.references)}(id)"
        lines.append(line)
    lines.append(f"created_at TEXT NOT NULL DEFAULT ({NOW_SQL})")
    lines.append(f"updated_at TEXT NOT NULL DEFAULT ({NOW_SQL})")
    for col in reg.columns.values():
        for check in _checks(reg, col):
            lines.append(f"CONSTRAINT {quote(check.message)} CHECK ({check.sql})")
    for check in reg.checks:
        lines.append(f"CONSTRAINT {quote(check['message'])} CHECK ({check['sql']})")
    body = ",\n  ".join(lines)
    return f"CREATE TABLE {quote(reg.name)} (\n  {body}\n)"


def _column_lines(sql: str) -> list[str]:
    return [line for line in sql.splitlines() if not line.strip().startswith("CONSTRAINT")]


class ChecksRefused(Exception):
    """The new CHECK constraints would refuse rows the file holds: nothing was changed."""


def update_checks(conn: sqlite3.Connection, reg: Register) -> bool:
    """Give an existing register the CHECK constraints the definition has now (a new enum
    spelling, say) without rebuilding it, as SQLite documents for changes that leave the
    stored rows as they are: the table's SQL is swapped in the schema and the rows checked
    against it (PRAGMA integrity_check reports a failing CHECK). Only when the columns are
    exactly the generated ones — a table altered since is left alone. Runs inside the
    caller's transaction; returns whether anything changed."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [reg.name]).fetchone()
    wanted = create_table_sql(reg)
    if row is None or row[0] == wanted or _column_lines(row[0]) != _column_lines(wanted):
        return False
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", [wanted, reg.name])
        conn.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
    # Each rule with the rows it refuses, so the sentence says what to fix and where (SQLite's
    # integrity_check names only the table); integrity_check stays as the final word.
    problems = []
    for message, condition in _check_conditions(reg):
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {quote(reg.name)} WHERE NOT ({condition}) ORDER BY id LIMIT 11")]
        if ids:
            shown = "、".join(map(str, ids[:10])) + ("…" if len(ids) > 10 else "")
            problems.append(f"{message}（id {shown}）")
    if not problems and [r[0] for r in conn.execute(f"PRAGMA integrity_check({quote(reg.name)})")] != ["ok"]:
        problems.append("CHECK")
    if problems:
        raise ChecksRefused(f"{reg.label}中已有记录不符合新的规则，请先修改这些记录：{'；'.join(problems[:5])}")
    return True


def _check_conditions(reg: Register) -> list[tuple[str, str]]:
    """(message, condition) of every CHECK constraint create_table_sql writes."""
    return [*((k.message, k.sql) for col in reg.columns.values() for k in _checks(reg, col)),
            *((check["message"], check["sql"]) for check in reg.checks)]


def column_definition_sql(reg: Register, col: Column) -> str:
    """For ALTER TABLE ADD COLUMN: SQLite allows CHECKs there but not UNIQUE or NOT NULL
    without a default, so a migration adding such a column must rebuild the table."""
    checks = " ".join(
        f"CONSTRAINT {quote(k.message)} CHECK ({k.sql})" for k in _checks(reg, col)
    )
    ref = f" REFERENCES {quote(col.references)}(id)" if col.type == "fk" else ""
    return f"{quote(col.name)} {col.sql_type}{ref} {checks}".strip()


def indexes_sql(reg: Register) -> list[str]:
    """An index behind every foreign key, facet, sort column and natural key."""
    wanted: list[tuple[str, ...]] = []
    candidates = [c.name for c in reg.foreign_keys] + [*reg.facets, reg.sort, reg.sort_desc]
    for col in candidates:
        # id is the primary key and a UNIQUE column has its own index already.
        if not col or col == "id" or (col in reg.columns and reg.columns[col].unique):
            continue
        if (col,) not in wanted:
            wanted.append((col,))
    statements = [
        f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{reg.name}_' + '_'.join(cols))} "
        f"ON {quote(reg.name)} ({', '.join(map(quote, cols))})"
        for cols in wanted
    ]
    from taizhang import row_access   # the index a narrowed table page reads by

    statements += row_access.indexes_sql(reg)
    if len(reg.natural_key) > 1:
        statements.append(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(f'uq_{reg.name}_natural_key')} "
            f"ON {quote(reg.name)} ({', '.join(map(quote, reg.natural_key))})"
        )
    return statements


def _changed(reg: Register, columns=None) -> str:
    names = columns or ["id", *reg.columns]
    return " OR ".join(f"OLD.{quote(n)} IS NOT NEW.{quote(n)}" for n in names)


def triggers_sql(reg: Register) -> dict[str, str]:
    t = quote(reg.name)
    triggers = {
        # An update that changes nothing leaves updated_at alone (a value supplied for it is
        # refused by the guards, see _guard_triggers).
        f"{TRIGGER_PREFIX}{reg.name}_updated_at": (
            f"CREATE TRIGGER {{name}} AFTER UPDATE ON {t} FOR EACH ROW\n"
            f"WHEN NEW.updated_at IS OLD.updated_at AND ({_changed(reg)})\n"
            f"BEGIN UPDATE {t} SET updated_at = {NOW_SQL} WHERE id = NEW.id; END"
        ),
        # The id is what history, references and restores follow; it is given on insert at most.
        f"{TRIGGER_PREFIX}{reg.name}_id_fixed": (
            f"CREATE TRIGGER {{name}} BEFORE UPDATE OF id ON {t} FOR EACH ROW WHEN NEW.id IS NOT OLD.id\n"
            f"BEGIN SELECT RAISE(ABORT, {literal(ID_FIXED)}); END"
        ),
    }
    triggers.update(_guard_triggers(reg))
    triggers.update(_key_triggers(reg))
    for queue, columns, kind in (
        (SEARCH_QUEUE, list(reg.search), "search"),
        (XREF_QUEUE, [*reg.cross_references, *_xref_conditions(reg)], "xref"),
    ):
        if not columns:
            continue
        # NOT EXISTS, not OR IGNORE: a trigger's conflict clause gives way to the statement's
        # that fired it, so under core's upsert (INSERT … ON CONFLICT DO UPDATE) OR IGNORE would
        # become ABORT and an update queueing NEW and OLD (the same id) would fail.
        enqueue = (f"INSERT INTO {queue} (table_name, row_id) SELECT {literal(reg.name)}, {{0}}.id"
                   f" WHERE NOT EXISTS (SELECT 1 FROM {queue} WHERE table_name = {literal(reg.name)} AND row_id = {{0}}.id);")
        of = ", ".join(map(quote, ["id", *dict.fromkeys(columns)]))
        triggers[f"{TRIGGER_PREFIX}{reg.name}_{kind}_insert"] = (
            f"CREATE TRIGGER {{name}} AFTER INSERT ON {t} BEGIN {enqueue.format('NEW')} END"
        )
        triggers[f"{TRIGGER_PREFIX}{reg.name}_{kind}_update"] = (
            f"CREATE TRIGGER {{name}} AFTER UPDATE OF {of} ON {t} "
            f"BEGIN {enqueue.format('NEW')} {enqueue.format('OLD')} END"
        )
        if kind == "search":
            triggers[f"{TRIGGER_PREFIX}{reg.name}_{kind}_delete"] = (
                f"CREATE TRIGGER {{name}} AFTER DELETE ON {t} BEGIN {enqueue.format('OLD')} END"
            )
    triggers.update(_canonicalise_triggers(reg))
    triggers.update(_derive_triggers(reg))
    triggers.update(_row_access_triggers(reg))
    generated = {name: sql.format(name=quote(name)) for name, sql in triggers.items()}
    # The processes (workflow, on_transition, rollup): their own module, which builds on this one.
    from taizhang import workflow

    generated.update(workflow.triggers_sql(reg))
    return generated


def _row_access_triggers(reg: Register) -> dict[str, str]:
    """A narrowed writer writes only rows inside their scope (taizhang/row_access.py)."""
    from taizhang import registers, row_access   # row_access builds on this module

    return row_access.triggers_sql(registers.load(), reg)


def _guard_triggers(reg: Register) -> dict[str, str]:
    """The guards of every column, before the row is written: on insert all of them, on update
    those of the columns that change (a value stored before a rule existed does not block
    editing the rest of the row)."""
    t = quote(reg.name)
    inserting, updating = [], []
    for col in reg.columns.values():
        for guard in _guards(reg, col):
            raise_ = f"SELECT RAISE(ABORT, {literal(guard.message)})"
            inserting.append(f"{raise_} WHERE NOT ({guard.sql});")
            v = quote(col.name)
            updating.append(f"{raise_} WHERE NEW.{v} IS NOT OLD.{v} AND NOT ({guard.sql});")
    # The times are the database's. Refused rather than replaced: a value sent for them is a
    # mistake worth saying (a round trip that sends back the values read is not refused), and
    # a trigger that rewrote them would undo the one that keeps updated_at.
    times = f"SELECT RAISE(ABORT, {literal(TIMES_KEPT)}) WHERE"
    inserting.append(f"{times} NEW.created_at IS NOT {NOW_SQL} OR NEW.updated_at IS NOT {NOW_SQL};")
    # updated_at may become now: that is what the updated_at trigger writes.
    updating.append(f"{times} NEW.created_at IS NOT OLD.created_at"
                    f" OR (NEW.updated_at IS NOT OLD.updated_at AND NEW.updated_at IS NOT {NOW_SQL});")
    return {
        f"{TRIGGER_PREFIX}{reg.name}_guard_insert": (
            f"CREATE TRIGGER {{name}} BEFORE INSERT ON {t} FOR EACH ROW BEGIN {' '.join(inserting)} END"
        ),
        f"{TRIGGER_PREFIX}{reg.name}_guard_update": (
            f"CREATE TRIGGER {{name}} BEFORE UPDATE ON {t} FOR EACH ROW BEGIN {' '.join(updating)} END"
        ),
    }


def _key_triggers(reg: Register) -> dict[str, str]:
    """Natural keys stored normalised (characters.normalise_key), so a look-alike of an existing
    key — ' 00012', '００012', '\u200b00012' — meets the UNIQUE constraint instead of becoming a
    second record."""
    t = quote(reg.name)
    triggers = {}
    for name in reg.key_columns:
        c = quote(name)
        steps = _key_steps()
        # A trigger's statements take the conflict clause of the statement that fired it: under
        # INSERT OR IGNORE (core's "ignore": true) the UPDATE below is skipped when the key it
        # writes is taken, leaving a look-alike second record. So a key still not normalised
        # after it is refused as SQLite refuses a taken key. (Under OR REPLACE the taken key's
        # row goes, as it would for the exact key.) The scratch row is deleted first, not
        # replaced, for the same reason: OR IGNORE would keep a stale value.
        taken = "UNIQUE constraint failed: " + ", ".join(
            f"{reg.name}.{k}" for k in ([name] if reg.columns[name].unique else reg.natural_key))
        body = (
            f"BEGIN DELETE FROM {KEY_SCRATCH}; INSERT INTO {KEY_SCRATCH} (id, value) VALUES (1, NEW.{c});"
            + "".join(f" UPDATE {KEY_SCRATCH} SET value = {step};" for step in steps)
            + f" UPDATE {t} SET {c} = (SELECT trim(value, {chars_sql(characters.BLANK)}) FROM {KEY_SCRATCH})"
            f" WHERE id = NEW.id; DELETE FROM {KEY_SCRATCH};"
            f" SELECT RAISE(ABORT, {literal(taken)}) FROM {t} WHERE id = NEW.id AND ({needs_key_normalising(c)}); END"
        )
        when = f"WHEN {needs_key_normalising('NEW.' + c)}"
        triggers[f"{TRIGGER_PREFIX}{reg.name}_{name}_key_insert"] = (
            f"CREATE TRIGGER {{name}} AFTER INSERT ON {t} FOR EACH ROW {when} {body}"
        )
        triggers[f"{TRIGGER_PREFIX}{reg.name}_{name}_key_update"] = (
            f"CREATE TRIGGER {{name}} AFTER UPDATE OF {c} ON {t} FOR EACH ROW {when} {body}"
        )
    return triggers


def canonical_sql(col: Column, value_sql: str) -> str:
    """The canonical value of an enum or yes/no input (a synonym, a 繁體 spelling, spaces around
    it), as the canonicalise trigger stores it; any other input as it is."""
    cases = " ".join(
        f"WHEN {literal(word)} THEN {literal(value)}"
        for word, value in sorted(col.synonyms().items())
    )
    return (f"CASE WHEN {value_sql} IN ({', '.join(map(literal, col.values))}) THEN {value_sql}"
            f" ELSE CASE {_normalised(value_sql)} {cases} ELSE {value_sql} END END")


def _canonicalise_triggers(reg: Register) -> dict[str, str]:
    """Enum and yes/no synonyms (在岗, active, 是, √ …) stored as their canonical value."""
    columns = [c for c in reg.columns.values() if c.type in ("enum", "bool")]
    if not columns:
        return {}
    t = quote(reg.name)

    # Only a row holding a synonym runs the trigger's UPDATE at all (imports send canonical values).
    needs = " OR ".join(
        f"NEW.{quote(c.name)} NOT IN ({', '.join(map(literal, c.values))})" for c in columns
    )
    body = (
        f"UPDATE {t} SET {', '.join(f'{quote(c.name)} = {canonical_sql(c, quote(c.name))}' for c in columns)}"
        f" WHERE id = NEW.id;"
    )
    return {
        f"{TRIGGER_PREFIX}{reg.name}_canonical_insert": (
            f"CREATE TRIGGER {{name}} AFTER INSERT ON {t} WHEN {needs} BEGIN {body} END"
        ),
        f"{TRIGGER_PREFIX}{reg.name}_canonical_update": (
            f"CREATE TRIGGER {{name}} AFTER UPDATE OF {', '.join(quote(c.name) for c in columns)} ON {t}"
            f" WHEN {needs} BEGIN {body} END"
        ),
    }


def _xref_conditions(reg: Register) -> list[str]:
    return [c for ref in reg.cross_references.values() for c in (ref.get("when") or {})]


def derive_kind(rule: dict) -> str:
    """How a derived column is kept (db/registers.yml `derive:`):
    weighted   weights: {column: weight} — the weighted mean, rounded to 2, once every score is there
    computed   sql: an expression over the row's columns, or from + map: a lookup — always
    banded     from + thresholds: [[limit, value] …] — follows its source unless someone chose one
    default    default: an expression — fills the column when it is left blank"""
    if "weights" in rule:
        return "weighted"
    if "thresholds" in rule:
        return "banded"
    if "default" in rule:
        return "default"
    return "computed"


def columns_in(reg: Register, sql: str) -> list[str]:
    """The register's columns an SQL expression names (bare names, as in checks:)."""
    return [c for c in reg.columns if re.search(rf"(?<![.\w]){re.escape(c)}(?!\w)", sql)]


def derive_inputs(reg: Register, rule: dict) -> list[str]:
    kind = derive_kind(rule)
    if kind == "weighted":
        return list(rule["weights"])
    if "from" in rule:
        return [rule["from"]]
    return columns_in(reg, rule["default"] if kind == "default" else rule["sql"])


def derive_expression(rule: dict, prefix: str = "") -> str:
    """The value of a derived column, over the current row's columns (prefix 'OLD.' for the
    old row; only for the kinds that are not plain SQL)."""
    kind = derive_kind(rule)
    if kind == "weighted":
        weights = rule["weights"]
        weighted = " + ".join(f"{w!r} * {prefix}{quote(c)}" for c, w in weights.items())
        return f"round(({weighted}) / {sum(weights.values())!r}, 2)"
    source = f"{prefix}{quote(rule['from'])}" if "from" in rule else None
    if kind == "banded":
        cases = " ".join(
            f"WHEN {source} >= {lim!r} THEN {literal(val)}" if lim is not None else f"ELSE {literal(val)}"
            for lim, val in rule["thresholds"])
        return f"CASE WHEN {source} IS NULL THEN NULL {cases} END"
    if "map" in rule:
        cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in rule["map"].items())
        return f"CASE {source} {cases} END"
    return f"({rule['default'] if kind == 'default' else rule['sql']})"


def _derive_triggers(reg: Register) -> dict[str, str]:
    """Derived columns (`derive:`; see derive_kind), kept by triggers so every write path gets
    them. One trigger per event runs the rules in the definition's order, so a column derived
    from another derived one (a grade from a weighted score) sees it already computed."""
    if not reg.derive:
        return {}
    t = quote(reg.name)
    on_insert, on_update, watched = [], [], []
    for name, rule in reg.derive.items():
        c, kind, value = quote(name), derive_kind(rule), derive_expression(rule)
        watched += [*derive_inputs(reg, rule), name]
        where = "WHERE id = NEW.id"
        if kind in ("weighted", "computed"):
            present = " AND ".join(f"{quote(x)} IS NOT NULL" for x in rule["weights"]) if kind == "weighted" else "1"
            statement = f"UPDATE {t} SET {c} = {value} {where} AND {present} AND {c} IS NOT {value};"
            on_insert.append(statement)
            on_update.append(statement)
        elif kind == "default":
            statement = f"UPDATE {t} SET {c} = {value} {where} AND {c} IS NULL AND {value} IS NOT NULL;"
            on_insert.append(statement)
            on_update.append(statement)
        else:  # banded
            on_insert.append(f"UPDATE {t} SET {c} = {value} {where} AND {c} IS NULL AND {quote(rule['from'])} IS NOT NULL;")
            # It follows the source only while it is the derived one: a value someone chose (now,
            # or when the row was written) is kept.
            on_update.append(
                f"UPDATE {t} SET {c} = {value} {where} AND NEW.{c} IS OLD.{c}"
                f" AND (OLD.{c} IS NULL OR OLD.{c} = {derive_expression(rule, 'OLD.')}) AND {c} IS NOT {value};")
    of = ", ".join(map(quote, dict.fromkeys(watched)))
    return {
        f"{TRIGGER_PREFIX}{reg.name}_derive_insert": (
            f"CREATE TRIGGER {{name}} AFTER INSERT ON {t} BEGIN {' '.join(on_insert)} END"
        ),
        f"{TRIGGER_PREFIX}{reg.name}_derive_update": (
            f"CREATE TRIGGER {{name}} AFTER UPDATE OF {of} ON {t} BEGIN {' '.join(on_update)} END"
        ),
    }


def fts_sql(reg: Register) -> str:
    columns = ", ".join(map(quote, reg.search))
    return (
        f"CREATE VIRTUAL TABLE {quote(fts_table(reg))} "
        f"USING fts5({columns}, tokenize = 'unicode61')"
    )


QUEUES_SQL = [
    *(f"CREATE TABLE IF NOT EXISTS {q} (table_name TEXT NOT NULL, row_id INTEGER NOT NULL,"
      f" PRIMARY KEY (table_name, row_id)) WITHOUT ROWID" for q in (SEARCH_QUEUE, XREF_QUEUE)),
    f"CREATE TABLE IF NOT EXISTS {KEY_SCRATCH} (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT)",
]


def create_registers(conn: sqlite3.Connection, definition: Definition, database: str) -> list[str]:
    """Create every register of one database file that does not exist yet, and seed those; the
    registers created. A register already there keeps its rows (a seed row someone deleted
    stays deleted)."""
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    created = []
    for reg in definition.registers_in(database):
        if reg.name in existing:
            continue
        conn.execute(create_table_sql(reg))
        created.append(reg.name)
        for row in reg.seed:
            cols = list(row)
            conn.execute(
                f"INSERT OR IGNORE INTO {quote(reg.name)} ({', '.join(map(quote, cols))}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
    return created


def add_column(conn: sqlite3.Connection, definition: Definition, register: str, column: str) -> None:
    """Migration helper: add a column from the definition unless it is there already."""
    reg = definition.registers[register]
    present = {r[1] for r in conn.execute(f"PRAGMA table_info({quote(register)})")}
    if column not in present:
        conn.execute(
            f"ALTER TABLE {quote(register)} ADD COLUMN {column_definition_sql(reg, reg.columns[column])}"
        )
