"""Open an import file (xlsx or csv, judged by its bytes) and return its sheets as rows of cells.

Whatever is wrong with the file itself (format, damage, password, hostile content) becomes an
ImportFileError: one Chinese line naming the file. Indices are 0-based Excel coordinates (rows[0]
is Excel row 1 even when the data starts lower), so rows, number_formats and formulas agree.

A sheet of an xlsx is not turned into Python objects when the file is opened: `head` and
`iter_rows` stream it row by row (what the import does, so a large sheet is never held twice),
and `rows` builds the whole list only when someone asks for it."""

from __future__ import annotations

import csv
import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property, partial
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

import python_calamine

# A register workbook unpacks to a few MB: 500 MB is ample, yet stops a bomb before calamine
# inflates it into memory. Also the largest CSV accepted (a CSV is read whole).
MAX_UNCOMPRESSED_BYTES = 500 * 1024 * 1024
# Office XML compresses 10-20x, rarely 100x; beyond 200x a large member was built to explode...
MAX_COMPRESSION_RATIO = 200
# ...but only members bigger than this are judged by ratio: a small repetitive part is harmless.
RATIO_CHECK_MIN_BYTES = 10 * 1024 * 1024
# Real workbooks hold tens of members; thousands mean a hostile or broken archive.
MAX_ZIP_MEMBERS = 10_000
# A DTD may only stand before the root element, so the first bytes of each XML part are enough
# to find one; a part whose root element is not within them is refused too.
XML_PROLOG_SCAN_BYTES = 64 * 1024
# Enough of the file's start to tell zip, OLE2, text and other binary apart.
SNIFF_BYTES = 8192
# The delimiter is judged from the CSV's first lines.
CSV_SNIFF_CHARS = 64 * 1024
# What Excel and WPS write; ',' when the sniffer cannot tell (a single column).
CSV_DELIMITERS = ",\t;"
# Excel's "Unicode text" export (and XML parts, rarely) are UTF-16 with a byte order mark.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A zip's local file header: xlsx starts with it (a CSV may well start with plain "PK").
ZIP_MAGIC = b"PK\x03\x04"
# Excel 97-2003 (.xls) and password-protected .xlsx are both OLE2 compound files...
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
# ...told apart by these stream names in the OLE2 directory (stored UTF-16LE).
ENCRYPTION_STREAMS = tuple(name.encode("utf-16-le") for name in ("EncryptedPackage", "EncryptionInfo"))
# Excel's built-in number formats (ECMA-376 18.8.30) that do not depend on the locale. 0 (General)
# is left out: it is no format worth reporting.
BUILTIN_NUMBER_FORMATS = {
    1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00",
    12: "# ?/?", 13: "# ??/??", 14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy",
    18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm",
    37: "#,##0 ;(#,##0)", 38: "#,##0 ;[Red](#,##0)", 39: "#,##0.00;(#,##0.00)",
    40: "#,##0.00;[Red](#,##0.00)", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0", 48: "##0.0E+0", 49: "@",
}
# Cell types (`t`) holding a number; no `t` means "n". s/str/inlineStr are text, b and e are not numbers.
NUMERIC_CELL_TYPES = ("n", "d")
# An <f> element, possibly namespace-prefixed (<x:f>): the cheap test before parsing a sheet.
FORMULA_TAG = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")
# What the XML checks look for: a DTD, and the prolog (declaration, comments, PIs) before the root.
DTD_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
XML_PROLOG = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
XML_ROOT_START = re.compile(r"<[^\s<>!?/]")

DAMAGED = "已损坏或不完整（无法作为 xlsx 打开），请重新保存或重新下载"
PROTECTED = "受密码保护，请先在 Excel 中取消密码后再导入"


class ImportFileError(Exception):
    """One-line, Chinese, actionable message naming the file; the CLI prints it and exits non-zero."""


