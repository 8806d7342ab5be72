"""The interface language of each page: 简体 (default), 繁體 or English, chosen per user.

Which language: the logged-in user's choice (users.db) → the `tz_lang` cookie → 简体.
/-/language shows the choice and saves it (in users.db for a logged-in user, in the cookie for
everyone, so the login page follows it too). Every text/html response is rewritten by
taizhang/i18n.py and gets the catalogue static/i18n.js needs for the strings core's JavaScript
creates later. JSON, CSV, files and encoded or partial responses pass through untouched.
"""

import re
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import Request, Response

from taizhang import i18n
from taizhang.web import REQUEST_MEMO, definition, language_of, safe_next, user_store

# The register a page is about: its table page, row page, form, history and import pages.
PAGE_TABLE = re.compile(r"^/(?:-/(?:form|history|import|linked)/)?([^/.]+)/([^/.]+)")
DATABASE_PAGE = re.compile(r"^/([^/.]+)$")
ONE_YEAR = 365 * 24 * 3600


def page_subject(path: str) -> tuple[str | None, str | None]:
    """(register table, database page) a path is about, for column and table labels."""
    registers = definition().registers
    match = PAGE_TABLE.match(path)
    if match and match.group(2) in registers and registers[match.group(2)].database == match.group(1):
        return match.group(2), None
    match = DATABASE_PAGE.match(path)
    if match and match.group(1) in definition().databases:
        return None, match.group(1)
    return None, None


def translate_page(datasette, body: bytes, lang: str, path: str, status: int = 200) -> bytes:
    page = body.decode("utf-8")
    # A refused or failed page is about no register: its column labels (in the script's
    # catalogue) would describe a register the visitor may not read.
    table, database_page = page_subject(path) if status < 400 else (None, None)
    page = i18n.rewrite(page, lang, table, database_page)
    end = page.rfind("</body>")
    if end != -1:
        script = i18n.catalogue(lang).script(table) + (
            f'<script src="{datasette.urls.path("/assets/i18n.js")}" defer></script>\n')
        page = page[:end] + script + page[end:]
    return page.encode("utf-8")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def in_language(scope, receive, send):
            if scope["type"] != "http" or scope["method"] == "HEAD":
                return await app(scope, receive, send)
            scope = {**scope, REQUEST_MEMO: {}}
            start, chunks = {}, []

            async def rewrite(message):
                if message["type"] == "http.response.start":
                    headers = {k.lower(): v for k, v in message.get("headers", [])}
                    if (headers.get(b"content-type", b"").startswith(b"text/html")
                            and b"content-encoding" not in headers and message.get("status") != 304):
                        start.update(message)   # held until the whole page is here
                        return
                    return await send(message)
                if message["type"] != "http.response.body" or not start:
                    return await send(message)
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                try:
                    lang = await language_of(datasette, Request(scope, receive))
                    body = translate_page(datasette, body, lang, scope["path"], start.get("status", 200))
                except UnicodeDecodeError:
                    pass                        # not UTF-8: shown as it came
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})

            await app(scope, receive, rewrite)

        return in_language

    return wrap


async def language_page(request, datasette):
    if request.method == "POST":
        post = await request.post_vars()
        lang = i18n.valid(post.get("lang"))
        if lang is None:
            return Response.html(await datasette.render_template(
                "language.html", _context(request, i18n.DEFAULT, post.get("next"),
                                          f"不支持的语言“{post.get('lang') or ''}”：可选 简体中文、繁體中文、English"),
                request=request), status=400)
        actor = request.actor
        if actor and not actor.get("token") and user_store(datasette).get(actor["id"]):
            user_store(datasette).set_language(actor["id"], lang)
        response = Response.redirect(safe_next(datasette, post.get("next")))
        response.set_cookie(i18n.COOKIE, lang, max_age=ONE_YEAR, samesite="lax",
                            secure=request.scheme == "https", path=datasette.urls.path("/"))
        return response
    lang = i18n.valid(request.args.get("lang")) or await language_of(datasette, request)
    return Response.html(await datasette.render_template(
        "language.html", _context(request, lang, request.args.get("next")), request=request))


def _context(request, lang, next_url, error=None) -> dict:
    return {"languages": i18n.LANGUAGES, "current": lang, "next": next_url or "", "error": error}


@hookimpl
def register_routes():
    return [(r"^/-/language$", language_page)]


@hookimpl
def menu_links(datasette, actor, request):
    here = request.path + (f"?{request.query_string}" if request and request.query_string else "") if request else "/"
    return [
        {"href": datasette.urls.path("/-/language") + f"?lang={code}&next={quote(here)}", "label": label}
        for code, label in i18n.LANGUAGES.items()
    ]
