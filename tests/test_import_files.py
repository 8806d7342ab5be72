"""taizhang.importer.files: opening an import file safely. Every file is built here in tmp_path:
openpyxl writes the workbooks, zipfile crafts the broken and hostile ones."""

import datetime
import zipfile

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from taizhang.importer import files
from taizhang.importer.files import ImportFileError, open_workbook

pytestmark = pytest.mark.fast

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
SHEET1 = "xl/worksheets/sheet1.xml"


def refused(path, *fragments, **kwargs) -> str:
    """open_workbook must refuse with one line naming the file (not its directory)."""
    with pytest.raises(ImportFileError) as info:
        open_workbook(path, **kwargs)
    message = str(info.value)
    assert path.name in message
    assert str(path.parent) not in message
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def write_xlsx(path, fill=None, sheets=1):
    wb = openpyxl.Workbook()
    for index in range(1, sheets):
        wb.create_sheet(f"S{index + 1}")
    if fill:
        fill(wb)
    else:
        wb.active.append(["姓名", "工号"])
        wb.active.append(["张伟", "00012"])
    wb.save(path)
    return path


def rewrite_member(path, member, transform, add=None):
    """Rebuild the zip with member's bytes passed through transform (and extra members added)."""
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    contents[member] = transform(contents.get(member, b""))
    contents.update(add or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return path


# ---- kind by bytes --------------------------------------------------------------------------


def test_xlsx_is_read_with_cell_values(tmp_path):
    def fill(wb):
        ws = wb.active
        ws.title = "花名册"
        ws.append(["工号", "入职日期", "人数", "在职"])
        ws.append(["00001", datetime.date(2017, 12, 8), 3, True])

    book = open_workbook(write_xlsx(tmp_path / "员工.xlsx", fill))
    assert book.kind == "xlsx" and book.date1904 is False and book.path == tmp_path / "员工.xlsx"
    [sheet] = book.sheets
    assert sheet.name == "花名册" and sheet.hidden is False
    assert sheet.rows[0] == ["工号", "入职日期", "人数", "在职"]
    assert sheet.rows[1][0] == "00001" and sheet.rows[1][3] is True
    assert sheet.rows[1][1] in (datetime.date(2017, 12, 8), datetime.datetime(2017, 12, 8))
    assert sheet.rows[1][2] == 3


def test_xlsx_named_csv_is_still_xlsx(tmp_path):
    path = tmp_path / "x.csv"
    write_xlsx(tmp_path / "x.xlsx").rename(path)
    assert open_workbook(path).kind == "xlsx"


@pytest.mark.parametrize("name", ["旧表.xls", "旧表.xlsx", "旧表.csv", "旧表"])
def test_xls_is_refused_whatever_its_name(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(OLE2_MAGIC + b"\x00" * 600 + "Workbook".encode("utf-16-le") + b"\x00" * 600)
    refused(path, "Excel 97-2003 格式（.xls）", "另存为 .xlsx")


def test_password_protected_xlsx_is_refused(tmp_path):
    path = tmp_path / "加密.xlsx"
    stream = "EncryptedPackage".encode("utf-16-le")
    path.write_bytes(OLE2_MAGIC + b"\x00" * 1000 + stream + b"\x00" * 1000)
    refused(path, "受密码保护", "取消密码")


def test_csv_renamed_xlsx_is_refused(tmp_path):
    path = tmp_path / "客户.xlsx"
    path.write_text("客户名称,电话\n华远,123\n", encoding="utf-8")
    refused(path, "实际是 CSV 文本", "扩展名改为 .csv")


def test_html_saved_as_xls_is_refused(tmp_path):
    path = tmp_path / "导出.xls"
    path.write_text("<html><body><table><tr><td>1</td></tr></table></body></html>")
    refused(path, "网页或 XML", "另存为 .xlsx")


@pytest.mark.parametrize(
    "encoding, delimiter",
    [("utf-8", ","), ("utf-8-sig", ","), ("gbk", "\t"), ("gb18030", ";"), ("utf-16", "\t")],
)
def test_csv_encodings_and_delimiters(tmp_path, encoding, delimiter):
    lines = [["部门名称", "负责人", "备注"], ["运营部", "张伟", ""], ["内容组", "", "新设，暂无"]]
    path = tmp_path / "部门.csv"
    path.write_bytes("\r\n".join(delimiter.join(line) for line in lines).encode(encoding))
    book = open_workbook(path)
    assert book.kind == "csv" and book.date1904 is False
    [sheet] = book.sheets
    assert sheet.name == "部门" and sheet.hidden is False
    assert sheet.rows == lines
    assert sheet.number_formats(0) == {} and sheet.formula_without_value() == []


def test_csv_quoted_cells_and_ragged_rows(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('名称,地址,电话\n"华远, 北京","朝阳区\n建国路"\n短\n', encoding="utf-8")
    rows = open_workbook(path).sheets[0].rows
    assert rows == [["名称", "地址", "电话"], ["华远, 北京", "朝阳区\n建国路", ""], ["短", "", ""]]


def test_csv_starting_with_pk_is_not_taken_for_a_zip(tmp_path):
    path = tmp_path / "主键.csv"
    path.write_text("PK,名称\n1,华远\n", encoding="utf-8")
    assert open_workbook(path).sheets[0].rows == [["PK", "名称"], ["1", "华远"]]


def test_csv_with_undecodable_bytes_is_refused(tmp_path):
    path = tmp_path / "乱码.csv"
    path.write_bytes(b"a,b\n\x81\x20\xff,1\n")
    refused(path, "编码无法识别")


# ---- damaged and empty files ----------------------------------------------------------------


def test_truncated_xlsx_is_refused(tmp_path):
    data = write_xlsx(tmp_path / "full.xlsx").read_bytes()
    path = tmp_path / "半截.xlsx"
    path.write_bytes(data[: len(data) // 2])
    refused(path, "已损坏或不完整", "重新下载")


def test_binary_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "随机.xlsx"
    path.write_bytes(bytes(range(256)) * 8)
    refused(path, "已损坏或不完整")


def test_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "文档.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    refused(path, "不是 Excel 工作簿")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "空.xlsx"
    path.write_bytes(b"")
    refused(path, "是空文件")


def test_missing_file_is_refused(tmp_path):
    refused(tmp_path / "没有.xlsx", "不存在")


def test_workbook_with_only_empty_sheets_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "空表.xlsx", fill=lambda wb: None, sheets=2)
    refused(path, "没有任何数据")


def test_csv_with_only_blank_lines_is_refused(tmp_path):
    path = tmp_path / "空表.csv"
    path.write_text(",,\n\n,\n", encoding="utf-8")
    refused(path, "没有任何数据")


def test_sheet_with_headers_and_no_rows_is_returned(tmp_path):
    path = write_xlsx(tmp_path / "表头.xlsx", fill=lambda wb: wb.active.append(["姓名", "工号"]))
    assert open_workbook(path).sheets[0].rows == [["姓名", "工号"]]


def test_calamine_failure_becomes_cannot_read(tmp_path):
    path = rewrite_member(
        write_xlsx(tmp_path / "坏表.xlsx"),
        SHEET1,
        lambda xml: xml.replace(b"</sheetData>", b"<row><c r='A9'><v>1</v></row></sheetData>"),
    )
    refused(path, "无法读取：")


# ---- zip bombs and XML attacks --------------------------------------------------------------


def test_too_large_when_unpacked_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "大.xlsx")
    refused(path, "解压后过大", "压缩炸弹", max_uncompressed=1000)
    assert open_workbook(path).sheets  # the default limit lets it through


def test_default_limit_is_a_module_constant():
    assert files.MAX_UNCOMPRESSED_BYTES == 500 * 1024 * 1024


def test_highly_compressed_member_is_refused(tmp_path):
    path = rewrite_member(
        write_xlsx(tmp_path / "炸弹.xlsx"), "xl/media/image1.bin", lambda _: b"\0" * (11 * 1024 * 1024)
    )
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/media/image1.bin")
        assert info.file_size / info.compress_size > 200
    refused(path, "解压后过大", "压缩炸弹")


def test_too_many_members_is_refused(tmp_path):
    path = tmp_path / "碎片.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for index in range(10_000):
            zf.writestr(f"xl/x{index}", b"")
    refused(path, "文件过多", "压缩炸弹")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">
<si><t>&lol9;</t></si></sst>"""


@pytest.mark.parametrize("member", ["xl/sharedStrings.xml", "xl/strings"])  # a part need not end in .xml
def test_billion_laughs_shared_strings_is_refused(tmp_path, member):
    path = rewrite_member(
        write_xlsx(tmp_path / "实体.xlsx"),
        SHEET1,
        lambda xml: xml.replace(b"</sheetData>", b'<row r="9"><c r="A9" t="s"><v>0</v></c></row></sheetData>'),
        add={member: BILLION_LAUGHS},
    )
    refused(path, "不安全的 XML", "DTD/实体声明")


def test_binary_members_are_not_taken_for_xml(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 300
    path = rewrite_member(write_xlsx(tmp_path / "图片.xlsx"), "xl/media/image1.png", lambda _: png)
    assert open_workbook(path).sheets[0].rows[1] == ["张伟", "00012"]


def test_doctype_in_utf16_sheet_is_refused(tmp_path):
    hostile = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE w [<!ENTITY x "y">]><worksheet/>'
    path = rewrite_member(
        write_xlsx(tmp_path / "u16.xlsx"), SHEET1, lambda _: hostile.encode("utf-16")
    )
    refused(path, "不安全的 XML")


def test_doctype_pushed_beyond_the_scanned_prefix_is_refused(tmp_path):
    padding = b"<!--" + b"x" * (files.XML_PROLOG_SCAN_BYTES + 10) + b"-->"
    path = rewrite_member(
        write_xlsx(tmp_path / "长序言.xlsx"),
        "xl/styles.xml",
        lambda xml: b'<?xml version="1.0"?>' + padding + b'<!DOCTYPE s [<!ENTITY a "b">]>' + xml,
    )
    refused(path, "不安全的 XML")


# ---- sheets ---------------------------------------------------------------------------------


def test_dimension_that_lies_does_not_cut_rows(tmp_path):
    def fill(wb):
        for index in range(500):
            wb.active.append([f"第{index + 1}行", index])

    path = write_xlsx(tmp_path / "尺寸.xlsx", fill)
    path = rewrite_member(path, SHEET1, lambda xml: xml.replace(b'ref="A1:B500"', b'ref="A1:B2"'))
    with zipfile.ZipFile(path) as zf:
        assert b'<dimension ref="A1:B2"' in zf.read(SHEET1)
    rows = open_workbook(path).sheets[0].rows
    assert len(rows) == 500 and rows[-1] == ["第500行", 499]


def test_rows_are_indexed_from_excel_row_1(tmp_path):
    def fill(wb):
        wb.active["C3"] = "标题"
        wb.active["D5"] = 7

    rows = open_workbook(write_xlsx(tmp_path / "偏移.xlsx", fill)).sheets[0].rows
    assert rows[2][2] == "标题" and rows[4][3] == 7


def test_hidden_sheets_are_marked(tmp_path):
    def fill(wb):
        wb.active.append(["a"])
        wb["S2"].sheet_state = "hidden"
        wb["S3"].sheet_state = "veryHidden"
        wb["S2"].append(["b"])

    book = open_workbook(write_xlsx(tmp_path / "隐藏.xlsx", fill, sheets=3))
    assert [(s.name, s.hidden) for s in book.sheets] == [("Sheet", False), ("S2", True), ("S3", True)]


def test_date1904_is_reported(tmp_path):
    def fill(wb):
        wb.epoch = CALENDAR_MAC_1904
        wb.active.append(["日期", datetime.date(2024, 3, 1)])

    book = open_workbook(write_xlsx(tmp_path / "mac.xlsx", fill))
    assert book.date1904 is True
    assert book.sheets[0].rows[0][1] in (datetime.date(2024, 3, 1), datetime.datetime(2024, 3, 1))


def test_merged_cells_fill_down_but_title_rows_stay(tmp_path):
    def fill(wb):
        ws = wb.active
        ws["A1"] = "华远文化传媒有限公司部门设置"
        ws.merge_cells("A1:P1")
        ws.append([])
        ws.append(["部门", "姓名"])
        ws["A4"], ws["B4"], ws["B5"], ws["B6"] = "运营部", "张伟", "王芳", "李娜"
        ws.merge_cells("A4:A6")

    rows = open_workbook(write_xlsx(tmp_path / "合并.xlsx", fill)).sheets[0].rows
    assert rows[0][0] == "华远文化传媒有限公司部门设置" and set(rows[0][1:]) == {""}
    assert [row[0] for row in rows[3:6]] == ["运营部"] * 3
    assert [row[1] for row in rows[3:6]] == ["张伟", "王芳", "李娜"]


def test_streamed_rows_are_the_rows(tmp_path):
    """head, iter_rows and row_count give what rows gives, without building it: the rows above
    the first used one, the columns left of it, merged cells filled (a merge running into the
    start row included)."""
    def fill(wb):
        ws = wb.active
        ws["C3"] = "名册"
        ws.merge_cells("C3:F3")
        ws["C5"], ws["D5"], ws["E5"] = "部门", "姓名", "备注"
        ws["C6"], ws["D6"], ws["D7"], ws["D8"], ws["E8"] = "运营部", "张伟", "王芳", "李娜", datetime.date(2024, 3, 1)
        ws.merge_cells("C6:C8")
        ws["D9"] = "组"
        ws.merge_cells("D9:E11")
        ws["C12"] = 1.5

    path = write_xlsx(tmp_path / "流.xlsx", fill)
    streamed = open_workbook(path).sheets[0]
    rows = open_workbook(path).sheets[0].rows
    assert streamed.row_count == len(rows) == 12
    assert streamed.head(6) == rows[:6] and streamed.head(50) == rows
    for start in (0, 5, 6, 7, 9, 10, 12, 20):
        assert list(streamed.iter_rows(start)) == rows[start:]
    assert [row[2] for row in rows[5:8]] == ["运营部"] * 3
    # Rows 10 and 11 hold nothing but the merge: blank rows stay blank (not records of "组" alone).
    assert [row[3:5] for row in rows[8:11]] == [["组", "组"], ["", ""], ["", ""]] and rows[11][2] == 1.5
    streamed.release()
    assert streamed.rows == [] and streamed.row_count == 0 and list(streamed.iter_rows()) == []


def test_an_empty_sheet_streams_nothing(tmp_path):
    book = open_workbook(write_xlsx(tmp_path / "空表.xlsx", lambda wb: wb.active.append(["姓名"]), sheets=2))
    empty = book.sheets[1]
    assert (empty.row_count, empty.head(30), list(empty.iter_rows()), empty.rows) == (0, [], [], [])


def test_number_formats_of_a_column(tmp_path):
    def fill(wb):
        ws = wb.active
        ws.append(["工号", "序号"])
        for row, number in ((2, 12), (3, 47)):
            ws.cell(row, 1, number).number_format = "00000"
            ws.cell(row, 2, number).number_format = "@"
        ws.append(["00099", 3])  # text in A, General in B
        wb["S2"].append([1])
        wb["S2"]["A1"].number_format = "0.00"

    book = open_workbook(write_xlsx(tmp_path / "格式.xlsx", fill, sheets=2))
    first, second = book.sheets
    assert first.number_formats(0) == {1: "00000", 2: "00000"}
    assert first.number_formats(1) == {1: "@", 2: "@"}
    assert first.number_formats(5) == {}
    assert second.number_formats(0) == {0: "0.00"}


def test_number_formats_of_cells_without_a_reference(tmp_path):
    """`r` is optional on <c> (some exporters leave it out): the column is then the position."""

    def fill(wb):
        wb.active.append(["工号", "编号"])
        wb.active["B2"] = 12
        wb.active["B2"].number_format = "00000"

    row = b'<row r="3"><c s="1"><v>5</v></c><c s="1"><v>47</v></c></row></sheetData>'
    path = rewrite_member(
        write_xlsx(tmp_path / "无坐标.xlsx", fill), SHEET1, lambda xml: xml.replace(b"</sheetData>", row)
    )
    sheet = open_workbook(path).sheets[0]
    assert sheet.rows[2] == [5, 47]
    assert sheet.number_formats(1) == {1: "00000", 2: "00000"}
    assert sheet.number_formats(0) == {2: "00000"}


def test_number_formats_do_not_use_openpyxl(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "懒.xlsx")
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: pytest.fail("openpyxl used"))
    assert open_workbook(path).sheets[0].number_formats(1) == {}


def test_formula_without_value(tmp_path):
    def fill(wb):
        ws = wb.active
        ws.append(["数量", "双倍", "说明"])
        ws.append([12, "=A2*2"])  # openpyxl writes <f> with an empty <v/>
        ws.append([1, 2, "x"])

    cells = (
        b'<row r="9"><c r="B9"><f>A9*2</f></c><c r="C9"><f>A9</f><v>5</v></c>'
        b'<c r="D9" t="str"><f>IF(A9="","",A9)</f><v></v></c></row></sheetData>'
    )
    path = rewrite_member(
        write_xlsx(tmp_path / "公式.xlsx", fill), SHEET1, lambda xml: xml.replace(b"</sheetData>", cells)
    )
    sheet = open_workbook(path).sheets[0]
    assert sorted(sheet.formula_without_value()) == [(1, 1), (8, 1)]


def test_formula_fast_path_skips_parsing(tmp_path, monkeypatch):
    sheet = open_workbook(write_xlsx(tmp_path / "无公式.xlsx")).sheets[0]
    monkeypatch.setattr(files.ET, "iterparse", lambda *a, **k: pytest.fail("parsed"))
    assert sheet.formula_without_value() == []


def test_lazy_reader_failure_becomes_import_file_error(tmp_path):
    path = write_xlsx(tmp_path / "后来坏了.xlsx")
    sheet = open_workbook(path).sheets[0]
    path.write_bytes(b"gone")
    with pytest.raises(ImportFileError, match="后来坏了.xlsx.*无法读取"):
        sheet.number_formats(0)

