"""Checking an uploaded file before a single byte is stored.

Two steps. ``receive`` is cheap: the bytes (size-limited), the type by content (magic bytes,
never the name), and for an image its size from the header, so the caller can budget the decoding
work of the whole request before any pixel is decoded (``budget.py``). ``finish`` does the work: a
PDF is rewritten by qpdf without scripts, actions or attachments (``pdfclean.py``) and must have
1..N pages; an image must decode completely within a pixel limit (far below Pillow's own) and is
re-encoded so that EXIF metadata (GPS position, camera, time) never reaches the store. The original
file name is kept only as data, and refused if it carries a path or control characters.

Every refusal is an ``Invalid`` with a Chinese message naming the file and the problem; nothing
is written anywhere until every file of the request has passed.
"""
from __future__ import annotations

import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from core.applications import pdfclean
from core.kernel.errors import Invalid

log = logging.getLogger(__name__)

# Type is decided by content, never by the file name.
SIGNATURES = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
TYPE_NAMES = {"pdf": "PDF", "jpg": "JPG", "png": "PNG"}
PILLOW_FORMATS = {"jpg": "JPEG", "png": "PNG"}
MAX_NAME = 100
MAX_SIDE = 30000  # pixels on one side, whatever the total


@dataclass(frozen=True)
class CheckedFile:
    name: str  # the original name, cleaned, for display only
    data: bytes  # what will be stored (images re-encoded without metadata)
    kind: str  # pdf / jpg / png
    pages: int | None = None
    width: int | None = None
    height: int | None = None
    removed: tuple[str, ...] = ()  # active content taken out of a PDF (for the audit row)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]


@dataclass(frozen=True)
class Received:
    """An upload read and typed, not yet decoded: ``pixels`` is what decoding it will cost."""
    name: str
    data: bytes
    kind: str
    width: int = 0
    height: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff(head: bytes) -> str | None:
    for kind, prefixes in SIGNATURES.items():
        if any(head.startswith(p) for p in prefixes):
            return kind
    return None


def clean_name(raw: str | None) -> str:
    """The name a person gave their file, or a refusal if it tries to be a path."""
    name = (raw or "").strip()
    if not name:
        raise Invalid("请选择要上传的文件。")
    if (
        "/" in name
        or "\\" in name
        or name.startswith(".")
        or ".." in name
        or (len(name) > 1 and name[1] == ":")
        or any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name)
    ):
        raise Invalid(f"文件名「{_printable(name)}」含有路径或特殊字符,请把文件改成普通名称(如「诊断证明.pdf」)后重新上传。")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 5 else name[:MAX_NAME]
    return name


def _printable(name: str) -> str:
    return "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else "?" for ch in name)[:40]


def check(file_storage, accept: tuple[str, ...], *, max_bytes: int, max_pixels: int, max_pages: int) -> CheckedFile:
    """Read and check one upload; return what may be stored. Raises Invalid (4xx) otherwise."""
    return finish(receive(file_storage, accept, max_bytes=max_bytes, max_pixels=max_pixels),
                  max_bytes=max_bytes, max_pixels=max_pixels, max_pages=max_pages)


def receive(file_storage, accept: tuple[str, ...], *, max_bytes: int, max_pixels: int) -> Received:
    """The cheap step: bytes, type and (images) size from the header. Nothing is decoded."""
    if file_storage is None:
        raise Invalid("请选择要上传的文件。")
    name = clean_name(getattr(file_storage, "filename", ""))
    data = file_storage.stream.read(max_bytes + 1)
    if not data:
        raise Invalid(f"「{name}」是空文件(0 字节),请重新选择。")
    if len(data) > max_bytes:
        raise Invalid(f"「{name}」超过 {max_bytes // (1024 * 1024)} MB 的大小限制,请压缩或分页后再上传。", status=413)
    kind = sniff(data[:16])
    allowed = "、".join(TYPE_NAMES[a] for a in accept if a in TYPE_NAMES)
    if kind is None or kind not in accept:
        found = f"实际是 {TYPE_NAMES[kind]} 文件" if kind else "文件内容不是可识别的 PDF 或图片"
        raise Invalid(f"「{name}」的类型不符合要求({found}),这份材料只接受 {allowed} 格式。", status=415)
    if kind == "pdf":
        return Received(name, data, kind)
    width, height = _image_size(name, data, kind)
    if width * height > max_pixels or width > MAX_SIDE or height > MAX_SIDE:
        raise Invalid(_too_big(name, max_pixels), status=413)
    return Received(name, data, kind, width, height)


