"""Page screenshots, and how the parser's text boxes line up with them."""

from __future__ import annotations

import io

import pytest
from fpdf import FPDF
from PIL import Image

from managed.attachments import render_pages_png
from managed.parsing import ParseError, parse_document
from tests.managed.documents import A4_PT, make_pdf

LINES = [["A line of text near the top of page one."], ["Page two has its own line."]]


def test_one_png_per_page_at_the_requested_scale() -> None:
    pngs = render_pages_png(make_pdf(LINES), scale=0.5)
    assert len(pngs) == 2
    for png in pngs:
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.size == (round(A4_PT[0] * 0.5), round(A4_PT[1] * 0.5))


def test_text_boxes_times_scale_cover_the_rendered_text() -> None:
    data, scale = make_pdf(LINES), 2.0
    (item,) = parse_document(data, "a.pdf").pages[0].items
    with Image.open(io.BytesIO(render_pages_png(data, scale)[0])) as image:
        gray = image.convert("L")
        inside = gray.crop(tuple(round(v * scale) for v in item.bbox))
        below = gray.crop((0, round(item.bbox[3] * scale) + 4, gray.width, gray.height))
        assert inside.getextrema()[0] < 100  # dark glyph pixels in the box
        assert below.getextrema()[0] == 255  # nothing but white under the only line


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a readable PDF"):
        render_pages_png(b"%PDF-1.7 but not really")


def test_scale_must_be_positive() -> None:
    with pytest.raises(ValueError):
        render_pages_png(make_pdf(LINES), scale=0)


def test_a_page_too_large_to_render_is_a_parse_error() -> None:
    poster = FPDF(format=(5000, 5000))  # millimetres: about 14,000 points a side
    poster.add_page()
    with pytest.raises(ParseError, match="page 1 is too large"):
        render_pages_png(bytes(poster.output()))
