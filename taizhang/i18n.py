"""The interface language: Datasette core's English and our own 简体 pages, shown in 简体, 繁體 or
English, by rewriting the HTML a page was rendered to.

Why rewrite rendered HTML instead of overriding core's templates: the templates change with
every Datasette alpha, a copy would silently go stale. A catalogue of core's English strings
(db/translations.yml) is applied to text nodes and a few attributes; a string core adds or
changes is simply left in English, and tests/test_i18n.py names it.

What is never touched: data. Cells of data tables (`table.rows-and-columns td`), `textarea`,
`pre`, `code`, `script`, anything under `translate="no"`, input values other than buttons.

One pass of one compiled regex tokenises the page; each distinct text is translated once per
language and table (an LRU cache), and OpenCC conversions are cached too: UI strings repeat.
"""

from __future__ import annotations

import functools
import html
import json
import pathlib
import re

import yaml

from taizhang import refusal_english
from taizhang.chinese import to_traditional
from taizhang.registers import Definition, load

LANGUAGES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
DEFAULT = "zh-Hans"
COOKIE = "tz_lang"
DB_DIR = pathlib.Path(__file__).resolve().parent.parent / "db"
SERVER_CATALOGUE = DB_DIR / "translations.yml"
JS_CATALOGUE = DB_DIR / "translations_js.yml"


def valid(lang: str | None) -> str | None:
    return lang if lang in LANGUAGES else None


# -- catalogues ----------------------------------------------------------------------------

def _normalise(text: str) -> str:
    return " ".join(text.split())


def _read(path: pathlib.Path) -> dict:
    if not path.exists():       # the JS half may not exist yet: an empty catalogue
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@functools.cache
def _hant(text: str) -> str:
    # s2t (not s2twp): the registers' 繁體 labels are derived with s2t too (registers.py),
    # so a label reads the same in the form, the import and the page chrome.
    return to_traditional(text)


def _definition_names(definition: Definition, lang: str) -> tuple[dict, dict, dict]:
    """(tables, columns, texts) in `lang`: table name -> title, table -> column -> label, and
    metadata.yml's titles and descriptions (whitespace-normalised) -> what to show instead
    (the generated texts carry all three languages; a page shows its own)."""
    from taizhang.generate import metadata  # generate imports a lot; only needed here

    def say(hans: str, en: str) -> str:
        return en if lang == "en" else _hant(hans) if lang == "zh-Hant" else hans

    tables, columns, texts = {}, {}, {}
    meta = metadata(definition)
    inst = definition.instance
    texts[_normalise(meta["description"])] = say(inst["description"], inst["en"])
    texts[_normalise(meta["title"])] = say(inst["title"], inst["en"])
    system = {"id": ("编号", "ID"), "created_at": ("创建时间（UTC）", "Created at (UTC)"),
              "updated_at": ("更新时间（UTC）", "Updated at (UTC)")}
    for reg in definition.registers.values():
        table_meta = meta["databases"][reg.database]["tables"][reg.name]
        tables[reg.name] = say(reg.label, reg.en)
        texts[_normalise(table_meta["title"])] = say(reg.label, reg.en)
        texts[_normalise(table_meta["description"])] = say(reg.purpose, reg.en)
        cols = {name: say(*pair) for name, pair in system.items()}
        for col in reg.columns.values():
            cols[col.name] = say(col.label, col.en)
            described = table_meta["columns"][col.name]
            # "label（繁）· en。rest" -> "label。rest" in Chinese, the English label in en
            rest = described.split("· " + col.en, 1)[1]
            texts[_normalise(described)] = say(col.label + rest, col.en)
        for name, pair in system.items():
            texts[_normalise(table_meta["columns"][name])] = say(*pair)
        columns[reg.name] = cols
    for chart in definition.charts:   # the dashboard's trends
        texts[_normalise(chart.title)] = say(chart.title, chart.en)
    return tables, columns, texts


def _strict(entry: list) -> tuple[int, ...]:
    """An ours_patterns entry's third element: "strict" (every group) or a list of groups."""
    if len(entry) < 3:
        return ()
    groups = re.compile(entry[0]).groups
    return tuple(range(1, groups + 1)) if entry[2] == "strict" else tuple(entry[2])


