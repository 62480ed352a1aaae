"""Test documents, generated on the fly so that no binary fixture lives in the repository."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF
from fpdf.enums import XPos, YPos

# fpdf2's default page margins are 10 mm and a cell pads its text by 1 mm more; A4 is
# 595 x 842 points.
PDF_MARGIN_PT = 10 / 25.4 * 72
PDF_TEXT_LEFT_PT = 11 / 25.4 * 72
A4_PT = (595.28, 841.89)


def make_pdf(pages: list[list[str]], user_password: str | None = None) -> bytes:
    """A PDF with one page per entry; each string is one line of 12 pt Helvetica at the top."""
    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=12)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(text=line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def make_docx() -> bytes:
    """A heading, a paragraph, a table (one cell spans two columns), a closing paragraph."""
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("The zebra crossing on Elm Street was repainted in March.")
    table = document.add_table(rows=3, cols=2)
    table.cell(0, 0).text = "Region"
    table.cell(0, 1).text = "Revenue"
    table.cell(1, 0).text = "North"
    table.cell(1, 1).text = "42 million"
    table.cell(2, 0).merge(table.cell(2, 1)).text = "Totals are audited"
    document.add_paragraph("Closing remarks follow the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_html(title: str, paragraph: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title><style>p {{ color: gray }}</style></head>"
        f"<body><h1>{title}</h1><p>{paragraph}</p></body></html>"
    ).encode()


def make_prose_docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# Fills a PDF page past one chunk (800 characters) without saying anything a query asks about.
FILLER_LINES = [f"Section {n}: the appendix lists the supported models and their parts." for n in range(11)]
