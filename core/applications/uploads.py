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
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

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
    if len(cleaned) > max_bytes:  # re-encoding can grow a heavily compressed image
        raise Invalid(f"「{name}」超过 {max_bytes // (1024 * 1024)} MB 的大小限制,请压缩后再上传。", status=413)
    return CheckedFile(name, cleaned, kind, width=width, height=height)


def _pdf_pages(name: str, data: bytes, max_pages: int) -> int:
    broken = f"「{name}」已损坏或不完整,无法打开。请重新导出或扫描后再上传。"
    active = f"「{name}」含有脚本、附件或表单等活动内容,不能上传。请用「打印为 PDF」另存后再上传。"
    if b"%%EOF" not in data[-2048:]:
        raise Invalid(broken)  # cut off in transfer: the end-of-file marker is missing
    if any(marker in data for marker in PDF_ACTIVE):
        raise Invalid(active)  # the plain spelling; the object walk below catches escaped and packed ones
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Invalid(f"「{name}」设有密码,审核人员无法打开。请去掉密码后再上传。")
        if _has_active_content(reader):
            raise Invalid(active)
        pages = _count_pages(reader, max_pages)
    except Invalid:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as e:
        log.info("upload: unreadable PDF %r: %s", name, e)
        raise Invalid(broken) from None
    if pages is None:
        raise Invalid(f"「{name}」超过每个文件 {max_pages} 页的上限,请拆分后上传。", status=413)
    if pages < 1:
        raise Invalid(f"「{name}」没有任何页面,请检查后重新上传。")
    return pages


# Actions a medical record never needs; PDF readers run them (scripts, launching programs, sending data).
PDF_ACTIONS = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/RichMediaExecute",
               "/Rendition", "/Sound", "/Movie", "/ResetForm", "/Hide", "/SetOCGState", "/Trans"}
PDF_ACTIVE_KEYS = {"/JS", "/EmbeddedFiles", "/EmbeddedFile", "/XFA", "/RichMedia", "/RichMediaContent"}
MAX_PDF_OBJECTS = 100_000


def _has_active_content(reader: PdfReader) -> bool:
    """Every object of the file, by number (so a page tree that repeats itself costs nothing more),
    with names as pypdf decoded them (``/Java#53cript`` is ``/JavaScript``), including objects packed
    in object streams where a byte search cannot see."""
    numbers = {n for table in reader.xref.values() for n in table} | set(getattr(reader, "xref_objStm", {}) or {})
    if len(numbers) > MAX_PDF_OBJECTS:
        raise ValueError("too many objects")
    for number in numbers:
        try:
            obj = reader.get_object(number)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError):
            continue  # an unreadable object is not active content; the page walk decides if the file opens
        if _active(obj, depth=0):
            return True
    return False


def _active(obj, depth: int) -> bool:
    """Look through direct (not referenced) dictionaries and arrays; referenced ones are checked by number."""
    if depth > 30:
        return False
    if isinstance(obj, DictionaryObject):
        if PDF_ACTIVE_KEYS & set(obj.keys()) or obj.get("/S") in PDF_ACTIONS:
            return True
        return any(_active(v, depth + 1) for v in obj.values() if not isinstance(v, IndirectObject))
    if isinstance(obj, ArrayObject):
        return any(_active(v, depth + 1) for v in obj if not isinstance(v, IndirectObject))
    return False


def _count_pages(reader: PdfReader, max_pages: int) -> int | None:
    """Leaves of the page tree, walked once per node with a budget: None when over ``max_pages``
    (a tiny file whose tree refers to itself over and over must not cost seconds to refuse)."""
    root = reader.trailer["/Root"].get_object()["/Pages"].get_object()
    declared = root.get("/Count")
    if isinstance(declared, int) and declared > max_pages:
        return None
    stack, seen, leaves, budget = [root], set(), 0, max_pages * 4 + 16
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            return None
        key = id(node) if node.indirect_reference is None else (node.indirect_reference.idnum, node.indirect_reference.generation)
        if key in seen:
            raise ValueError("page tree loops")
        seen.add(key)
        if node.get("/Type") == "/Page" or "/Kids" not in node:
            leaves += 1
            if leaves > max_pages:
                return None
            continue
        stack.extend(kid.get_object() for kid in node["/Kids"])
    return leaves


def _clean_image(name: str, data: bytes, kind: str, max_pixels: int) -> tuple[bytes, int, int]:
    """Decode completely (a truncated photo fails here) and re-encode without any metadata."""
    too_big = f"「{name}」像素过大(超过 {max_pixels // 1_000_000} 百万像素),请缩小后再上传。"
    broken = f"「{name}」已损坏或不完整,无法打开。请重新拍照或导出后再上传。"
    # WeasyPrint sets Pillow's global LOAD_TRUNCATED_IMAGES to True at import, which would quietly
    # fill a cut-off photo with grey. mtkit's PDFs hold no raster images, so it is simply False
    # (set, never restored: no thread can see a half-toggled value).
    ImageFile.LOAD_TRUNCATED_IMAGES = False
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