def _english_names(definition: Definition) -> dict[str, str]:
    """简体 label -> English of every register, column and role, for our own pages in English
    (a label used by several registers is said as the first one says it)."""
    names: dict[str, str] = {}
    for reg in definition.registers.values():
        names.setdefault(reg.label, reg.en)
    for reg in definition.registers.values():
        for col in reg.columns.values():
            names.setdefault(col.label, col.en)
    for role in definition.roles.values():
        names.setdefault(role["label"], role["en"])
    return names


class Catalogue:
    """Everything one language needs to rewrite a page."""

    def __init__(self, lang: str, definition: Definition):
        self.lang = lang
        server = _read(SERVER_CATALOGUE)
        self.exact: dict[str, str] = {}
        self.patterns: list[tuple[re.Pattern, str]] = []
        # (regex, template, strict): the captured parts (numbers from 1) a pattern applies only
        # when it knows them (so "label（label）" never rewrites data that has brackets in it).
        self.exact: dict[str, str] = {}
        self.patterns: list[tuple[re.Pattern, str, tuple[int, ...]]] = []
        if lang != "en":
            self.exact = {_normalise(k): self._say(v) for k, v in (server.get("exact") or {}).items()}
            self.patterns = [(re.compile(p), self._say(t), ()) for p, t in server.get("patterns") or []]
        else:
            # English: core's strings stay; our 简体 strings are said in English.
            self.exact = {_normalise(k): v for k, v in (server.get("ours") or {}).items()}
            # The rules' sentences, said from their kinds (not read back out of the Chinese).
            for hans, en in refusal_english.sentences(definition, server["kinds"]).items():
                self.exact.setdefault(_normalise(hans), en)
            self.patterns = [(re.compile(p[0]), p[1], _strict(p)) for p in server.get("ours_patterns") or []]
        self.tables, self.columns, texts = _definition_names(definition, lang)
        self.databases = {name: self._say(db["title"]) for name, db in definition.databases.items()}
        self.exact.update(texts)
        self.english = _english_names(definition) if lang == "en" else {}
        self.english_columns = {reg.name: {c.label: c.en for c in reg.columns.values()}
                                for reg in definition.registers.values()}
        for hans, en in self.english.items():
            self.exact.setdefault(hans, en)      # our pages show registers, columns, roles by label
        if lang == "en":     # the databases' titles are ours too (db/registers.yml has no English)
            self.databases = {name: self.exact.get(title, title) for name, title in self.databases.items()}
        self.all_columns: dict[str, str] = {}
        for cols in self.columns.values():
            for name, label in cols.items():
                self.all_columns.setdefault(name, label)
        js = _read(JS_CATALOGUE)
        self.js = {"exact": {}, "patterns": []}
        if lang != "en":
            self.js = {"exact": {_normalise(k): self._say(v) for k, v in (js.get("exact") or {}).items()},
                       "patterns": [[p, self._say(t)] for p, t in js.get("patterns") or []]}
        # Our scripts' fixed 简体 strings (grid, forms, skip link): 繁體 from OpenCC, or English.
        # 简体 pages need nothing: the scripts already speak it.
        if lang == "zh-Hant":
            self.js["exact"].update({_normalise(k): _hant(k) for k in js.get("ours") or {}})
            self.js["patterns"] += [[p, _hant(hans)] for p, hans, _ in js.get("ours_patterns") or []]
        elif lang == "en":
            self.js["exact"].update({_normalise(k): v for k, v in (js.get("ours") or {}).items()})
            self.js["patterns"] += [[p, en] for p, _, en in js.get("ours_patterns") or []]

    def _say(self, hans: str) -> str:
        return _hant(hans) if self.lang == "zh-Hant" else hans

    def name(self, word: str, table: str | None) -> str | None:
        """A column, table or database identifier -> its label in this language."""
        if table and word in self.columns.get(table, {}):
            return self.columns[table][word]
        return self.tables.get(word) or self.databases.get(word) or self.all_columns.get(word)

    @functools.lru_cache(maxsize=20000)  # noqa: B019 - one catalogue per language, kept for the process
    def text(self, normalised: str, table: str | None) -> str | None:
        """A whitespace-normalised text -> its translation, or None to keep it as it is."""
        found = self._lookup(normalised, table)
        if found is None and self.lang == "zh-Hant":
            # Every text that is not data, our own 简体 pages included, is shown in 繁體.
            return _hant(normalised)
        return found

    def _lookup(self, normalised: str, table: str | None, depth: int = 0) -> str | None:
        found = self.exact.get(normalised)
        if found is None:
            found = self.name(normalised, table)
        if found is None:
            found = self._name_list(normalised, table)
        if found is None and depth < 8:
            for pattern, template, strict in self.patterns:
                match = pattern.fullmatch(normalised)
                if match:
                    # The template is already in the page's language; a captured part is a
                    # name or phrase we know (translated) or a value (kept as it is: data).
                    parts = [self._lookup(g, table, depth + 1) if g else None for g in match.groups()]
                    if any(parts[i - 1] is None for i in strict):
                        continue
                    found = template
                    for i, (group, part) in enumerate(zip(match.groups(), parts), start=1):
                        found = found.replace("{%d}" % i, part if part is not None else (group or ""))
                    break
        return found

    def _name_list(self, text: str, table: str | None) -> str | None:
        # Core lists a table's columns as "id, name, category" (database page, column chooser).
        if ", " not in text:
            return None
        labels = [self.name(w, table) for w in text.split(", ")]
        if not all(labels):
            return None
        return (", " if self.lang == "en" else "、").join(labels)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one catalogue per language, kept for the process
    def script(self, table: str | None) -> str:
        """The page's catalogue for static/i18n.js (the contract in db/translations_js.yml);
        the same for every page of a table in a language, so built once."""
        js = self.js
        if self.lang == "en" and table in self.columns:
            # our scripts name the page's columns by their 简体 labels ("合作伙伴名称（必填）")
            js = {**js, "exact": {**self.english_columns[table], **js["exact"]}}
        data = {"lang": self.lang, **js,
                "columns": {table: self.columns[table]} if table in self.columns else {}}
        # "<" escaped: the JSON sits inside a <script> element.
        return ("<script>window.taizhangI18n = " + json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
                + ";</script>\n")


