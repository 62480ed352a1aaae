"""Turn an uploaded file's bytes into per-page text.

Every format becomes a ParsedDocument of pages; formats without pages (text, Markdown, HTML,
DOCX) are one page. Only PDFs carry text items with boxes, for `store_attachments: items`.
Parsing is blocking work: call it from a worker thread or process, never on an event loop.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

import docx
import pypdfium2
from docx.document import Document as DocxDocument
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

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


def _docx_text(data: bytes) -> str:
    """Body paragraphs and tables in document order; a table row is its cells joined by ' | '."""
    # A damaged file can fail anywhere in the zip, the package or the XML, each raising its own
    # exception type; all of them mean the same thing to the caller.
    try:
        blocks = list(_docx_blocks(docx.Document(io.BytesIO(data))))
    except Exception as error:
        raise ParseError(f"not a readable DOCX file: {error}") from error
    return PAGE_SEPARATOR.join(block for block in blocks if block)


def _docx_blocks(container: DocxDocument | _Cell) -> Iterator[str]:
    for block in container.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text.strip()
        elif isinstance(block, Table):
            yield "\n".join(_docx_row(row) for row in block.rows)


def _docx_row(row: _Row) -> str:
    cells: list[_Cell] = []
    for cell in row.cells:
        # A cell spanning several grid columns is listed once per column.
        if not cells or cell != cells[-1]:
            cells.append(cell)
    return " | ".join(" ".join(b for b in _docx_blocks(cell) if b) for cell in cells)


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