class Sheet:
    """One worksheet: calamine's values, '' for empty, vertical merges filled; rows[i] is Excel row
    i + 1. `number_formats(col)` -> {row: format code} and `formula_without_value()` -> [(row, col)]
    scan the sheet's XML when called.

    An xlsx sheet keeps calamine's own copy of its cells and hands them out as Python rows on
    demand: `head(n)` and `iter_rows(start)` stream them (merged cells filled on the way), `rows`
    builds the whole list once and keeps it (a CSV is read whole, so its rows are given)."""

    def __init__(
        self, name: str, hidden: bool, rows: list[list[object]] | None = None,
        number_formats: Callable[[int], dict[int, str]] = lambda col: {},
        formula_without_value: Callable[[], list[tuple[int, int]]] = lambda: [],
        *, source: _CalamineSource | None = None,
    ) -> None:
        self.name = name
        self.hidden = hidden
        self.number_formats = number_formats
        self.formula_without_value = formula_without_value
        if rows is None and source is None:
            rows = []
        self._rows = rows  # None: not built yet, streamed from the source
        self._source = source

    def __repr__(self) -> str:
        return f"Sheet(name={self.name!r}, hidden={self.hidden}, row_count={self.row_count})"

    @property
    def rows(self) -> list[list[object]]:
        """The whole sheet, built on first use and kept."""
        if self._rows is None:
            self._rows = self._source.materialise()
        return self._rows

    @rows.setter
    def rows(self, rows: list[list[object]]) -> None:
        self._rows, self._source = rows, None

    @property
    def row_count(self) -> int:
        """len(rows), without building them: the last used Excel row's number."""
        return len(self._rows) if self._rows is not None else self._source.row_count

    def head(self, n: int) -> list[list[object]]:
        """The first n rows (rows[:n]), merged cells filled."""
        if self._rows is not None:
            return self._rows[:n]
        return list(islice(self._source.stream(), n))

    def iter_rows(self, start: int = 0) -> Iterator[list[object]]:
        """rows[start:], one row at a time; streamed unless the rows are already built."""
        if self._rows is not None:
            return islice(self._rows, start, None)
        return islice(self._source.stream(), start, None)

    def release(self) -> None:
        """Let go of the sheet's cells (the lazy format and formula scans still work)."""
        self.rows = []


@dataclass
class Workbook:
    path: Path
    kind: str  # 'xlsx' | 'csv'
    sheets: list[Sheet]
    date1904: bool


def open_workbook(path: Path, *, max_uncompressed: int = MAX_UNCOMPRESSED_BYTES) -> Workbook:
    path = Path(path)
    head = _read_head(path)
    if head.startswith(OLE2_MAGIC):
        _refuse_ole2(path)
    if head.startswith(ZIP_MAGIC):
        return _open_xlsx(path, max_uncompressed)
    if head.startswith(UTF16_BOMS) or b"\x00" not in head:
        return _open_text(path, head, max_uncompressed)
    raise _error(path, DAMAGED)


def _error(path: Path, text: str) -> ImportFileError:
    return ImportFileError(f"文件“{path.name}”{text}")


def _unreadable(path: Path, exc: BaseException) -> ImportFileError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]  # one line, no traceback
    return _error(path, f"无法读取：{reason}")


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise _error(path, "不存在，请检查文件名和路径") from None
    except OSError as exc:
        raise _error(path, f"无法读取：{exc.strerror or type(exc).__name__}") from None  # str(exc) has the full path
    if not head:
        raise _error(path, "是空文件")
    return head


def _refuse_ole2(path: Path) -> None:
    data = path.read_bytes()
    if any(stream in data for stream in ENCRYPTION_STREAMS):
        raise _error(path, PROTECTED)
    raise _error(path, "是 Excel 97-2003 格式（.xls），请在 Excel 中另存为 .xlsx 后再导入")


def _open_xlsx(path: Path, max_uncompressed: int) -> Workbook:
    try:
        with zipfile.ZipFile(path) as zf:
            if not {"[Content_Types].xml", "xl/workbook.xml"} <= set(zf.namelist()):
                raise _error(path, "不是 Excel 工作簿（.xlsx），请在 Excel 中另存为 .xlsx 后再导入")
            _check_zip_bomb(path, zf, max_uncompressed)
            _check_xml_safety(path, zf)
            parts = _XlsxParts.read(path, zf)
    except ImportFileError:
        raise
    except Exception:  # BadZipFile, zlib.error, EOFError, ParseError...: all mean a broken file
        raise _error(path, DAMAGED) from None
    sheets = _read_sheets(path, parts)
    if not any(cell != "" for sheet in sheets for row in sheet.iter_rows() for cell in row):
        raise _error(path, "没有任何数据")
    return Workbook(path, "xlsx", sheets, parts.date1904)