# Keys whose strings people read in the data our scripts get (rules, errors); everything else
# (canonical values, column names, addresses) is data and stays as stored.
DISPLAY_KEYS = {"label", "help", "messages", "message", "error"}


def localise(data, lang: str, display: bool = False):
    """`data` for a script, its display strings in the page's language (our texts are 简体; the
    page rewrite does not reach inside scripts or JSON answers): 繁體 by OpenCC, English through
    the catalogue (what it does not know stays as it is)."""
    if lang not in ("zh-Hant", "en"):
        return data
    if isinstance(data, dict):
        return {k: localise(v, lang, display or k in DISPLAY_KEYS) for k, v in data.items()}
    if isinstance(data, list):
        return [localise(v, lang, display) for v in data]
    if not (display and isinstance(data, str)):
        return data
    if lang == "zh-Hant":
        return _hant(data)
    return catalogue(lang).text(_normalise(data), None) or data


@functools.cache
def catalogue(lang: str) -> Catalogue:
    return Catalogue(lang, load())


# -- the HTML rewrite ------------------------------------------------------------------------

# One token at a time: a comment, a raw-text element whole (its "<" are not tags), a tag, text.
TOKEN = re.compile(
    r"<!--.*?-->|<(script|style|textarea)\b[^>]*>.*?</\1\s*>|</?[a-zA-Z][^>]*>|<!?[^>]*>|[^<]+|<",
    re.S | re.I,
)
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")
ATTRIBUTE = re.compile(r"""(\s)(placeholder|title|aria-label|alt|value)=("[^"]*"|'[^']*')""", re.I)
NOT_TRANSLATED = re.compile(r"""\stranslate=["']?no\b""", re.I)
DATA_TABLE = re.compile(r"""\sclass=["'][^"']*\brows-and-columns\b""", re.I)
OPTION_VALUE = re.compile(r"""\svalue\s*=""", re.I)
BUTTON_INPUT = re.compile(r"""\stype=["']?(submit|button|reset)\b""", re.I)
HTML_LANG = re.compile(r'<html lang="[^"]*"')
# Core's phone layout labels each cell with its column name from CSS.
CSS_CONTENT = re.compile(r'(td:nth-of-type\(\d+\):before \{ content: ")([^"\\]+)(")')
SKIPPED = {"pre", "code", "kbd", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")


def rewrite(page: str, lang: str, table: str | None, database_page: str | None = None) -> str:
    """The page in `lang`. `table`: the register the page is about (its column identifiers
    become labels); `database_page`: on a database page, each table's section is about the
    table its heading links to."""
    cat = catalogue(lang)
    out: list[str] = []
    skip_tag, skip_depth = None, 0        # inside data: which element, how deep
    tables: list[bool] = []               # open <table>s: is each a data table?
    append = out.append

    def text(raw: str) -> str:
        if not LETTER.search(raw):
            return raw
        unescaped = html.unescape(raw)
        normalised = _normalise(unescaped)
        found = cat.text(normalised, table)
        if found is None or found == normalised:
            return raw
        lead = raw[: len(raw) - len(raw.lstrip())]
        trail = raw[len(raw.rstrip()):]
        return lead + html.escape(found, quote=False) + trail

    def attribute(match: re.Match) -> str:
        quoted = match.group(3)
        new = text(quoted[1:-1])
        if new == quoted[1:-1]:
            return match.group(0)
        return f'{match.group(1)}{match.group(2)}={quoted[0]}{new.replace(quoted[0], "&quot;" if quoted[0] == chr(34) else "&#39;")}{quoted[0]}'

    pos, end_of_page = 0, len(page)
    while pos < end_of_page:
        match = TOKEN.match(page, pos)   # always matches: the last alternatives take any text or "<"
        pos = match.end()
        token = match.group(0)
        first = token[0]
        if first != "<" or token == "<":
            append(token if skip_tag else text(token))
            continue
        raw_element = match.group(1)
        if raw_element:
            name = raw_element.lower()
            if name == "style" and not skip_tag and table:
                token = CSS_CONTENT.sub(
                    lambda m: m.group(1) + (cat.name(m.group(2), table) or m.group(2)).replace('"', "") + m.group(3), token)
            append(token)
            continue
        if token.startswith(("<!", "<?")):
            append(token)
            continue
        tag = TAG.match(token)
        name = tag.group(1).lower()
        closing = token[1] == "/"
        if skip_tag:
            if name == skip_tag and name not in VOID:
                skip_depth += -1 if closing else (0 if token.endswith("/>") else 1)
                if skip_depth == 0:
                    skip_tag = None
            if closing and name == "table" and tables:
                tables.pop()
            append(token)
            continue
        if closing:
            if name == "table" and tables:
                tables.pop()
            append(token)
            continue
        if name == "table":
            tables.append(bool(DATA_TABLE.search(token)))
        elif name == "tbody" and tables and tables[-1]:
            # A data table's body is rows of data cells only: passed over whole (most of a
            # table page's bytes), unless a cell holds a table of its own (rendered Markdown).
            body_end = page.find("</tbody>", pos)
            if body_end != -1 and page.find("<table", pos, body_end) == -1:
                append(token)
                append(page[pos:body_end])
                pos = body_end
                continue
        if database_page and name == "a":
            linked = re.search(r'href="/' + re.escape(database_page) + r'/([^"/?#.]+)"', token)
            if linked and linked.group(1) in cat.tables:
                table = linked.group(1)
        if NOT_TRANSLATED.search(token) or name in SKIPPED or (name == "td" and tables and tables[-1]):
            if name not in VOID and not token.endswith("/>"):
                skip_tag, skip_depth = name, 1
            append(token)
            continue
        if name == "option" and not OPTION_VALUE.search(token):
            # Core's <option>{{ column }}</option>: with no value attribute the text is what the
            # form submits, so it is kept as the value before the text is shown as a label.
            next_tag = page.find("<", pos)
            shown = page[pos:next_tag if next_tag != -1 else end_of_page]
            token = token[:-1].rstrip("/") + f' value="{html.escape(_normalise(html.unescape(shown)))}">'
        if name == "html":
            token = HTML_LANG.sub(f'<html lang="{lang}"', token)
        elif "=" in token:
            keep_value = not (name == "button" or (name == "input" and BUTTON_INPUT.search(token)))
            token = ATTRIBUTE.sub(
                lambda m: m.group(0) if keep_value and m.group(2).lower() == "value" else attribute(m), token)
        append(token)
    return "".join(out)
