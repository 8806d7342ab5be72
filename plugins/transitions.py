"""A register's process in the browser (the `workflow:` of db/registers.yml): on each row page
the current state, the timeline (时间、办理人、动作、从 → 到、意见) and one button per transition the
reader may take now; in the table grid a link from the state to those buttons.

POST /-/transition/<database>/<table>/<id> with `target` (the state to move to), `from` (the
state the page showed) and `comment`: the state change is written through Datasette's own write
path, so plugins/audit.py records who made it, with the comment as the audit note. The database's
workflow triggers (taizhang/workflow.py) decide whether the writer may: their refusal is shown
in Chinese on the row page (or answered as JSON, with its kind, to a client asking for JSON).

CSRF: core refuses cross-site unsafe requests by their Sec-Fetch-Site/Origin headers, as for
every other form here (plugins/forms.py)."""

import sqlite3

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from taizhang import audit, shown, workflow
from taizhang.messages import BUSY, is_busy
from taizhang.schema import quote
from taizhang.web import definition, may

# Longer comments are refused rather than cut: an approval's reason is a few sentences.
MAX_COMMENT = 2000
# Kinds of refusal this plugin finds itself, before the database is asked (the database's own
# come from workflow.refusals()).
KIND_INPUT = "input"
KIND_FORBIDDEN = "forbidden"
KIND_STALE = "stale"
KIND_BUSY = "busy"


class Refusal(Exception):
    """A transition not made: the sentence to show and its kind (data, never parsed back)."""

    def __init__(self, message: str, kind: str, status: int = 400):
        super().__init__(message)
        self.message, self.kind, self.status = message, kind, status


def _process(database: str, table: str):
    """The register when it has a workflow and lives in this database, else None."""
    reg = definition().registers.get(table or "")
    return reg if reg is not None and reg.workflow is not None and reg.database == database else None


def writer(actor: dict | None) -> audit.Who:
    """The reader as the workflow sees a writer: login, employee and every role (derived too)."""
    actor = actor or {}
    roles = tuple(actor.get("roles") or ())
    return audit.Who(actor=actor.get("id"), role=roles[0] if roles else None, source="ui",
                     employee_no=actor.get("employee_no"), roles=roles)


async def _available(datasette, request, reg, row_id: int) -> list:
    """The transitions this reader may take on the row now: none without update-row."""
    if request is None or request.actor is None:
        return []
    if not await may(datasette, request.actor, "update-row", reg.database, reg.name):
        return []
    who = writer(request.actor)
    return await datasette.get_database(reg.database).execute_fn(
        lambda conn: workflow.available(conn, reg, row_id, who))


# ---- The row page ----------------------------------------------------------------------------


@hookimpl
def top_row(datasette, request, database, table, row):
    reg = _process(database, table)
    if reg is None:
        return None

    async def inner():
        values = dict(row) if not isinstance(row, dict) else row
        row_id = values["id"]
        flow = reg.workflow
        entries = await datasette.get_database(database).execute_fn(lambda conn: workflow.timeline(conn, reg, row_id))
        actions = await _available(datasette, request, reg, row_id)
        names = await shown.login_names(datasette, {e["actor"] for e in entries if e.get("actor")})
        return await datasette.render_template("_workflow.html", {
            "reg": reg, "state": values.get(flow.column), "state_label": reg.columns[flow.column].label,
            "timeline": [{**e, "at": shown.local_time(e.get("at")), "role": shown.role_label(e.get("role")),
                          "name": names.get(e.get("actor"))} for e in entries],
            "actions": actions, "needs_comment": any(t.comment for t in actions),
            "action_url": datasette.urls.path(f"/-/transition/{database}/{table}/{row_id}"),
        }, request=request)

    return inner


@hookimpl
def extra_js_urls(view_name, table, database, request, datasette):
    if view_name != "row" or _process(database, table) is None or request is None or request.actor is None:
        return []
    return [datasette.urls.path("/assets/workflow.js")]


# ---- The table grid: the state links to the row page's buttons --------------------------------


