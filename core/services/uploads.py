"""Checking an uploaded file before a single byte is stored.

The type is decided by content (magic bytes), never by the name. Then each type is opened for
real: a PDF must parse, not be encrypted or carry scripts, and have 1..N pages; an image must
decode completely within a pixel limit (far below Pillow's own), and is re-encoded so that EXIF
metadata (GPS position, camera, time) never reaches the store. The original file name is kept
only as data, and refused if it carries a path or control characters.

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
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from core.services import Invalid

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
# Active content a medical record has no business carrying (checked in the raw bytes and the catalogue).
PDF_ACTIVE = (b"/JavaScript", b"/JS ", b"/JS(", b"/JS<", b"/Launch", b"/EmbeddedFile", b"/RichMedia", b"/XFA")
MAX_NAME = 100


@dataclass(frozen=True)
class CheckedFile:
    name: str  # the original name, cleaned, for display only
    data: bytes  # what will be stored (images re-encoded without metadata)
    kind: str  # pdf / jpg / png
    pages: int | None = None
    width: int | None = None
    height: int | None = None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]


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
        return CheckedFile(name, data, kind, pages=_pdf_pages(name, data, max_pages))
    cleaned, width, height = _clean_image(name, data, kind, max_pixels)
    return CheckedFile(name, cleaned, kind, width=width, height=height)


def _pdf_pages(name: str, data: bytes, max_pages: int) -> int:
    broken = f"「{name}」已损坏或不完整,无法打开。请重新导出或扫描后再上传。"
    if b"%%EOF" not in data[-2048:]:
        raise Invalid(broken)  # cut off in transfer: the end-of-file marker is missing
    if any(marker in data for marker in PDF_ACTIVE):
        raise Invalid(f"「{name}」含有脚本、附件或表单等活动内容,不能上传。请用「打印为 PDF」另存后再上传。")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Invalid(f"「{name}」设有密码,审核人员无法打开。请去掉密码后再上传。")
        root = reader.trailer["/Root"]
        if "/OpenAction" in root or "/AA" in root:
            raise Invalid(f"「{name}」含有打开时自动执行的动作,不能上传。请用「打印为 PDF」另存后再上传。")
        pages = len(reader.pages)
    except Invalid:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as e:
        log.info("upload: unreadable PDF %r: %s", name, e)
        raise Invalid(broken) from None
    if pages < 1:
        raise Invalid(f"「{name}」没有任何页面,请检查后重新上传。")
    if pages > max_pages:
        raise Invalid(f"「{name}」有 {pages} 页,超过每个文件 {max_pages} 页的上限,请拆分后上传。", status=413)
    return pages


def _clean_image(name: str, data: bytes, kind: str, max_pixels: int) -> tuple[bytes, int, int]:
    """Decode completely (a truncated photo fails here) and re-encode without any metadata."""
    too_big = f"「{name}」像素过大(超过 {max_pixels // 1_000_000} 百万像素),请缩小后再上传。"
    broken = f"「{name}」已损坏或不完整,无法打开。请重新拍照或导出后再上传。"
    # WeasyPrint sets Pillow's global LOAD_TRUNCATED_IMAGES to True at import, which would quietly
    # fill a cut-off photo with grey. Here a truncated image must fail.
    tolerant, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[kind]]) as image:
                width, height = image.size  # from the header, before any pixel is decoded
                if width * height > max_pixels or width > 30000 or height > 30000:
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
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = tolerant


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    icc = image.info.get("icc_profile")  # colour profile: not personal, keeps scans' colours right
    if kind == "jpg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=90, optimize=True, icc_profile=icc)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16", "1"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=False, icc_profile=icc)
    return out.getvalue()