def _check_zip_bomb(path: Path, zf: zipfile.ZipFile, max_uncompressed: int) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise _error(path, f"包含的文件过多（超过 {MAX_ZIP_MEMBERS} 个），疑似压缩炸弹，已拒绝")
    dense = any(i.file_size > max(RATIO_CHECK_MIN_BYTES, MAX_COMPRESSION_RATIO * i.compress_size) for i in infos)
    if dense or sum(i.file_size for i in infos) > max_uncompressed:
        raise _error(path, "解压后过大，疑似压缩炸弹，已拒绝")


def _check_xml_safety(path: Path, zf: zipfile.ZipFile) -> None:
    """Every member that is XML by its content (whatever its name: a part need not end in .xml),
    a superset of those calamine and we parse, is checked for a DTD."""
    for info in zf.infolist():
        with zf.open(info) as member:
            prefix = member.read(XML_PROLOG_SCAN_BYTES)
        if _unsafe_xml(prefix, whole=info.file_size <= len(prefix)):
            raise _error(path, "包含不安全的 XML（DTD/实体声明），已拒绝")


def _unsafe_xml(prefix: bytes, whole: bool) -> bool:
    if prefix.startswith(UTF16_BOMS):
        text = prefix.decode("utf-16", "ignore")
    elif prefix.startswith((b"<\x00", b"\x00<")):
        text = prefix.decode("utf-16-le" if prefix[0] else "utf-16-be", "ignore")
    else:  # UTF-8 and the like: markup is ASCII, and latin-1 never fails
        text = prefix.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    if not text.lstrip().startswith("<"):
        return False  # not XML (an image, a binary part): no parser reads a DTD from it
    if DTD_DECLARATION.search(text):
        return True
    pos = XML_PROLOG.match(text).end()
    # What follows the prolog must be the root element, else a DTD may lie beyond our view.
    return not XML_ROOT_START.match(text, pos) and not (whole and pos == len(text))


def _read_sheets(path: Path, parts: _XlsxParts) -> list[Sheet]:
    sheets = []
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            for index, meta in enumerate(book.sheets_metadata):
                if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                    continue  # chart and macro sheets hold no cells
                source = _CalamineSource(path, book.get_sheet_by_index(index))
                hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
                lazy = partial(parts.number_formats, meta.name), partial(parts.formula_without_value, meta.name)
                sheets.append(Sheet(meta.name, hidden, None, *lazy, source=source))
    except python_calamine.PasswordError:
        raise _error(path, PROTECTED) from None
    except Exception as exc:
        raise _unreadable(path, exc) from None
    return sheets


class _CalamineSource:
    """A sheet as calamine holds it (its cells in Rust, parsed once when the file is opened),
    turned into Python rows on demand: all at once, or streamed."""

    def __init__(self, path: Path, sheet: python_calamine.CalamineSheet) -> None:
        self.path = path
        self.sheet = sheet
        self.merged = sheet.merged_cell_ranges or []
        end = sheet.end
        self.row_count = end[0] + 1 if sheet.start is not None and end is not None else 0

    def materialise(self) -> list[list[object]]:
        with _wrap_errors(self.path):
            rows = self.sheet.to_python(skip_empty_area=False)
        _fill_merged(rows, self.merged)
        return rows

    def stream(self) -> Iterator[list[object]]:
        """The rows of materialise(), one at a time. calamine's iter_rows yields the rows above
        the first used one as it should, but each row only from the first used column on."""
        if not self.row_count:
            return
        try:
            pad = [""] * self.sheet.start[1]
            rows: Iterable[list[object]] = self.sheet.iter_rows()
            if pad:
                rows = (pad + row for row in rows)
            if any(r1 < r2 for (r1, _), (r2, _) in self.merged):
                rows = _fill_merged_stream(rows, self.merged)
            yield from rows
        except ImportFileError:
            raise
        except Exception as exc:
            raise _unreadable(self.path, exc) from None


def _fill_merged_stream(rows: Iterable[list[object]], ranges) -> Iterator[list[object]]:
    """_fill_merged, row by row: a range's top-left value is picked up when its first row goes
    by and copied into its cells until its last row (blank rows left blank)."""
    pending = sorted(((r1, c1, r2, c2) for (r1, c1), (r2, c2) in ranges if r1 < r2), reverse=True)
    active: list[tuple[int, int, int, object]] = []  # (last row, first col, last col, value)
    for index, row in enumerate(rows):
        while pending and pending[-1][0] == index:
            _, c1, r2, c2 = pending.pop()
            if c1 < len(row):
                active.append((r2, c1, c2, row[c1]))
        if active:
            if not _is_blank(row):
                for _last_row, c1, c2, value in active:
                    row[c1 : c2 + 1] = [value] * len(row[c1 : c2 + 1])
            active = [a for a in active if a[0] > index]
        yield row