@hookimpl
def render_cell(row, value, column, table, database, datasette, request):
    reg = _process(database, table)
    if reg is None or column != reg.workflow.column or request is None or not request.actor:
        return None
    if not request.url_vars or request.url_vars.get("table") is None or "pks" in request.url_vars:
        return None   # only the table page: the row page has the buttons themselves

    async def inner():
        try:
            row_id = int(row["id"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        actions = await _available(datasette, request, reg, row_id)
        if not actions:
            return None
        words = "、".join(dict.fromkeys(t.action for t in actions))
        href = datasette.urls.row(database, table, str(row_id)) + "#workflow"
        return Markup('{}<a class="workflow-act" href="{}" title="{}">办理：{}</a>').format(
            value, href, f"到记录页办理（{words}）", words) if value is not None else None

    return inner


# ---- Taking a transition ---------------------------------------------------------------------


def _move(conn, reg, row_id: int, source: str, target: str) -> None:
    """The state change itself, inside the audited write. Only from the state the page showed:
    a second click, or someone else's step in between, changes nothing."""
    flow = reg.workflow
    changed = conn.execute(
        f"UPDATE {quote(reg.name)} SET {quote(flow.column)} = ? WHERE id = ? AND {quote(flow.column)} = ?",
        [target, row_id, source]).rowcount
    if changed == 0:
        raise Refusal(f"这条{reg.label}的{reg.columns[flow.column].label}已不是「{source}」（可能已被他人办理），"
                      "请刷新页面后再办理", KIND_STALE, 409)


def _read(reg, post) -> tuple[str, str, str | None]:
    """(from, target, comment) of the form, or a Refusal saying what is wrong with it."""
    flow = reg.workflow
    state_label = reg.columns[flow.column].label
    source, target = (post.get("from") or "").strip(), (post.get("target") or "").strip()
    comment = (post.get("comment") or "").strip()
    if target not in flow.states:
        raise Refusal(f"「{target[:40]}」不是{reg.label}的{state_label}，可选：{'、'.join(flow.states)}", KIND_INPUT)
    if source not in flow.states:
        raise Refusal(f"请从记录页办理：缺少当前{state_label}（from），或「{source[:40]}」不是{reg.label}的{state_label}",
                      KIND_INPUT)
    if len(comment) > MAX_COMMENT:
        raise Refusal(f"意见过长（{len(comment)} 字），最多 {MAX_COMMENT} 字", KIND_INPUT)
    return source, target, comment or None


def _action_word(reg, source: str, target: str) -> str:
    return next((t.action for t in reg.workflow.transitions if (t.source, t.target) == (source, target)), "办理")


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def transition(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    row_id = int(request.url_vars["row_id"])
    reg = _process(database, table)
    back = datasette.urls.row(database, table, str(row_id)) if reg else datasette.urls.path("/")
    try:
        if request.method != "POST":
            raise Refusal("此地址只接受 POST 请求：请在记录页点按办理按钮", KIND_INPUT, 405)
        if reg is None:
            raise Refusal(f"「{table[:40]}」不是有审批流程的台账", KIND_INPUT, 404)
        if not await may(datasette, request.actor, "update-row", database, table):
            raise Refusal(f"没有办理{reg.label}的权限", KIND_FORBIDDEN, 403)
        source, target, comment = _read(reg, await request.post_vars())
        # plugins/audit.py records it as the note of this write (the timeline's 意见).
        request.scope["taizhang.audit_note"] = comment
        try:
            await datasette.get_database(database).execute_write_fn(
                lambda conn: _move(conn, reg, row_id, source, target), request=request)
        except Refusal:
            raise
        except sqlite3.Error as ex:
            message = str(ex)
            if is_busy(ex):
                raise Refusal(BUSY, KIND_BUSY, 503) from ex
            # The workflow triggers' sentences, each with its kind; any other refusal of the
            # database (a rule of the row) is said as it is.
            raise Refusal(message, workflow.refusals(reg).get(message, "database"), 400) from ex
    except Refusal as refused:
        if _wants_json(request):
            return Response.json({"ok": False, "kind": refused.kind, "message": refused.message}, status=refused.status)
        if refused.status in (403, 404, 405):   # not a step on a row page: nothing to go back to
            return Response.text(refused.message, status=refused.status)
        datasette.add_message(request, f"未能办理：{refused.message}", datasette.ERROR)
        return Response.redirect(back + "#workflow")
    done = f"已{_action_word(reg, source, target)}：{reg.columns[reg.workflow.column].label} {source} → {target}"
    if _wants_json(request):
        return Response.json({"ok": True, "message": done, "state": target})
    datasette.add_message(request, done, datasette.INFO)
    return Response.redirect(back + "#workflow")


@hookimpl
def register_routes():
    return [(r"^/-/transition/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d{1,18})$", transition)]
