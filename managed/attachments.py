"""Page screenshots of PDFs, for `store_attachments: screenshots`.

The per-page text items with boxes (`store_attachments: items`) come with parsing: see
`Page.items` in managed.parsing. Their boxes times the render scale are pixels in these images.
"""

from __future__ import annotations

import io
from contextlib import closing

import pypdfium2

from managed.parsing import ParseError, open_pdf

# A page is 72 points per inch: scale 1.0 renders at 72 dpi, 2.0 at 144 dpi.
# A PDF can declare pages of any size; refuse to allocate a bitmap past this many pixels.
MAX_PAGE_PIXELS = 50_000_000


def render_pages_png(data: bytes, scale: float = 1.0) -> list[bytes]:
    """PNG bytes of every page of the PDF `data`, in page order; ParseError if it is unusable."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    with open_pdf(data) as pdf:
        return [_render_png(pdf[index], index + 1, scale) for index in range(len(pdf))]


def _render_png(page: pypdfium2.PdfPage, number: int, scale: float) -> bytes:
    with closing(page):
        width, height = page.get_size()
        if width * height * scale * scale > MAX_PAGE_PIXELS:
            raise ParseError(f"page {number} is too large to render at scale {scale}")
        with closing(page.render(scale=scale)) as bitmap:
            # to_pil shares the bitmap's buffer, so encode before the bitmap is closed.
            png = io.BytesIO()
            bitmap.to_pil().save(png, format="PNG")
    return png.getvalue()
