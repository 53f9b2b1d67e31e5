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


# --- hand-made hostile PDFs (issue 12): shapes a checker may miss and a reader still runs ----------
TEXT_PAGE = {  # a page that shows "Hello mtkit" (objects 2, 3, 6, 7; the catalogue is object 1)
    2: "<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
    3: "<< /Length 43 >>\nstream\nBT /F1 24 Tf 20 100 Td (Hello mtkit) Tj ET\nendstream",
    6: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 3 0 R /Resources << /Font << /F1 7 0 R >> >> >>",
    7: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
}


def build_pdf(objects: dict[int, str], *, listed: set[int] | None = None, size: int | None = None,
              version: str = "1.7") -> bytes:
    """A classic PDF (xref table) from object bodies by number; ``listed`` leaves the other objects
    out of the cross-reference table (their bodies stay in the file, where readers find them)."""
    out = bytearray(f"%PDF-{version}\n%\xe2\xe3\xcf\xd3\n".encode("latin-1"))
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    listed = set(objects) if listed is None else listed
    count = size or max(listed) + 1
    xref = len(out)
    out += f"xref\n0 {count}\n0000000000 65535 f \n".encode()
    for number in range(1, count):
        out += (f"{offsets[number]:010d} 00000 n \n" if number in listed else "0000000000 65535 f \n").encode()
    out += f"trailer\n<< /Size {count} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def incremental_update(base: bytes, objects: dict[int, str]) -> bytes:
    """``base`` with a second revision appended (new bodies, an xref section, /Prev), as an editor
    saves changes: the new objects replace the old ones of the same number."""
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    size = int(base.rsplit(b"/Size", 1)[1].split()[0])
    out = bytearray(base)
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += b"xref\n"
    for number in sorted(offsets):
        out += f"{number} 1\n{offsets[number]:010d} 00000 n \n".encode()
    size = max(size, max(objects) + 1)
    out += f"trailer\n<< /Size {size} /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def pdf_with_object_stream(plain: dict[int, str], packed: dict[int, str]) -> bytes:
    """A PDF 1.5 whose ``packed`` objects live in an (uncompressed) object stream, indexed by a
    cross-reference stream: a byte search of the file never sees them as objects."""
    stream_number = max(plain | packed) + 1
    xref_number = stream_number + 1
    head, body = [], b""
    for number, text in sorted(packed.items()):
        head.append(f"{number} {len(body)}")
        body += text.encode("latin-1") + b"\n"
    header = (" ".join(head) + "\n").encode()
    objstm = (f"<< /Type /ObjStm /N {len(packed)} /First {len(header)} /Length {len(header) + len(body)} >>\nstream\n"
              .encode() + header + body + b"\nendstream")
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    entries = {0: (0, 0, 65535)}
    for number, text in sorted(plain.items()):
        entries[number] = (1, len(out), 0)
        out += f"{number} 0 obj\n{text}\nendobj\n".encode("latin-1")
    entries[stream_number] = (1, len(out), 0)
    out += f"{stream_number} 0 obj\n".encode() + objstm + b"\nendobj\n"
    for index, number in enumerate(sorted(packed)):
        entries[number] = (2, stream_number, index)
    entries[xref_number] = (1, len(out), 0)
    rows = b"".join(bytes([kind]) + a.to_bytes(4, "big") + b.to_bytes(2, "big")
                    for kind, a, b in (entries.get(n, (0, 0, 0)) for n in range(xref_number + 1)))
    out += (f"{xref_number} 0 obj\n<< /Type /XRef /Size {xref_number + 1} /W [1 4 2] /Root 1 0 R "
            f"/Length {len(rows)} >>\nstream\n").encode() + rows + b"\nendstream\nendobj\n"
    out += f"startxref\n{entries[xref_number][1]}\n%%EOF\n".encode()
    return bytes(out)
