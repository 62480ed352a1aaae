"""Turn an uploaded file's bytes into per-page text.

Every format becomes a ParsedDocument of pages; formats without pages (text, Markdown, HTML,
DOCX) are one page. Only PDFs carry text items with boxes, for `store_attachments: items`.
Parsing is blocking work: call it from a worker thread or process, never on an event loop.
"""

from __future__ import annotations

import io
import posixpath
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath
from xml.etree import ElementTree

import pypdfium2

PAGE_SEPARATOR = "\n\n"

FORMAT_BY_EXTENSION = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
FORMAT_BY_CONTENT_TYPE = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}

# PDFium is not thread-safe, not even across different documents: every call into it, from
# parsing or rendering, holds this lock.
_PDFIUM_LOCK = threading.Lock()


class ParseError(Exception):
    """The file could not be parsed; the message says why, for the index's `files_failed`."""


@dataclass(frozen=True)
class TextItem:
    """A run of text on a PDF page (one line, as PDFium segments it) and where it is.

    `bbox` is (x0, y0, x1, y1) in PDF points with the origin at the page's top-left corner, y
    growing downwards, so that multiplying by a render scale gives pixels in the page image.
    """

    text: str
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str
    items: tuple[TextItem, ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    pages: tuple[Page, ...]
    format: str  # "txt", "md", "html", "pdf" or "docx"

    @property
    def text(self) -> str:
        """The whole document's text: what chunk offsets refer to."""
        return PAGE_SEPARATOR.join(page.text for page in self.pages)


def parse_document(data: bytes, filename: str, content_type: str | None = None) -> ParsedDocument:
    """Parse `data`, the bytes of `filename`; raise ParseError for anything unusable."""
    kind = detect_format(filename, content_type)
    if kind == "pdf":
        return ParsedDocument(_parse_pdf(data), kind)
    if kind == "docx":
        text = _docx_text(data)
    else:
        text = _decode_text(data, filename)
        if kind == "html":
            text = _html_text(text)
    return ParsedDocument((Page(1, text),), kind)


def detect_format(filename: str, content_type: str | None) -> str:
    """The format named by the file's extension, else by its content type."""
    kind = FORMAT_BY_EXTENSION.get(PurePath(filename).suffix.lower())
    if kind is None and content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        kind = FORMAT_BY_CONTENT_TYPE.get(media_type)
    if kind is None:
        supported = ", ".join(sorted(FORMAT_BY_EXTENSION))
        raise ParseError(
            f"unsupported file type: {filename!r} (content type {content_type!r}); "
            f"supported extensions: {supported}"
        )
    return kind


def _decode_text(data: bytes, filename: str) -> str:
    # A NUL byte never occurs in UTF-8 text: such a file is binary under a text name.
    if b"\x00" in data:
        raise ParseError(f"{filename!r} is not a text file (it contains NUL bytes)")
    text = data.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- PDF ---------------------------------------------------------------------------------------


@contextmanager
def open_pdf(data: bytes) -> Iterator[pypdfium2.PdfDocument]:
    """Hold the PDFium lock and an open document; PDFium failures become ParseError."""
    with _PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as error:
            raise ParseError(f"not a readable PDF: {error}") from error
        with pdf:
            try:
                yield pdf
            except pypdfium2.PdfiumError as error:
                raise ParseError(f"damaged PDF: {error}") from error


def _parse_pdf(data: bytes) -> tuple[Page, ...]:
    with open_pdf(data) as pdf:
        return tuple(_pdf_page(pdf[index], index + 1) for index in range(len(pdf)))


def _pdf_page(page: pypdfium2.PdfPage, number: int) -> Page:
    with closing(page), closing(page.get_textpage()) as textpage:
        # get_text_bounded covers all of Unicode; get_text_range is limited to UCS-2.
        text = _normalise_pdf_text(textpage.get_text_bounded())
        page_left, _, _, page_top = page.get_bbox()
        items = []
        # count_rects() must run (with default arguments) before get_rect() can be used.
        for index in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(index)  # PDF space: y grows upwards
            item_text = _normalise_pdf_text(textpage.get_text_bounded(left, bottom, right, top))
            if item_text:
                box = (left - page_left, page_top - top, right - page_left, page_top - bottom)
                items.append(TextItem(item_text, box))
    return Page(number, text, tuple(items))


def _normalise_pdf_text(text: str) -> str:
    # PDFium ends lines with CRLF and pads them with trailing spaces.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


# --- DOCX --------------------------------------------------------------------------------------
# Read with the standard library: a DOCX file is a zip of XML parts, and its text is in the main
# document part. python-docx (and lxml under it) would add 15 MB to the install for this;
# tests/managed/test_parsing.py checks that the text is what python-docx gives.

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MAIN_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
# What a run's elements stand for in its text, as python-docx reads them (w:t has its own text).
_RUN_CHARACTERS = {f"{_W}tab": "\t", f"{_W}ptab": "\t", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}
# Elements of a paragraph that hold runs: links, tracked insertions, fields, content controls.
_RUN_CONTAINERS = frozenset(
    f"{_W}{name}" for name in ("hyperlink", "ins", "moveTo", "smartTag", "fldSimple", "customXml", "sdt", "sdtContent")
)
# Elements of a body or a cell that hold paragraphs and tables: content controls, custom XML.
_BLOCK_CONTAINERS = frozenset(f"{_W}{name}" for name in ("sdt", "sdtContent", "customXml"))


def _docx_text(data: bytes) -> str:
    """Body paragraphs and tables in document order; a table row is its cells joined by ' | '."""
    # A damaged file can fail anywhere in the zip, the package or the XML, each raising its own
    # exception type; all of them mean the same thing to the caller.
    try:
        blocks = list(_docx_blocks(_docx_body(data)))
    except Exception as error:
        raise ParseError(f"not a readable DOCX file: {error}") from error
    return PAGE_SEPARATOR.join(block for block in blocks if block)


def _docx_body(data: bytes) -> ElementTree.Element:
    """The w:body of the package's main document part (the officeDocument relationship's target)."""
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        relationships = ElementTree.fromstring(package.read("_rels/.rels"))
        targets = [r.get("Target", "") for r in relationships.iter(_RELATIONSHIP) if r.get("Type") == _MAIN_DOCUMENT]
        if not targets:
            raise ValueError("the package has no main document part")
        document = ElementTree.fromstring(package.read(posixpath.normpath(targets[0].lstrip("/"))))
    body = document.find(f"{_W}body")
    if body is None:
        raise ValueError("the main document part has no body")
    return body


def _docx_blocks(container: ElementTree.Element) -> Iterator[str]:
    for element in container:
        if element.tag == f"{_W}p":
            yield _docx_paragraph(element).strip()
        elif element.tag == f"{_W}tbl":
            yield _docx_table(element)
        elif element.tag in _BLOCK_CONTAINERS:
            yield from _docx_blocks(element)


def _docx_paragraph(container: ElementTree.Element) -> str:
    parts = []
    for element in container:
        if element.tag == f"{_W}r":
            for piece in element:
                if piece.tag == f"{_W}t":
                    parts.append(piece.text or "")
                elif piece.tag == f"{_W}br":
                    # A line break is a new line; a page or column break is nothing.
                    parts.append("\n" if piece.get(f"{_W}type", "textWrapping") == "textWrapping" else "")
                else:
                    parts.append(_RUN_CHARACTERS.get(piece.tag, ""))
        elif element.tag in _RUN_CONTAINERS:
            parts.append(_docx_paragraph(element))
    return "".join(parts)


def _docx_table(table: ElementTree.Element) -> str:
    """One line a row. A cell spanning columns is there once; one that continues a vertical
    merge shows the merged cell's text again, as in each row it spans."""
    rows = []
    text_by_column: dict[int, str] = {}  # the text of the last cell starting at each grid column
    for row in table.findall(f"{_W}tr"):
        cells, column = [], 0
        for cell in row.findall(f"{_W}tc"):
            span = cell.find(f"{_W}tcPr/{_W}gridSpan")
            merge = cell.find(f"{_W}tcPr/{_W}vMerge")
            if merge is not None and merge.get(f"{_W}val", "continue") == "continue":
                text = text_by_column.get(column, "")
            else:
                text = " ".join(block for block in _docx_blocks(cell) if block)
                text_by_column[column] = text
            cells.append(text)
            column += int(span.get(f"{_W}val", "1")) if span is not None else 1
        rows.append(" | ".join(cells))
    return "\n".join(rows)


# --- HTML --------------------------------------------------------------------------------------

# Elements that start a new line of text when rendered.
_HTML_BLOCKS = frozenset(
    "address article aside blockquote body br caption dd details dialog div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section "
    "summary table tbody td tfoot th thead title tr ul".split()
)
# Elements whose content is never rendered as text.
_HTML_HIDDEN = frozenset({"script", "style", "template", "noscript"})
_WHITESPACE_RUN = re.compile(r"[ \t\f\v\r\n]+")


class _HTMLTextExtractor(HTMLParser):
    """Collects the visible text, one line per block element, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._enter_or_leave(tag, +1)

    def handle_endtag(self, tag: str) -> None:
        self._enter_or_leave(tag, -1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HTML_BLOCKS:  # <br/>, <hr/>: nothing to enter, only a line break
            self.parts.append("\n")

    def _enter_or_leave(self, tag: str, step: int) -> None:
        if tag in _HTML_HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth + step)
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth + step)
        if tag in _HTML_BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        self.parts.append(data if self._pre_depth else _WHITESPACE_RUN.sub(" ", data))


def _html_text(markup: str) -> str:
    extractor = _HTMLTextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.parts).split("\n"))
    return "\n".join(line for line in lines if line)
