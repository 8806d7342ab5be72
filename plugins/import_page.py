"""从 Excel 导入, in the browser: the same engine, report, batch and undo as `taizhang import`.

Upload -> preview (the header row found, the column mapping — fixable with selects — the first
rows as they will be stored, every problem) -> confirm. A large file is written by a background
task whose progress the page polls, so other users are not blocked. Uploads are kept in the data
dir (uploads/, mode 0600) under a random token, only for their uploader.
"""

import asyncio
import json
import os
import pathlib
import secrets
import time

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, NotFound, Response

from taizhang.importer import headers as hdr
from taizhang.importer import rights
from taizhang.importer.batches import UndoRefused, list_batches, undo
from taizhang.importer.engine import ImportFileError, ImportStopped, import_files
from taizhang.importer.files import open_workbook
from taizhang.importer.report import write_report
from taizhang.web import data_dir, definition, may, rows_condition, user_store

# The upload limit; datasette.yml can set plugins.taizhang.max_upload_mb.
DEFAULT_MAX_UPLOAD_MB = 20
PREVIEW_ROWS = 20
# Uploads (and their reports) are removed this long after they were made.
KEEP_UPLOADS_SECONDS = 24 * 3600
JOBS: dict[str, dict] = {}


def _settings(datasette) -> dict:
    return (datasette.plugin_config("taizhang") or {})


async def _check(datasette, request, database, table) -> None:
    reg = definition().registers.get(table)
    allowed = reg is not None and reg.database == database and await may(datasette, request.actor, "insert-row", database, table)
    if not allowed:
        raise Forbidden("没有向此台账导入数据的权限")
    if rows_condition(request.actor, table) is not None:
        raise Forbidden(NARROWED)


# An import matches rows by their natural key among every row of the register, so for someone
# who sees only some of them its preview would tell which others exist (docs/row-access.md).
NARROWED = "你只能查看此台账中与你相关的记录，不能从 Excel 导入（导入会按关键字段匹配全部记录）；请用表单逐条新增"


async def _allowed(datasette, actor, tables) -> rights.Allowed:
    """The actor's rights now, on these registers, for the engine's synchronous checks."""
    granted = set()
    for table in tables:
        database = definition().registers[table].database
        for action in rights.ACTIONS:
            if await may(datasette, actor, action, database, table):
                granted.add((action, table))
    return lambda action, table: (action, table) in granted


async def _check_mode(datasette, request, table, mode) -> rights.Allowed:
    """Each step of an upload asks again: a right taken away meanwhile stops the import."""
    allowed = await _allowed(datasette, request.actor, [table])
    try:
        rights.require_for_mode(allowed, mode, {table}, definition())
    except rights.NotAllowed as ex:
        raise Forbidden(str(ex))
    return allowed


def _account(datasette, actor) -> str | None:
    """The users.db account behind the actor: what uploads and batches belong to, since a name
    can be reused (a removed user added again, a login named like a server's system user)."""
    return user_store(datasette).account_id(actor["id"]) if actor and actor.get("id") else None


def _uploads(datasette) -> pathlib.Path:
    folder = data_dir(datasette).path / "uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _prune(folder: pathlib.Path) -> None:
    """Uploads hold register data: none is kept longer than it takes to finish an import."""
    cutoff = time.time() - KEEP_UPLOADS_SECONDS
    for path in folder.iterdir():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _job_file(datasette, request, token: str) -> tuple[pathlib.Path, dict]:
    if not token.isalnum():
        raise NotFound("没有这次上传")
    meta_path = _uploads(datasette) / f"{token}.json"
    if not meta_path.exists():
        raise NotFound("没有这次上传（可能已过期），请重新上传")
    meta = json.loads(meta_path.read_text())
    if meta["actor"] != (request.actor or {}).get("id") or meta.get("owner") != _account(datasette, request.actor):
        raise NotFound("没有这次上传")
    return meta_path, meta


def _run(datasette, meta: dict, dry_run: bool, allowed: rights.Allowed):
    return import_files(
        data_dir(datasette), [pathlib.Path(meta["path"])], register=meta["table"], mode=meta["mode"],
        dry_run=dry_run, skip_invalid=meta["skip_invalid"], mapping=meta["mapping"], ignore=set(meta["ignore"]),
        actor=meta["actor"], role=meta["role"], owner=meta.get("owner"), allowed=allowed,
    )