def finish(received: Received, *, max_bytes: int, max_pixels: int, max_pages: int) -> CheckedFile:
    """The expensive step: rewrite a PDF, decode and re-encode an image."""
    name, data, kind = received.name, received.data, received.kind
    if kind == "pdf":
        if b"%%EOF" not in data[-2048:]:  # cut off in transfer: the end-of-file marker is missing
            raise Invalid(f"「{name}」已损坏或不完整,无法打开。请重新导出或扫描后再上传。")
        clean = pdfclean.rewrite(name, data, max_pages)
        if len(clean.data) > max_bytes:
            raise Invalid(f"「{name}」超过 {max_bytes // (1024 * 1024)} MB 的大小限制,请压缩或分页后再上传。", status=413)
        return CheckedFile(name, clean.data, kind, pages=clean.pages, removed=clean.removed)
    cleaned, width, height = _clean_image(name, data, kind, max_pixels)
    if len(cleaned) > max_bytes:  # re-encoding can grow a heavily compressed image
        raise Invalid(f"「{name}」超过 {max_bytes // (1024 * 1024)} MB 的大小限制,请压缩后再上传。", status=413)
    return CheckedFile(name, cleaned, kind, width=width, height=height)


def _too_big(name: str, max_pixels: int) -> str:
    return f"「{name}」像素过大(超过 {max_pixels // 1_000_000} 百万像素),请缩小后再上传。"


def _broken_image(name: str) -> str:
    return f"「{name}」已损坏或不完整,无法打开。请重新拍照或导出后再上传。"


def _image_size(name: str, data: bytes, kind: str) -> tuple[int, int]:
    """Width and height from the header alone (Pillow opens lazily: no pixel is decoded here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # judged against our own limits
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[kind]]) as image:
                return image.size
    except Image.DecompressionBombError:
        return MAX_SIDE + 1, MAX_SIDE + 1
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        log.info("upload: unreadable image %r: %s", name, e)
        raise Invalid(_broken_image(name)) from None


def _clean_image(name: str, data: bytes, kind: str, max_pixels: int) -> tuple[bytes, int, int]:
    """Decode completely (a truncated photo fails here) and re-encode without any metadata."""
    too_big, broken = _too_big(name, max_pixels), _broken_image(name)
    # WeasyPrint sets Pillow's global LOAD_TRUNCATED_IMAGES to True at import, which would quietly
    # fill a cut-off photo with grey. mtkit's PDFs hold no raster images, so it is simply False
    # (set, never restored: no thread can see a half-toggled value).
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[kind]]) as image:
                width, height = image.size  # from the header, before any pixel is decoded
                if width * height > max_pixels or width > MAX_SIDE or height > MAX_SIDE:
                    raise Invalid(too_big, status=413)
                image.load()
                image = ImageOps.exif_transpose(image)  # keep the photo upright once EXIF is gone
                return _encode(image, kind), image.width, image.height
        except Invalid:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Invalid(too_big, status=413) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
            log.info("upload: unreadable image %r: %s", name, e)
            raise Invalid(broken) from None


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    icc = image.info.get("icc_profile")  # colour profile: not personal, keeps scans' colours right
    if icc and len(icc) > 64 * 1024:
        icc = None  # a profile that large is carrying something else
    keep = {k: image.info[k] for k in ("transparency",) if k in image.info}
    image.info = keep  # Pillow writes info["comment"], dpi, text chunks back out otherwise
    if kind == "jpg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=90, optimize=True, icc_profile=icc, comment=b"")
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16", "1"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=False, icc_profile=icc)
    return out.getvalue()
