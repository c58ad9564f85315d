"""Distinct, well-formed PDF files of a chosen size (a page of text plus a compressed-looking stream).

Real letters and reports are mostly compressed streams (scanned pages, fonts): random bytes from a seeded
generator stand for them, so no two files compress or deduplicate into each other.
"""

from __future__ import annotations

import random


def make_pdf(seed: int, size: int, title: str = "Compte rendu") -> bytes:
    """A valid single-page PDF of about `size` bytes, different for every seed."""
    rng = random.Random(seed)
    text = f"BT /F1 12 Tf 72 720 Td ({title} n. {seed}) Tj ET".encode("latin-1", "replace")
    filler = rng.randbytes(max(0, size - 900))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width 1 /Height %d /BitsPerComponent 8 /ColorSpace "
        b"/DeviceGray /Length %d >>\nstream\n%s\nendstream" % (len(filler), len(filler), filler),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
