"""Derived columns of every kind (`derive:` in db/registers.yml), kept by the database on every
write path: a lookup (反馈类型 → 处理时限小时数), a default from other columns that a person may
override (回复期限, 请假天数), next to the weighted score and banded rating of the first round."""

import sqlite3

import pytest

from taizhang import audit
from taizhang.importer.derived_columns import settle
from taizhang.registers import load
from taizhang.schema import derive_inputs, derive_kind

pytestmark = pytest.mark.fast

WRITER = audit.Who(actor="tester", role="admin", source="cli", roles=("admin",))


def _write(data_dir, sql, params=()):
    conn = data_dir.connect("ops")
    with audit.audited(conn, WRITER, audit.key_from_secret(data_dir.secret())):
        cursor = conn.execute(sql, params)
    return conn, cursor.lastrowid


def _feedback(data_dir, **values):
    row = {"feedback_no": "F-1", "received_at": "2026-11-20 09:30", "kind": "投诉", "subject": "送货延迟", **values}
    columns = ", ".join(row)
    return _write(data_dir, f"INSERT INTO customer_feedback ({columns}) VALUES ({', '.join('?' * len(row))})",
                  list(row.values()))


def test_the_time_limit_follows_the_kind_and_the_deadline_defaults_from_it(empty_data_dir):
    conn, row_id = _feedback(empty_data_dir)
    row = conn.execute("SELECT time_limit_hours, reply_due_at FROM customer_feedback WHERE id = ?", [row_id]).fetchone()
    assert tuple(row) == (24, "2026-11-21 09:30")          # 投诉: 24 hours after 受理时间


def test_a_deadline_someone_gives_is_kept(empty_data_dir):
    conn, row_id = _feedback(empty_data_dir, kind="咨询", reply_due_at="2026-11-20 10:00")
    row = conn.execute("SELECT time_limit_hours, reply_due_at FROM customer_feedback WHERE id = ?", [row_id]).fetchone()
    assert tuple(row) == (4, "2026-11-20 10:00")


def test_a_lookup_is_the_databases_whatever_is_written(empty_data_dir):
    conn, row_id = _feedback(empty_data_dir, time_limit_hours=500)
    assert conn.execute("SELECT time_limit_hours FROM customer_feedback").fetchone()[0] == 24
    with audit.audited(conn, WRITER, audit.key_from_secret(empty_data_dir.secret())):
        conn.execute("UPDATE customer_feedback SET kind = '建议' WHERE id = ?", [row_id])
    assert conn.execute("SELECT time_limit_hours FROM customer_feedback").fetchone()[0] == 72


def test_blanking_a_default_column_fills_it_again(empty_data_dir):
    conn, row_id = _feedback(empty_data_dir)
    with audit.audited(conn, WRITER, audit.key_from_secret(empty_data_dir.secret())):
        conn.execute("UPDATE customer_feedback SET reply_due_at = NULL WHERE id = ?", [row_id])
    assert conn.execute("SELECT reply_due_at FROM customer_feedback").fetchone()[0] == "2026-11-21 09:30"


def test_the_derived_columns_are_recorded_in_the_audit_log_with_the_row(empty_data_dir):
    conn, row_id = _feedback(empty_data_dir)
    after = conn.execute("SELECT after FROM _audit_log WHERE table_name = 'customer_feedback' ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "\"reply_due_at\":\"2026-11-21 09:30\"" in after


def test_every_derive_rule_of_the_definition_has_a_kind_and_known_inputs():
    for reg in load().registers.values():
        for name, rule in reg.derive.items():
            assert name in reg.columns, (reg.name, name)
            assert derive_kind(rule) in ("weighted", "computed", "banded", "default")
            assert derive_inputs(reg, rule) or derive_kind(rule) == "default", (reg.name, name)   # a constant default
            assert set(derive_inputs(reg, rule)) <= set(reg.columns), (reg.name, name)


def test_reimport_leaves_lookups_and_blank_defaults_to_the_database():
    reg = load().registers["customer_feedback"]
    current = {"kind": "投诉", "time_limit_hours": 24, "reply_due_at": "2026-11-21 09:30", "subject": "旧"}
    changed = {"time_limit_hours": 99, "reply_due_at": None, "subject": "新"}
    assert settle(reg, current, changed) == {"subject": "新"}


def test_a_shell_write_gets_the_same_derived_values(empty_data_dir):
    # Registers without a workflow accept writes from outside the app; the derivation is the same.
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    conn.execute("INSERT INTO partners (name) VALUES ('甲')")
    conn.execute("INSERT INTO partner_evaluations (partner_id, period, performance_score, service_score,"
                 " reputation_score) VALUES (1, '2025', 60, 60, 90)")
    conn.commit()
    assert conn.execute("SELECT total_score, rating FROM partner_evaluations").fetchone() == (70.0, "合格")


def test_a_reception_must_be_answered_within_the_minutes_it_was_given(empty_data_dir):
    conn, row_id = _write(empty_data_dir, "INSERT INTO customer_receptions (received_at, caller_name, request)"
                          " VALUES ('2026-11-20 16:45', '周女士', '询问发票')")
    _write(empty_data_dir, "INSERT INTO customer_receptions (received_at, caller_name, request, reply_within_minutes)"
           " VALUES ('2026-11-20 16:50', '吴先生', '投诉物流', 120)")
    rows = conn.execute("SELECT caller_name, reply_within_minutes, reply_due_at FROM customer_receptions ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("周女士", 30, "2026-11-20 17:15"), ("吴先生", 120, "2026-11-20 18:50")]
