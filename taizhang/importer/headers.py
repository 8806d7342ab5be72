"""Finding the table in a sheet and matching its columns to a register.

Headers are compared after converting to simplified characters, dropping every space (ASCII and
U+3000), treating full-width and half-width brackets alike and ignoring case. A trailing
parenthetical that is a note (联系电话（手机）) or a unit (费用（元）, 金额（万元）— which also scales
the values) still matches. A column matches by its Chinese label (简 or 繁), English label, column
name or a synonym from the definition. A reference column also accepts the target's key columns
as parts: 工号 + 姓名 for an employee, 培训课程 + 培训日期 for a training session.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from taizhang.chinese import to_simplified
from taizhang.registers import Definition, Register

ROW_NUMBER_HEADERS = {"序号", "编号", "行号", "no", "no.", "#", "序"}
# Units a header may carry in brackets, and what a money value is multiplied by.
UNIT_SCALES = {"元": 1, "人民币元": 1, "万元": 10_000, "千元": 1_000, "百万元": 1_000_000, "亿元": 100_000_000}
HEADER_SEARCH_ROWS = 30
# 审核/审批/制表 … need their colon (审核：韩子涵, 制表日期：…): a department may be called 审核部.
FOOTER = re.compile(r"^(制表人|填表人|填报人|合计|总计|小计|(制表|审核|审批|复核|注|备注|说明|日期)\w{0,3}[:：])")


def normalise(text) -> str:
    text = to_simplified(str(text))
    text = re.sub(r"[\s\u3000\u00a0]+", "", text)
    return text.replace("（", "(").replace("）", ")").replace("【", "[").replace("】", "]").casefold()


def split_note(text: str) -> tuple[str, str | None]:
    """'费用(万元)' -> ('费用', '万元'); text without a trailing parenthetical -> (text, None)."""
    m = re.match(r"^(.+?)\((.*)\)$", text)
    return (m[1], m[2]) if m else (text, None)


@dataclass(frozen=True)
class Target:
    """What one sheet column feeds: a register column, or a part of a reference (the target
    register's column, e.g. employee_id via employees.employee_no)."""

    column: str
    part: str | None = None
    scale: float = 1


@dataclass
class Layout:
    register: Register
    header_row: int                         # 0-based
    headers: list[str]                      # as written
    targets: dict[int, Target]              # sheet column index -> target
    skipped: dict[int, str] = field(default_factory=dict)   # index -> why (序号, --ignore)
    unknown: list[int] = field(default_factory=list)        # headers that match nothing
    notices: list[str] = field(default_factory=list)

    @property
    def score(self) -> int:
        return len(self.targets) - len(self.unknown)


def _names(texts) -> set[str]:
    out = set()
    for text in texts:
        if text:
            full = normalise(text)
            out |= {full, split_note(full)[0]}
    return out


def _column_names(col) -> set[str]:
    return _names([col.label, col.label_hant, col.en, col.name, *col.header_synonyms])


def vocabulary(definition: Definition, reg: Register) -> dict[str, Target]:
    """Every accepted header (normalised) -> its target, direct columns first."""
    vocab: dict[str, Target] = {}
    for col in reg.columns.values():
        if col.type != "fk":
            continue
        target = definition.registers[col.references]
        parts = dict.fromkeys([*target.natural_key, target.label_column])
        for part in parts:
            for name in _column_names(target.columns[part]):
                vocab.setdefault(name, Target(col.name, part))
    direct = {}
    for col in reg.columns.values():
        for name in _column_names(col):
            direct.setdefault(name, Target(col.name))
    return {**vocab, **direct}


def _match(header: str, vocab: dict[str, Target], reg: Register) -> Target | None:
    full = normalise(header)
    if full in vocab:
        base, unit = split_note(full)
        target = vocab[full]
    else:
        base, unit = split_note(full)
        target = vocab.get(base)
    if target is None:
        return None
    col = reg.columns.get(target.column)
    if unit in UNIT_SCALES and col is not None and col.money:
        label_unit = split_note(normalise(col.label))[1]
        scale = UNIT_SCALES[unit] / UNIT_SCALES.get(label_unit or "元", 1)
        return Target(target.column, target.part, scale)
    return target


def layout_for(
    rows: list[list], definition: Definition, reg: Register,
    mapping: dict[str, str] | None = None, ignore: set[str] | None = None,
) -> Layout | None:
    """The best header row for this register within the first rows, with its column matches."""
    vocab = vocabulary(definition, reg)
    mapped = {normalise(k): v for k, v in (mapping or {}).items()}
    ignored = {normalise(h) for h in (ignore or ())}
    best = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        headers = ["" if v is None else str(v).strip() for v in row]
        if sum(1 for h in headers if h) < 2:
            continue
        layout = Layout(reg, index, headers, {})
        for i, header in enumerate(headers):
            if not header:
                continue
            key = normalise(header)
            if key in ignored:
                layout.skipped[i] = "--ignore"
            elif key in mapped:
                layout.targets[i] = _mapped_target(mapped[key], reg, definition)
            elif key in ROW_NUMBER_HEADERS:
                layout.skipped[i] = "序号"
            elif (target := _match(header, vocab, reg)) is not None:
                layout.targets[i] = target
            else:
                layout.unknown.append(i)
        if layout.targets and (best is None or layout.score > best.score):
            best = layout
    if best is None or len(best.targets) < 2 and len(reg.columns) > 1:
        return None
    for i, target in best.targets.items():
        if target.scale != 1:
            best.notices.append(f"“{best.headers[i]}”列的值已乘以 {target.scale:g} 换算为元")
    return best


def _mapped_target(name: str, reg: Register, definition: Definition) -> Target:
    """--map HEADER=column, or HEADER=column.part for a reference part (employee_id.employee_no)."""
    column, _, part = name.partition(".")
    if column not in reg.columns:
        raise KeyError(f"--map 指定的列 {column} 不在{reg.label}中；可选：{', '.join(reg.columns)}")
    return Target(column, part or None)


def missing_required(layout: Layout) -> list[str]:
    covered = {t.column for t in layout.targets.values()}
    return [c.label for c in layout.register.columns.values() if c.required and c.name not in covered]


# First characters (简体) a footer line can start with: a cheap test before the full one, which
# every data row of a large sheet goes through. A 繁體 first character (製表人, 審核) is converted
# first, once per character.
_FOOTER_STARTS = set("制填合总小审批复注备说日")


@functools.lru_cache(maxsize=8192)
def _simplified_char(char: str) -> str:
    return to_simplified(char)


def is_footer(row: list) -> bool:
    """Footer lines under a table: 制表人/审核/合计/注 …, or one long text cell."""
    cells = [v for v in row if v not in (None, "")]
    if not cells or not isinstance(cells[0], str):
        return False
    first = cells[0].strip()
    if len(cells) == 1 and len(first) > 40:
        return True
    return bool(first) and _simplified_char(first[0]) in _FOOTER_STARTS and bool(FOOTER.match(normalise(first)))


def detect(
    rows: list[list], definition: Definition, names: list[str],
    mapping: dict[str, str] | None = None, ignore: set[str] | None = None,
) -> Layout | None:
    """The register a sheet holds, by its headers (ties broken by the sheet or file name)."""
    hints = normalise(" ".join(names))
    best, best_key = None, None
    for reg in definition.registers.values():
        try:
            layout = layout_for(rows, definition, reg, mapping, ignore)
        except KeyError:
            continue
        if layout is None:
            continue
        named = normalise(reg.label) in hints or reg.name in hints
        direct = sum(1 for t in layout.targets.values() if t.part is None)   # 工号 as employee_no, not as a 负责人
        key = (layout.score, named, direct, -len(layout.unknown))
        if best_key is None or key > best_key:
            best, best_key = layout, key
    return best
