"""dashboard.qr: the PNG really carries the QR matrix of the text."""

from __future__ import annotations

import io

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from dashboard.qr import qr_png


def test_png_modules_match_the_qr_matrix_of_the_url():
    url = "https://prov.example.net:8448/0123456789abcdef0123456789abcdef0123456789abcdef.cfg"
    png = qr_png(url, box_size=4, border=4)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=4, border=4)
    reference.add_data(url)
    reference.make(fit=True)
    matrix = reference.get_matrix()  # includes the border
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (len(matrix) * 4, len(matrix) * 4)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert (image.getpixel((x * 4 + 2, y * 4 + 2)) < 128) == dark
