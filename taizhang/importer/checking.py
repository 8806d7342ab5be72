"""Phases 3–4: resolve references against the database and the whole run; check duplicates,
cross-file references and the rules Python can see before the write lock is taken."""

from __future__ import annotations

import re
import sqlite3

from taizhang.characters import normalise_key
from taizhang.chinese import to_simplified
from taizhang.datadir import DataDir
from taizhang.importer.model import Record, Run, _identity
from taizhang.importer.values import CellError, parse_date, parse_text
from taizhang.registers import Definition, Register
from taizhang.schema import column_check, quote

# -- 3. resolve references --------------------------------------------------------------------
class Lookup:
    """Finds rows of a register by natural key or by label, in the database and in this run."""

    def __init__(self, conn: sqlite3.Connection, reg: Register, run_records: list[Record]):
        self.reg = reg
        key, label = list(reg.natural_key), reg.label_column
        cols = list(dict.fromkeys([*key, label]))
        self.by_key: dict[tuple, tuple] = {}
        rows = conn.execute(f"SELECT id, {', '.join(map(quote, cols))} FROM {quote(reg.name)}").fetchall()
        for row in rows:
            found = dict(zip(cols, row[1:]))
            self.by_key[tuple(_norm(found[c]) for c in key)] = ("db", row[0], found)
        # A row of the run with the key of a stored row is the same row, as the run will leave it.
        for record in run_records:
            if record.ok:
                self.by_key[tuple(_norm(_identity(record.values.get(c))) for c in key)] = ("run", record, record.values)
        self.by_label: dict[object, list] = {}
        for entry in self.by_key.values():
            self.by_label.setdefault(_norm(entry[2].get(label)), []).append(entry)
        self.synonyms = {_norm(w): _norm(name) for name, words in reg.name_synonyms.items() for w in words}

    def find(self, parts: dict[str, object], date1904: bool) -> tuple[object, str | None, str | None]:
        """(entry, reason, hint): exactly one of entry and reason is set."""
        reg = self.reg
        key_cols = list(reg.natural_key)
        parsed = {}
        for part, value in parts.items():
            col = reg.columns.get(part)
            if col is not None and col.type == "date":
                parsed[part] = parse_date(value, date1904=date1904)
            else:
                parsed[part] = parse_text(value)
        direct = parsed.pop("_direct", None)
        if direct is not None:
            m = re.match(r"^(.+?)[（(]([^（）()]+)[）)]$", direct)   # 张伟（00012）, as exports write it
            if m and len(key_cols) == 1:
                parsed.setdefault(key_cols[0], m[2].strip())
                parsed.setdefault(reg.label_column, m[1].strip())
            elif len(key_cols) == 1 and (_norm(direct),) in self.by_key:
                parsed.setdefault(key_cols[0], direct)
            else:
                parsed.setdefault(reg.label_column, direct)
        if all(c in parsed for c in key_cols):
            entry = self.by_key.get(tuple(_norm(parsed[c]) for c in key_cols))
            if entry is None and key_cols == [reg.label_column]:   # the name is the key: 重要客户 as VIP
                entry = self.by_key.get((self.synonyms.get(_norm(parsed[key_cols[0]])),))
            shown = " + ".join(str(parsed[c]) for c in key_cols)
            if entry is None:
                return None, f"{reg.label}中没有「{shown}」", f"请先在{reg.label}中登记，或核对{self._key_labels()}"
            label = parsed.get(reg.label_column)
            if label is not None and reg.label_column not in key_cols and _norm(entry[2].get(reg.label_column)) != _norm(label):
                actual = entry[2].get(reg.label_column)
                return None, f"{self._key_labels()}「{shown}」对应的是「{actual}」，不是「{label}」", "请核对两列是否填在同一行"
            return entry, None, None
        label = parsed.get(reg.label_column)
        if label is None:
            return None, f"无法确定{reg.label}", f"请填写{self._key_labels()}"
        wanted = self.synonyms.get(_norm(label), _norm(label))
        found = self.by_label.get(wanted, [])
        if len(found) == 1:
            return found[0], None, None
        if not found:
            return None, f"{reg.label}中没有「{label}」", f"请核对名称，或先在{reg.label}中登记"
        keys = "、".join(str(e[2].get(key_cols[0])) for e in found)
        return None, f"「{label}」在{reg.label}中有多条（{keys}）", f"请改填{self._key_labels()}以区分"

    def _key_labels(self) -> str:
        return " + ".join(self.reg.columns[c].label for c in self.reg.natural_key)


