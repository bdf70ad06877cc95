"""QR codes as PNG bytes (the softphone scans its provisioning URL from the dashboard)."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M


def qr_png(text: str, box_size: int = 6, border: int = 4) -> bytes:
    """A PNG of `text`; medium error correction survives a screen photographed at an angle."""
    if not text:
        raise ValueError("nothing to encode")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    code.add_data(text)
    code.make(fit=True)
    buf = io.BytesIO()
    code.make_image().save(buf, format="PNG")
    return buf.getvalue()
