"""The rights an import or an undo needs, checked against those the actor has *now*.

An import writes rows: append inserts, upsert also updates, replace also deletes the rows the
file no longer has. An undo reverses each change of its batch: an inserted row is deleted, an
updated one updated back, a deleted one inserted again. Each needs the matching Datasette action
on that register, whichever door (browser, command line) it comes through.

`Allowed` is how a door says what the actor may do: the web asks Datasette (datasette.yml), the
command line asks the access table of a users.db account's role (datasette.yml is generated from
the same table, so both give the same answer).
"""

from __future__ import annotations

from typing import Callable

from taizhang.importer.model import ImportStopped
from taizhang.registers import Definition

Allowed = Callable[[str, str], bool]   # (action, register) -> may the actor do it?

ACTIONS = ("insert-row", "update-row", "delete-row")
FOR_MODE = {
    "append": ("insert-row",),
    "upsert": ("insert-row", "update-row"),
    "replace": ("insert-row", "update-row", "delete-row"),
}
# audit operation of the batch's change -> what undoing it does
FOR_UNDO = {"insert": "delete-row", "update": "update-row", "delete": "insert-row"}
LABELS = {"insert-row": "新增", "update-row": "修改", "delete-row": "删除"}
# Datasette's action -> the access table's grant (db/registers.yml `access:`)
GRANT = {"insert-row": "write", "update-row": "write", "delete-row": "delete"}


class NotAllowed(ImportStopped):
    """The actor lacks a right the run needs; `missing` holds (action, register) pairs."""

    def __init__(self, message: str, missing: list[tuple[str, str]]):
        super().__init__(message)
        self.missing = missing


def for_role(definition: Definition, role: str) -> Allowed:
    return lambda action, register: register in definition.grants(role, GRANT[action])


def missing(allowed: Allowed, needs: set[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(need for need in needs if not allowed(*need))


def describe(missing: list[tuple[str, str]], definition: Definition) -> str:
    """「删除合作伙伴档案、新增员工」: what is missing, in words."""
    def label(register):
        reg = definition.registers.get(register)
        return reg.label if reg else register

    return "、".join(f"{LABELS[action]}{label(register)}" for action, register in missing)


def undo_needs(counts: dict[str, dict[str, int]]) -> set[tuple[str, str]]:
    """What undoing a batch with these counts (register -> inserted/updated/deleted) needs."""
    done = {"insert": "inserted", "update": "updated", "delete": "deleted"}
    return {(FOR_UNDO[op], register) for register, c in counts.items() for op, key in done.items() if c.get(key)}


def modes(allowed: Allowed, register: str) -> list[str]:
    """The import modes the actor may use on this register."""
    return [mode for mode, needs in FOR_MODE.items() if all(allowed(action, register) for action in needs)]


def require_for_mode(allowed: Allowed, mode: str, registers: set[str], definition: Definition) -> None:
    lacking = missing(allowed, {(action, r) for r in registers for action in FOR_MODE[mode]})
    if lacking:
        hint = "（“替换”方式 replace 会删除文件里没有的记录；可改用“新增并更新” upsert）" if any(a == "delete-row" for a, _ in lacking) else ""
        raise NotAllowed(f"没有{describe(lacking, definition)}的权限，不能用此方式导入{hint}", lacking)
