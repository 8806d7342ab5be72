"""The import engine: files -> checked records -> one short write, all or nothing.

1. read   every sheet of every file, find its table and match its columns (headers.py); a
          column that matches nothing, or a missing required column, stops the run.
2. parse  every cell (values.py) and collect the parts of each reference.
3. resolve references against the database *and* every row of the run, so files may refer to
          each other in any order (departments <-> employees on an empty database).
4. check  duplicates and the rules Python can see early, for a per-cell report.
5. write  in one transaction per database file, opened only now (BEGIN IMMEDIATE): rows in
          dependency order, references deferred where they form a cycle; each change audited
          with the batch id; a row the database refuses is reported with the database's reason.

The phases live in reading.py (1–2), checking.py (3–4) and writing.py (5); model.py holds what
they pass along. This module runs them.
"""

from __future__ import annotations

import pathlib

from taizhang import audit
from taizhang.datadir import DataDir
from taizhang.importer import rights
from taizhang.importer.checking import check, check_cross_references, resolve
from taizhang.importer.files import ImportFileError
from taizhang.importer.model import (  # noqa: F401 - the engine's public names
    MODES, ImportStopped, Problem, Run, new_batch_id,
)
from taizhang.importer.reading import read
from taizhang.importer.writing import write
from taizhang.registers import Definition, load


def import_files(
    data_dir: DataDir, paths: list[pathlib.Path], *, register: str | None = None, sheet: str | None = None,
    mode: str = "upsert", dry_run: bool = False, skip_invalid: bool = False,
    mapping: dict[str, str] | None = None, ignore: set[str] | None = None,
    actor: str | None = None, role: str | None = None, definition: Definition | None = None,
    progress=None, owner: str | None = None, allowed: rights.Allowed | None = None,
) -> Run:
    """One run over several files: all of it written, or — if any row is rejected and
    skip_invalid is off, or dry_run is on — none of it. Raises ImportStopped / ImportFileError
    (rights.NotAllowed when `allowed` lacks an action the mode needs on a register of the run).

    `owner` is the users.db account key the batch belongs to (None: no web login may undo it
    but an admin); `allowed` None means a trusted caller (the command line without --actor)."""
    definition = definition or load()
    run = Run(new_batch_id(), mode)
    if progress:
        run.progress = progress
    read(run, paths, definition, register, sheet, mapping, ignore)
    if allowed is not None:
        rights.require_for_mode(allowed, mode, {p.register.name for p in run.plans}, definition)
    resolve(run, data_dir, definition)
    check_cross_references(run, data_dir, definition)
    check(run, definition)
    if dry_run or (run.problems and not skip_invalid):
        for plan in run.plans:
            for record in plan.records:
                if not record.ok:
                    run.count(plan.register.name, "rejected")
        return run
    who = audit.Who(actor=actor, role=role, source="import", batch_id=run.batch_id,
                    note="导入 " + "、".join(p.name for p in paths))
    write(run, data_dir, definition, who, skip_invalid, owner)
    return run


__all__ = ["ImportFileError", "ImportStopped", "import_files", "Run", "Problem", "MODES"]