async def upload(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    await _check(datasette, request, database, table)
    reg = definition().registers[table]
    if request.method == "POST":
        limit = int(_settings(datasette).get("max_upload_mb", DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024
        form = await request.form(files=True, max_file_size=limit, max_request_size=limit + 65536)
        uploaded = form.get("file")
        if uploaded is None or not getattr(uploaded, "filename", ""):
            datasette.add_message(request, "请选择要导入的 Excel 文件", datasette.ERROR)
            return Response.redirect(request.path)
        mode = form.get("mode") if form.get("mode") in rights.FOR_MODE else "upsert"
        await _check_mode(datasette, request, table, mode)
        _prune(_uploads(datasette))
        token = secrets.token_hex(12)
        suffix = pathlib.Path(uploaded.filename).suffix.lower()[:8]
        path = _uploads(datasette) / f"{token}{suffix if suffix in ('.xlsx', '.csv', '.xls') else '.bin'}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(await uploaded.read())
        roles = request.actor.get("roles") or [None]
        meta = {"path": str(path), "name": uploaded.filename, "database": database, "table": table,
                "mode": mode,
                "skip_invalid": bool(form.get("skip_invalid")), "mapping": {}, "ignore": [],
                "actor": request.actor["id"], "role": roles[0], "owner": _account(datasette, request.actor)}
        (_uploads(datasette) / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False))
        return Response.redirect(datasette.urls.path(f"/-/import/{database}/{table}/{token}"))
    limit = _settings(datasette).get("max_upload_mb", DEFAULT_MAX_UPLOAD_MB)
    allowed = await _allowed(datasette, request.actor, [table])
    return Response.html(await datasette.render_template(
        "import.html", {"step": "upload", "reg": reg, "database": database, "table": table, "limit": limit,
                        "modes": rights.modes(allowed, table)}, request=request))


def _preview_layout(meta: dict):
    """Headers, current matches and the selectable columns, also when some header is unknown."""
    workbook = open_workbook(pathlib.Path(meta["path"]))
    reg = definition().registers[meta["table"]]
    for sheet in workbook.sheets:
        if sheet.hidden:
            continue
        layout = hdr.layout_for(sheet.head(hdr.HEADER_SEARCH_ROWS), definition(), reg, meta["mapping"], set(meta["ignore"]))
        if layout is not None:
            return layout
    return None


def _shown(value) -> str:
    if isinstance(value, tuple):  # a resolved reference: show what it was resolved from
        row = value[2] if len(value) > 2 else {}
        reg_values = [str(v) for v in row.values() if v is not None] if isinstance(row, dict) else []
        return " / ".join(reg_values[:2])
    return "" if value is None else str(value)


async def preview(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    await _check(datasette, request, database, table)
    meta_path, meta = _job_file(datasette, request, request.url_vars["token"])
    allowed = await _check_mode(datasette, request, table, meta["mode"])
    reg = definition().registers[table]
    if request.method == "POST":
        form = await request.post_vars()
        mapping, ignore = {}, []
        for key, value in form.items():
            if key.startswith("map:"):
                header = key[4:]
                if value == "__ignore__":
                    ignore.append(header)
                elif value:
                    mapping[header] = value
        # The select offers the register's fields (column.part for a reference part, as --map);
        # anything else would stop every later preview of this upload, so it is not kept.
        bad = next(((h, v) for h, v in mapping.items() if v.partition(".")[0] not in reg.columns), None)
        if bad:
            datasette.add_message(
                request, f"“{bad[0][:40]}”列不能对应到「{bad[1][:40]}」：{reg.label}没有这个字段，请从列表中选择", datasette.ERROR)
            return Response.redirect(request.path)
        meta.update(mapping=mapping, ignore=ignore)
        meta_path.write_text(json.dumps(meta, ensure_ascii=False))
        return Response.redirect(request.path)
    context = {"step": "preview", "reg": reg, "database": database, "table": table, "meta": meta,
               "token": request.url_vars["token"], "error": None, "run": None}
    try:
        context["layout"] = await asyncio.to_thread(_preview_layout, meta)
        context["run"] = await asyncio.to_thread(_run, datasette, meta, True, allowed)
    except (ImportFileError, ImportStopped) as ex:
        context["error"] = str(ex)
    run = context["run"]
    if run:
        plan = run.plans[0]
        columns = list(dict.fromkeys(t.column for t in plan.layout.targets.values()))
        context["preview_columns"] = [reg.columns[c].label for c in columns]
        context["preview_rows"] = [
            (r.row, [_shown(r.values.get(c)) for c in columns], r.ok) for r in plan.records[:PREVIEW_ROWS]
        ]
        context["total_rows"] = sum(len(p.records) for p in run.plans)
    context["choices"] = [(c.name, f"{c.label}（{c.name}）") for c in reg.columns.values()]
    return Response.html(await datasette.render_template("import.html", context, request=request))


async def confirm(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    await _check(datasette, request, database, table)
    token = request.url_vars["token"]
    _, meta = _job_file(datasette, request, token)
    if request.method != "POST":
        raise NotFound("请在预览页面确认导入")
    allowed = await _check_mode(datasette, request, table, meta["mode"])
    job = JOBS.setdefault(token, {"status": "running", "result": None, "error": None})

    async def work():
        try:
            run = await asyncio.to_thread(_run, datasette, meta, False, allowed)
            job.update(status="done", result={
                "written": run.written, "batch": run.batch_id, "counts": run.counts,
                "problems": len(run.problems)})
        except (ImportFileError, ImportStopped) as ex:
            job.update(status="failed", error=str(ex))

    task = asyncio.get_running_loop().create_task(work())
    job["task"] = task
    return Response.redirect(datasette.urls.path(f"/-/import/{database}/{table}/{token}/status"))


async def status(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    await _check(datasette, request, database, table)
    token = request.url_vars["token"]
    _, meta = _job_file(datasette, request, token)
    job = JOBS.get(token) or {"status": "unknown"}
    info = {k: v for k, v in job.items() if k != "task"}
    if request.path.endswith(".json"):
        return Response.json(info)
    counts = (info.get("result") or {}).get("counts") or {}
    allowed = await _allowed(datasette, request.actor, list(counts))
    return Response.html(await datasette.render_template("import.html", {
        "step": "status", "reg": definition().registers[table], "database": database, "table": table,
        "job": info, "meta": meta, "token": token,
        "undoable": not rights.missing(allowed, rights.undo_needs(counts))}, request=request))


async def report(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    await _check(datasette, request, database, table)
    token = request.url_vars["token"]
    _, meta = _job_file(datasette, request, token)
    allowed = await _check_mode(datasette, request, table, meta["mode"])
    path = _uploads(datasette) / f"{token}-report.xlsx"

    def build():
        write_report(_run(datasette, meta, True, allowed), path)
        return path.read_bytes()

    try:
        content = await asyncio.to_thread(build)
    except (ImportFileError, ImportStopped) as ex:
        raise NotFound(str(ex))
    return Response(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": "attachment; filename*=UTF-8''import-report.xlsx"})


async def batches(request, datasette):
    """The batches the reader may see: their own (an admin: everyone's, the command line's too),
    and only of registers they may read now. Undo: the owner or an admin, with the rights the
    undo needs now."""
    actor = request.actor or {}
    if not actor.get("roles"):
        raise Forbidden("请先登录")
    registers = definition().registers
    allowed = await _allowed(datasette, actor, list(registers))
    readable = {name for name, reg in registers.items() if await may(datasette, actor, "view-table", reg.database, name)}
    admin = "admin" in actor["roles"]
    account = _account(datasette, actor)
    shown = [b for b in await asyncio.to_thread(list_batches, data_dir(datasette))
             if set(b["counts"]) <= readable and (admin or (account is not None and b["owner"] == account))]
    for b in shown:   # the undo button only where the undo's changes are all the reader's to make
        b["undoable"] = b["status"] != "undone" and not rights.missing(allowed, rights.undo_needs(b["counts"]))
    if request.method == "POST":
        post = await request.post_vars()
        batch = post.get("batch", "")
        if not any(b["id"] == batch for b in shown):
            raise Forbidden("只能撤销自己的导入批次")
        try:
            await asyncio.to_thread(undo, data_dir(datasette), batch, actor["id"], role=actor["roles"][0], allowed=allowed)
            datasette.add_message(request, f"已撤销导入批次 {batch}", datasette.INFO)
        except UndoRefused as ex:
            datasette.add_message(request, str(ex), datasette.ERROR)
        return Response.redirect(datasette.urls.path("/-/imports"))
    return Response.html(await datasette.render_template(
        "import.html", {"step": "batches", "batches": shown, "registers": registers}, request=request))


@hookimpl
def register_routes():
    base = r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)"
    return [
        (base + r"$", upload),
        (base + r"/(?P<token>[0-9a-f]+)$", preview),
        (base + r"/(?P<token>[0-9a-f]+)/confirm$", confirm),
        (base + r"/(?P<token>[0-9a-f]+)/status(\.json)?$", status),
        (base + r"/(?P<token>[0-9a-f]+)/report\.xlsx$", report),
        (r"^/-/imports$", batches),
    ]


@hookimpl
def table_actions(datasette, actor, database, table, request):
    async def inner():
        if table not in definition().registers or not await may(datasette, actor, "insert-row", database, table):
            return []
        if rows_condition(actor, table) is not None:
            return []
        return [{"href": datasette.urls.path(f"/-/import/{database}/{table}"), "label": "从 Excel 导入",
                 "description": "上传 Excel 或 CSV 文件，预览、核对后导入"}]

    return inner
