"""parse_document on every supported format, and on input it must refuse; DOCX text as python-docx
(the reader it replaced) reads it."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Iterator

import docx
import pytest
from docx.document import Document as DocxDocument
from docx.enum.text import WD_BREAK
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

from managed.parsing import ParseError, parse_document
from tests.managed.documents import A4_PT, PDF_MARGIN_PT, PDF_TEXT_LEFT_PT, make_docx, make_pdf, make_prose_docx

LIGHTHOUSE = "The lighthouse keeper feeds the cats at dawn."
VOLCANO = "The volcano observatory records tremors every night."


def test_text_is_one_page_decoded_leniently() -> None:
    data = "\ufeffFirst line\r\nsecond line \u00e9\r\n".encode() + b"bad \xff byte"
    doc = parse_document(data, "notes.txt")
    assert doc.format == "txt"
    assert [page.number for page in doc.pages] == [1]
    assert doc.pages[0].text == "First line\nsecond line \u00e9\nbad \ufffd byte"
    assert doc.pages[0].items == ()


def test_markdown_keeps_its_markup() -> None:
    doc = parse_document(b"# Title\n\nBody with *emphasis*.", "README.md")
    assert doc.format == "md"
    assert doc.text == "# Title\n\nBody with *emphasis*."


def test_html_keeps_visible_text_one_block_per_line() -> None:
    markup = b"""<!doctype html><html><head><title>Field guide</title>
    <style>body { color: red }</style><script>var secret = "SCRIPT TEXT";</script></head>
    <body><h1>Birds</h1><p>The   heron&nbsp;waits
    by the <b>river</b>&amp;the lake.</p><noscript>NOSCRIPT TEXT</noscript>
    <ul><li>heron</li><li>egret</li></ul><p>line one<br>line two</p></body></html>"""
    doc = parse_document(markup, "guide.HTM")
    assert doc.format == "html"
    assert doc.text == (
        "Field guide\nBirds\nThe heron\u00a0waits by the river&the lake.\n"
        "heron\negret\nline one\nline two"
    )
    assert "SCRIPT TEXT" not in doc.text and "color" not in doc.text
    assert "NOSCRIPT" not in doc.text


def test_pdf_text_lands_on_its_page_with_boxes() -> None:
    data = make_pdf([[LIGHTHOUSE, "A second line."], [VOLCANO], []])
    doc = parse_document(data, "report.pdf")
    assert doc.format == "pdf"
    assert [page.number for page in doc.pages] == [1, 2, 3]
    assert doc.pages[0].text == f"{LIGHTHOUSE}\nA second line."
    assert doc.pages[1].text == VOLCANO
    assert doc.pages[2].text == "" and doc.pages[2].items == ()

    first, second = doc.pages[0].items
    assert (first.text, second.text) == (LIGHTHOUSE, "A second line.")
    x0, y0, x1, y1 = first.bbox
    # Origin top-left: the first line sits just below the top margin, the second under it.
    assert x0 == pytest.approx(PDF_TEXT_LEFT_PT, abs=1)
    assert PDF_MARGIN_PT < y0 < y1 < PDF_MARGIN_PT + 20
    assert x1 < A4_PT[0] and second.bbox[1] > y1


def test_docx_paragraphs_and_table_in_document_order() -> None:
    doc = parse_document(make_docx(), "report.docx")
    assert doc.format == "docx"
    assert len(doc.pages) == 1
    assert doc.text == (
        "Quarterly report\n\n"
        "The zebra crossing on Elm Street was repainted in March.\n\n"
        "Region | Revenue\nNorth | 42 million\nTotals are audited\n\n"
        "Closing remarks follow the table."
    )


def test_content_type_decides_when_the_extension_says_nothing() -> None:
    doc = parse_document(b"<p>hi</p>", "upload", "text/html; charset=utf-8")
    assert (doc.format, doc.text) == ("html", "hi")
    pdf = parse_document(make_pdf([[VOLCANO]]), "blob.bin", "application/pdf")
    assert pdf.pages[0].text == VOLCANO


def test_extension_wins_over_content_type() -> None:
    assert parse_document(b"# x", "a.md", "text/html").format == "md"


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("sheet.xlsx", None), ("image.png", "image/png"), ("noextension", None)],
)
def test_unsupported_type_is_a_parse_error(filename: str, content_type: str | None) -> None:
    with pytest.raises(ParseError, match="unsupported file type") as caught:
        parse_document(b"whatever", filename, content_type)
    assert filename in str(caught.value)


def _python_docx_text(data: bytes) -> str:
    """The text python-docx reads, joined as managed/parsing.py joins it (the reader it replaced)."""
    def blocks(container: DocxDocument | _Cell) -> Iterator[str]:
        for block in container.iter_inner_content():
            if isinstance(block, Paragraph):
                yield block.text.strip()
            elif isinstance(block, Table):
                yield "\n".join(row_text(row) for row in block.rows)

    def row_text(row: _Row) -> str:
        cells: list[_Cell] = []
        for cell in row.cells:  # a cell spanning several grid columns is listed once per column
            if not cells or cell != cells[-1]:
                cells.append(cell)
        return " | ".join(" ".join(b for b in blocks(cell) if b) for cell in cells)

    return "\n\n".join(block for block in blocks(docx.Document(io.BytesIO(data))) if block)


def _docx_of_every_kind() -> bytes:
    """Tabs, line and page breaks, cells merged across and down, a table inside a cell."""
    document = docx.Document()
    document.add_paragraph("Tabs\tbetween words")
    lines = document.add_paragraph("one line")
    lines.add_run().add_break()
    lines.add_run("and the next")
    pages = document.add_paragraph("before the page break")
    pages.add_run().add_break(WD_BREAK.PAGE)
    pages.add_run(" after it")
    table = document.add_table(rows=3, cols=3)
    table.cell(0, 0).merge(table.cell(1, 0)).text = "two rows high"
    for (row, column), text in {(0, 1): "a", (0, 2): "b", (1, 1): "c", (1, 2): "d", (2, 0): "e"}.items():
        table.cell(row, column).text = text
    table.cell(2, 1).merge(table.cell(2, 2)).text = "two columns wide"
    inner = table.cell(2, 0).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "inner left", "inner right"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [make_docx(), _docx_of_every_kind(), make_prose_docx(["First.", "Second."])],
                         ids=["report", "every-kind", "prose"])
def test_docx_text_is_what_python_docx_reads(data: bytes) -> None:
    assert parse_document(data, "same.docx").text == _python_docx_text(data)


def _zip_without_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (random.Random(1).randbytes(4096), "scan.pdf", "not a readable PDF"),
        (make_pdf([[LIGHTHOUSE]])[:300], "truncated.pdf", "not a readable PDF"),
        (make_pdf([[LIGHTHOUSE]], user_password="secret"), "locked.pdf", "password"),
        (random.Random(2).randbytes(4096), "letter.docx", "not a readable DOCX"),
        (make_docx()[:2000], "truncated.docx", "not a readable DOCX"),
        (_zip_without_document(), "archive.docx", "not a readable DOCX"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "program.txt", "not a text file"),
    ],
    ids=["pdf-garbage", "pdf-truncated", "pdf-encrypted", "docx-garbage", "docx-truncated",
         "docx-not-word", "txt-binary"],
)
def test_unusable_input_is_a_parse_error(data: bytes, filename: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_document(data, filename)


@pytest.mark.parametrize("filename", ["a.txt", "a.md", "a.html", "a.pdf", "a.docx"])
def test_random_bytes_parse_or_raise_parse_error(filename: str) -> None:
    generator = random.Random(filename)
    for size in (0, 1, 7, 512, 20_000):
        # Without NUL bytes, so that the text formats get past the binary check into decoding.
        data = generator.randbytes(size).replace(b"\x00", b"")
        try:
            parse_document(data, filename)
        except ParseError:
            pass
