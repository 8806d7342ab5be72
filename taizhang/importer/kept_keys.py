"""Keys of the written files that rows of another file name (工号 and partner names that hr.db
agreements refer to): noted before an import writes, checked before it commits, so a replace
that deletes them is refused — ops.db cannot see hr.db, so no constraint can."""

from __future__ import annotations

from taizhang import xref
from taizhang.datadir import DataDir
from taizhang.importer.model import Run
from taizhang.registers import Definition


def guards(conns: dict, data_dir: DataDir, definition: Definition) -> dict[str, xref.KeyGuard]:
    """Before writing: the keys of each written file that another file's rows name (工号 and
    partner names in hr.db agreements), so a replace that deletes them is refused."""
    guards = {}
    for name, conn in conns.items():
        for source in {ref.source.database for ref in xref.references_into(definition, name)}:
            lookup = conns.get(source) or data_dir.connect(source)
            try:
                guards[name] = xref.KeyGuard(conn, lookup, definition, name)
            finally:
                if source not in conns:
                    lookup.close()
    return guards


def check(run: Run, guards: dict, conns: dict) -> bool:
    """Whether the run took away keys that another file's rows name (each one reported)."""
    found = False
    for name, guard in guards.items():
        (source,) = {ref.source.database for ref in guard.refs}
        # The referring file written in the same run is counted as the run leaves it.
        for lost in guard.lost(conns[name], conns.get(source)):
            plan = next((p for p in run.plans if p.register.name == lost.reference.target.name), run.plans[0])
            run.problem(None, None, "", lost.sentence, "改用 --mode upsert 保留这些记录，或请人事先处理相关协议", plan=plan)
            found = True
    return found
