"""Real, small files for upload tests (made with pypdf and Pillow, so every check opens them)."""
from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfWriter


def make_pdf(pages: int = 1, width: int = 595) -> bytes:
    """A blank PDF; a different ``width`` gives different bytes (A4 is 595 x 842 points)."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_png(width: int = 8, height: int = 8, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_jpeg(width: int = 16, height: int = 12, exif: bytes | None = None, orientation: int | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (30, 120, 200))
    out = io.BytesIO()
    if orientation is not None or exif is not None:
        data = Image.Exif()
        if orientation is not None:
            data[0x0112] = orientation
        data[0x010F] = "TestCam"  # Make
        data[0x8825] = {2: (39.0, 54.0, 0.0), 1: "N", 4: (116.0, 23.0, 0.0), 3: "E"}  # GPS: Beijing
        image.save(out, "JPEG", exif=data.tobytes())
    else:
        image.save(out, "JPEG")
    return out.getvalue()


def raw_pdf(*objects: str) -> bytes:
    """A PDF assembled by hand from object bodies (object 1 is the catalogue), with a correct xref:
    for the shapes pypdf will not write (escaped names, repeated page-tree nodes)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
