"""Versioned migrations, one set per database file, applied by `taizhang init`.

m001 creates every register from the current definition, so a fresh database is always at
the latest schema; later migrations must therefore be idempotent (`schema.add_column` is).
Triggers, indexes and search tables are not migrations: derived.sync() rebuilds them
from the definition after every run.

Adding a column, for example:

    @ops()
    def m002_customers_wechat(db):
        schema.add_column(db.conn, definition, "customers", "wechat")
"""

from sqlite_utils.migrations import Migrations

from taizhang import schema
from taizhang.registers import load

definition = load()

ops = Migrations("taizhang.ops")
hr = Migrations("taizhang.hr")


@ops()
def m001_registers(db):
    schema.create_registers(db.conn, definition, "ops")


@ops()
def m002_customers_next_visit(db):
    # The next visit shown on the customer's row (derived from the last visit and the tier).
    schema.add_column(db.conn, definition, "customers", "next_visit_on")
    db.conn.execute(
        "UPDATE customers SET next_visit_on = date(last_visit_on, '+' || (SELECT follow_up_days FROM customer_tiers"
        " WHERE customer_tiers.id = customers.tier_id) || ' days') WHERE last_visit_on IS NOT NULL")


@ops()
def m003_appraisals(db):
    # 绩效考核 and 绩效改进计划 (issue 11): created in files made before them.
    schema.create_registers(db.conn, definition, "ops")


@hr()
def m001_registers(db):  # noqa: F811 - same step, other file
    schema.create_registers(db.conn, definition, "hr")


MIGRATIONS = {"ops": ops, "hr": hr}
