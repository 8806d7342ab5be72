"""Every process of db/registers.yml, on the demo data: a transition the writer may not take is
refused with the same sentence through the JSON API, /-/execute-write, an import and a sqlite3
shell, and nothing changes — the row, its state and the audit log stay as they were.

The writer is an administrator with no employee behind the login: it holds the admin role only,
so every transition whose `by` names people or other roles is one it may not take. Which
transition to try is worked out from the definition and `workflow.available()`, so each register
is tried on a row where such a step leaves its current state."""

import sqlite3

import pytest
import pytest_asyncio

from taizhang import audit, workflow
from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from taizhang.importer.engine import import_files
from taizhang.registers import load
from tests.conftest import TODAY, actor, xlsx_bytes

pytestmark = pytest.mark.fast

DEFINITION = load()
PROCESSES = [r for r in DEFINITION.registers.values() if r.workflow]
ADMIN = audit.Who(actor="test-admin", role="admin", source="api", roles=("admin",))
REFUSED_KINDS = {"not_allowed", "condition", "comment"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> DataDir:
    from taizhang import demo

    data_dir = DataDir.resolve(tmp_path_factory.mktemp("paths") / "data")
    init(data_dir)
    demo.fill(data_dir, today=TODAY)
    return data_dir


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ds(data_dir):
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    return ds


def _wrong_step(conn, reg):
    """(row id, a transition leaving the row's state that ADMIN may not take) — the first row
    that has one; its target is no state an allowed transition reaches either."""
    state = reg.workflow.column
    for row_id, current in conn.execute(f"SELECT id, {state} FROM {reg.name} ORDER BY id"):
        allowed = {t.target for t in workflow.available(conn, reg, row_id, ADMIN)}
        for t in reg.workflow.leaving(current):
            if t.target not in allowed:
                return row_id, t
    raise AssertionError(f"{reg.name}: no row where the admin meets a step it may not take")


def _snapshot(conn, reg, row_id):
    row = conn.execute(f"SELECT * FROM {reg.name} WHERE id = ?", [row_id]).fetchone()
    return row, conn.execute("SELECT count(*) FROM _audit_log").fetchone()[0]


def _import_row(conn, reg, row_id, target) -> list:
    """The row as a spreadsheet — its natural key, the required columns and the state changed to
    `target` — with references written as people type them (the referenced row's key or label)."""
    values = dict(zip([d[0] for d in conn.execute(f"SELECT * FROM {reg.name} LIMIT 0").description],
                      conn.execute(f"SELECT * FROM {reg.name} WHERE id = ?", [row_id]).fetchone()))
    header, cells = [], []
    required = [c.name for c in reg.columns.values() if c.required]
    for name in dict.fromkeys([*reg.natural_key, *required, reg.workflow.column]):
        column = reg.columns[name]
        value = target if name == reg.workflow.column else values[name]
        if column.type == "fk" and value is not None:
            ref = DEFINITION.registers[column.references]
            key = ref.natural_key[0] if len(ref.natural_key) == 1 else ref.label_column
            value = conn.execute(f"SELECT {key} FROM {ref.name} WHERE id = ?", [value]).fetchone()[0]
        header.append(column.label)
        cells.append(value)
    return [header, cells]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("reg", PROCESSES, ids=lambda r: r.name)
async def test_a_step_the_writer_may_not_take_is_refused_alike_on_every_path(ds, data_dir, reg, tmp_path):
    db = reg.database
    conn = data_dir.connect(db)
    row_id, step = _wrong_step(conn, reg)
    before = _snapshot(conn, reg, row_id)
    kinds = workflow.refusals(reg, DEFINITION)
    admin = actor("admin")

    r = await ds.client.post(f"/{db}/{reg.name}/{row_id}/-/update", actor=admin,
                             json={"update": {reg.workflow.column: step.target}})
    assert r.status_code == 400, r.text
    [sentence] = r.json()["errors"]
    assert kinds.get(sentence) in REFUSED_KINDS, sentence
    assert step.action in sentence and step.target in sentence

    r = await ds.client.post(f"/{db}/-/execute-write", actor=admin, json={
        "sql": f"update {reg.name} set {reg.workflow.column} = '{step.target}' where id = {row_id}"})
    assert r.status_code == 400 and sentence in r.json()["error"], r.text

    path = tmp_path / f"{reg.label}.xlsx"
    path.write_bytes(xlsx_bytes(_import_row(conn, reg, row_id, step.target)))
    run = import_files(data_dir, [path], register=reg.name, actor="test-admin", role="admin")
    assert not run.written and [p.reason for p in run.problems] == [sentence]

    shell = sqlite3.connect(data_dir.database(db))
    with pytest.raises(sqlite3.IntegrityError) as caught:
        shell.execute(f"UPDATE {reg.name} SET {reg.workflow.column} = ? WHERE id = ?", [step.target, row_id])
    shell.close()
    assert kinds.get(str(caught.value)) == "no_context"

    assert _snapshot(conn, reg, row_id) == before
    conn.close()