def _norm(value):
    """How a reference is matched: as keys are stored (００13 finds 0013), 简体, any case."""
    if isinstance(value, str):
        return to_simplified(normalise_key(value)).casefold()
    return value


def resolve(run: Run, data_dir: DataDir, definition: Definition, date1904: bool = False) -> None:
    by_register: dict[str, list[Record]] = {}
    for plan in run.plans:
        by_register.setdefault(plan.register.name, []).extend(plan.records)
    lookups: dict[str, Lookup] = {}
    for plan in run.plans:
        for col in plan.register.foreign_keys:
            target = definition.registers[col.references]
            if target.name not in lookups:
                conn = data_dir.connect(target.database)
                try:
                    lookups[target.name] = Lookup(conn, target, by_register.get(target.name, []))
                finally:
                    conn.close()
        for record in plan.records:
            for column, parts in record.ref_parts().items():
                col = plan.register.columns[column]
                try:
                    entry, reason, hint = lookups[col.references].find(parts, date1904)
                except CellError as ex:
                    entry, reason, hint = None, ex.reason, ex.hint
                if entry is None:
                    run.problem(record, column, " / ".join(str(v) for v in parts.values()), reason, hint)
                else:
                    record.values[column] = entry   # ("db", id, …) or ("run", record, …): an id once written


# -- 4. check ---------------------------------------------------------------------------------
def check(run: Run, definition: Definition) -> None:
    for plan in run.plans:
        reg = plan.register
        for record in plan.records:
            for col in reg.columns.values():
                if col.required and col.name in plan.column_index and record.values.get(col.name) is None \
                        and not (col.type == "fk" and any(c == col.name for c, _, _ in record.refs)) and record.ok:
                    run.problem(record, col.name, "", f"{col.label}为必填项", f"请填写{col.label}")
                if col.not_before and record.values.get(col.name) and record.values.get(col.not_before):
                    if record.values[col.name] < record.values[col.not_before]:
                        # The database's sentence for the rule, with the date it may not precede.
                        rule = column_check(reg, col, "not_before")
                        run.problem(record, col.name, record.values[col.name],
                                    f"{rule.message}（{record.values[col.not_before]}）", "请核对日期")
    seen: dict[tuple, Record] = {}
    for plan in run.plans:
        for record in plan.records:
            if not record.ok:
                continue
            key = (plan.register.name, *map(_norm, record.key()))
            if key in seen:
                first = seen[key]
                if _comparable(first) == _comparable(record):
                    record.outcome = "duplicate"
                    run.notices.append(f"{plan.file.name}「{plan.sheet}」第 {record.row} 行与第 {first.row} 行完全相同，已跳过")
                else:
                    labels = "、".join(plan.register.columns[c].label for c in plan.register.natural_key)
                    run.problem(record, plan.register.natural_key[0], " + ".join(map(str, record.key())),
                                f"与第 {first.row} 行的{labels}相同但内容不同", "请合并为一行或修正其中一行")
            else:
                seen[key] = record


def _comparable(record: Record) -> dict:
    return {k: _identity(v) for k, v in record.values.items()}


def check_cross_references(run: Run, data_dir: DataDir, definition: Definition) -> None:
    """工号 and partner names in hr.db rows must exist in ops.db — or in this run."""
    for plan in run.plans:
        for column, ref in plan.register.cross_references.items():
            target = definition.registers[ref["register"]]
            conn = data_dir.connect(target.database)
            try:
                known = {_norm(r[0]) for r in conn.execute(f"SELECT {quote(ref['column'])} FROM {quote(target.name)}")}
            finally:
                conn.close()
            known |= {_norm(r.values.get(ref["column"])) for p in run.plans if p.register.name == target.name
                      for r in p.records if r.ok}
            for record in plan.records:
                value = record.values.get(column)
                if record.ok and value is not None and _norm(value) not in known:
                    label = target.columns[ref["column"]].label
                    run.problem(record, column, value, f"{target.label}中没有{label}为「{value}」的记录",
                                f"请核对{plan.register.columns[column].label}，或先导入{target.label}")