def _is_blank(row: list[object]) -> bool:
    """A row with nothing of its own: a merged group's value is not copied into it, so a blank
    line inside a group stays a blank line instead of a record holding only the group's value."""
    return all(v is None or v == "" for v in row)


def _fill_merged(rows: list[list[object]], ranges: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    """Copy each merged range's top-left value into all its cells, in place. A range within one
    row (a title across the table, a group header over several columns) is left as it is, and so
    is a blank row inside a range (see _is_blank)."""
    blank = {i for (r1, _), (r2, _) in ranges if r1 < r2 for i in range(r1 + 1, min(r2 + 1, len(rows)))
             if _is_blank(rows[i])}
    for (r1, c1), (r2, c2) in ranges:
        if r1 == r2 or r1 >= len(rows) or c1 >= len(rows[r1]):
            continue
        value = rows[r1][c1]
        for i in range(r1, min(r2 + 1, len(rows))):
            if i not in blank:
                rows[i][c1 : c2 + 1] = [value] * len(rows[i][c1 : c2 + 1])


@dataclass
class _XlsxParts:
    """Where each sheet's XML lives in the package, and the lazy readers that stream it."""

    path: Path
    date1904: bool
    sheet_parts: dict[str, str | None]  # sheet name -> zip member
    styles: str | None

    @classmethod
    def read(cls, path: Path, zf: zipfile.ZipFile) -> _XlsxParts:
        by_lower = {name.lower(): name for name in zf.namelist()}
        rels = by_lower.get("xl/_rels/workbook.xml.rels")
        targets, styles = {}, None
        for rel in ET.fromstring(zf.read(rels)).iter() if rels else []:
            if (target := rel.get("Target")) and rel.get("TargetMode") != "External":
                member = target[1:] if target.startswith("/") else posixpath.join("xl", target)
                targets[rel.get("Id")] = by_lower.get(posixpath.normpath(member).lower())
                if rel.get("Type", "").endswith("/styles"):
                    styles = targets[rel.get("Id")]
        date1904, sheet_parts = False, {}
        for elem in ET.fromstring(zf.read("xl/workbook.xml")).iter():
            if _local(elem.tag) == "workbookPr":
                date1904 = elem.get("date1904", "").lower() in ("1", "true")
            elif _local(elem.tag) == "sheet":
                rid = next((v for k, v in elem.attrib.items() if k.endswith("}id")), None)
                sheet_parts[elem.get("name")] = targets.get(rid)
        return cls(path, date1904, sheet_parts, styles)

    @contextmanager
    def _open_part(self, what: str, member: str | None) -> Iterator[io.BufferedIOBase]:
        if member is None:
            raise _error(self.path, f"无法读取：找不到“{what}”的内容")
        with zipfile.ZipFile(self.path) as zf, zf.open(member) as stream:
            yield stream

    @cached_property
    def cell_formats(self) -> list[str | None]:
        """The number format code of each cellXfs entry (a cell's `s`), None for General."""
        if self.styles is None:
            return []
        with self._open_part("styles.xml", self.styles) as stream:
            root = ET.parse(stream).getroot()
        custom = {int(e.get("numFmtId")): e.get("formatCode") for e in root.iter() if _local(e.tag) == "numFmt"}
        ids = [int(xf.get("numFmtId", "0")) for e in root if _local(e.tag) == "cellXfs" for xf in e]
        return [custom.get(i) or BUILTIN_NUMBER_FORMATS.get(i) for i in ids]

    def number_formats(self, sheet: str, col: int) -> dict[int, str]:
        found = {}
        with _wrap_errors(self.path), self._open_part(sheet, self.sheet_parts.get(sheet)) as stream:
            formats = self.cell_formats
            for row, c, elem in _iter_cells(stream):
                style = int(elem.get("s", "0"))  # no s: style 0, which is General
                if c != col or elem.get("t", "n") not in NUMERIC_CELL_TYPES or style >= len(formats):
                    continue
                if formats[style] and any(_local(child.tag) == "v" for child in elem):
                    found[row] = formats[style]
        return found

    def formula_without_value(self, sheet: str) -> list[tuple[int, int]]:
        member, missing = self.sheet_parts.get(sheet), []
        with _wrap_errors(self.path):
            with self._open_part(sheet, member) as stream:
                if not _contains_formula(stream):
                    return []
            with self._open_part(sheet, member) as stream:
                for row, col, elem in _iter_cells(stream):
                    children = {_local(child.tag): child for child in elem}
                    value = children.get("v")
                    # t="str" with an empty <v> is a cached "" (=IF(A1="","",…)), not a missing value
                    cached = value is not None and (value.text or elem.get("t") == "str")
                    if "f" in children and not cached:
                        missing.append((row, col))
        return missing


@contextmanager
def _wrap_errors(path: Path) -> Iterator[None]:
    """Any failure while reading lazily becomes ImportFileError «无法读取：…»."""
    try:
        yield
    except ImportFileError:
        raise
    except Exception as exc:
        raise _unreadable(path, exc) from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _contains_formula(stream: io.BufferedIOBase) -> bool:
    tail = b""  # the end of the previous chunk, so that a tag cut in two is still found
    while chunk := stream.read(1 << 20):
        if FORMULA_TAG.search(tail + chunk):
            return True
        tail = chunk[-32:]
    return False


def _iter_cells(stream: io.BufferedIOBase) -> Iterator[tuple[int, int, ET.Element]]:
    """Stream a sheet's XML, yielding (row, col, <c> element) for each complete cell."""
    events = ET.iterparse(stream, events=("start", "end"))
    _, root = next(events)
    ns = root.tag[: root.tag.find("}") + 1]  # tags compared whole: this loop runs per element
    row_tag, cell_tag, data_tag = ns + "row", ns + "c", ns + "sheetData"
    row = col = -1
    sheet_data = None
    for event, elem in events:
        if event == "start":
            if elem.tag == row_tag:
                row, col = (int(elem.get("r")) - 1 if elem.get("r") else row + 1), -1
            elif elem.tag == data_tag:
                sheet_data = elem
        elif elem.tag == cell_tag:
            if ref := elem.get("r"):  # "B12"; without it a cell follows the one before
                letters = ref.rstrip("0123456789")
                row, col = int(ref[len(letters) :]) - 1, _column_index(letters)
            else:
                col += 1
            yield row, col, elem
        elif elem.tag == row_tag and sheet_data is not None:
            sheet_data.clear()  # done with this row: memory stays flat on big sheets


@cache  # called for every cell, with a few dozen distinct columns
def _column_index(letters: str) -> int:
    return sum((ord(letter) - 64) * 26**power for power, letter in enumerate(reversed(letters.upper()))) - 1


def _open_text(path: Path, head: bytes, max_bytes: int) -> Workbook:
    if path.suffix.lower() != ".csv":
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            raise _error(path, "实际是网页或 XML 文本，不是真正的 Excel 文件，请在 Excel 中打开后另存为 .xlsx 再导入")
        raise _error(path, "实际是 CSV 文本，请将扩展名改为 .csv 后再导入")
    if path.stat().st_size > max_bytes:
        raise _error(path, f"过大（超过 {max_bytes // (1024 * 1024)} MB），已拒绝")
    try:
        rows = _parse_csv(_decode(path, path.read_bytes()))
    except csv.Error as exc:
        raise _unreadable(path, exc) from None
    if not any(cell != "" for row in rows for cell in row):
        raise _error(path, "没有任何数据")
    sheet = Sheet(path.stem, False, rows)
    return Workbook(path, "csv", [sheet], date1904=False)


def _decode(path: Path, data: bytes) -> str:
    for encoding in ("utf-16",) if data.startswith(UTF16_BOMS) else ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    raise _error(path, "的编码无法识别（不是 UTF-8 或 GBK），请在 Excel 中另存为“CSV UTF-8”后再导入")


def _parse_csv(text: str) -> list[list[object]]:
    sample = text[:CSV_SNIFF_CHARS]
    if len(text) > CSV_SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    rows: list[list[object]] = list(csv.reader(io.StringIO(text, newline=""), dialect))
    width = max((len(row) for row in rows), default=0)
    for row in rows:  # ragged lines padded, as calamine pads a sheet
        row.extend([""] * (width - len(row)))
    return rows
