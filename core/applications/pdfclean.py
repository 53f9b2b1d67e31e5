"""Every accepted PDF is rewritten by qpdf (through pikepdf) without its active content.

What is stored is never the uploaded file but qpdf's rewrite of it: one revision, a fresh and
complete cross-reference table, only the objects reachable from the document catalogue, with
JavaScript, automatic and annotation actions (launch, URI, submit, ...), embedded and attached
files, rich media and XFA removed; the visible page content (content streams, fonts, images) is
copied unchanged. The rewrite is then opened again and searched, object by object with names as
qpdf decodes them (``/Java#53cript`` is ``/JavaScript``), and refused if anything active is left.

Readers rebuild a broken cross-reference table from the ``N 0 obj`` headers in the file; so when
the file holds object bodies its table leaves out (an object hidden from a checker, not from a
reader), the rewrite starts from the same reconstruction a reader would make.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import pikepdf

from core.kernel.errors import Invalid

log = logging.getLogger(__name__)

# Action types a medical record never needs: a reader runs, opens, fetches or sends something.
# Only /GoTo (a link to a page of the same document) and /Named (next page, ...) are kept.
SAFE_ACTIONS = {"/GoTo", "/Named"}
ACTIONS = {"/GoTo", "/Named", "/JavaScript", "/Launch", "/URI", "/SubmitForm", "/ImportData", "/ResetForm", "/GoToR",
           "/GoToE", "/GoToDp", "/RichMediaExecute", "/Rendition", "/Sound", "/Movie", "/Hide", "/SetOCGState",
           "/Trans", "/GoTo3DView", "/Thread", "/ECMAScript"}
# Keys whose value is active content wherever they appear (catalogue, page, annotation, field,
# name dictionary, file specification, AcroForm).
ACTIVE_KEYS = {"/OpenAction", "/AA", "/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/EF", "/XFA",
               "/RichMedia", "/RichMediaContent", "/RichMediaSettings", "/Collection", "/AlternatePresentations",
               "/Renditions", "/NeedsRendering"}
# Annotations whose whole purpose is active or attached content.
ACTIVE_ANNOTATIONS = {"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"}
# Spellings searched in the bytes of the rewrite too, decoded: a body smuggled inside stream data
# would only matter to a reader rebuilding the table, which the rewrite's valid table prevents.
RAW_NAMES = {"/JavaScript", "/OpenAction", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia",
             "/SubmitForm", "/ImportData", "/RichMediaExecute"}
MAX_OBJECTS = 50_000
OBJECT_HEADER = re.compile(rb"(?<![0-9])([0-9]{1,10})[ \t\r\n\f\x00]+[0-9]{1,5}[ \t\r\n\f\x00]+obj(?![A-Za-z])")
NAME_TOKEN = re.compile(rb"/[^\x00\t\n\f\r ()<>\[\]{}/%]{3,60}")
ERRORS = (pikepdf.PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError,
          RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class Rewritten:
    data: bytes
    pages: int
    removed: tuple[str, ...]  # what was taken out, for the audit row (e.g. "javascript", "uri")


def rewrite(name: str, data: bytes, max_pages: int) -> Rewritten:
    """The stored form of an uploaded PDF, or Invalid with a Chinese message naming the file."""
    broken = f"「{name}」已损坏或不完整,无法打开。请重新导出或扫描后再上传。"
    try:
        with _open(name, data, max_pages) as source:
            removed = sorted(_strip(source))
            out = io.BytesIO()
            # Streams are copied as they are (never decoded: no decompression bomb), the ones stored
            # without a filter compressed; same input, same output (content-addressed storage).
            source.save(out, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate,
                        stream_decode_level=pikepdf.StreamDecodeLevel.none, compress_streams=True,
                        fix_metadata_version=False)
        clean = out.getvalue()
        with pikepdf.open(io.BytesIO(clean)) as check:
            left = _scan(check)
            pages = len(check.pages)
    except Invalid:
        raise
    except ERRORS as e:
        log.info("upload: unreadable PDF %r: %s", name, e)
        raise Invalid(broken) from None
    left |= _raw_names(clean)
    if left:  # the rewrite must have removed everything; never store it if it did not
        log.warning("upload: PDF %r still active after the rewrite: %s", name, sorted(left))
        raise Invalid(f"「{name}」含有无法安全去除的脚本或附件,不能上传。请用「打印为 PDF」另存后再上传。")
    if pages > max_pages:
        raise Invalid(f"「{name}」超过每个文件 {max_pages} 页的上限,请拆分后上传。", status=413)
    if pages < 1:
        raise Invalid(f"「{name}」没有任何页面,请检查后重新上传。")
    return Rewritten(clean, pages, tuple(removed))


def _open(name: str, data: bytes, max_pages: int) -> pikepdf.Pdf:
    """Open as qpdf reads the cross-reference table; again from a reconstruction if the file holds
    bodies the table leaves out. The page tree is walked (bounded) before qpdf ever walks it."""
    try:
        # No inherited-attribute push: that walks the page tree, and a small file can repeat a page
        # a million times. The bounded walk below decides first.
        pdf = pikepdf.open(io.BytesIO(data), inherit_page_attributes=False)
    except pikepdf.PasswordError:
        raise Invalid(f"「{name}」设有密码,审核人员无法打开。请去掉密码后再上传。") from None
    known = _object_numbers(pdf)
    bodies = {int(m.group(1)) for m in OBJECT_HEADER.finditer(data)}
    if len(bodies) > MAX_OBJECTS:
        raise _too_complex(name)
    if bodies - known:
        log.info("upload: PDF %r has %d object(s) outside its cross-reference table; reading it as readers "
                 "rebuild it", name, len(bodies - known))
        pdf.close()
        # A start pointer to nowhere: qpdf rebuilds the table from the object headers, like a reader.
        pdf = pikepdf.open(io.BytesIO(data + b"\nstartxref\n0\n%%EOF\n"), inherit_page_attributes=False)
        known = _object_numbers(pdf)
    if len(known) > MAX_OBJECTS:
        pdf.close()
        raise _too_complex(name)
    if pdf.Root.get("/NeedsRendering") is True:  # a dynamic XFA form: its pages are only a placeholder
        pdf.close()
        raise Invalid(f"「{name}」是动态表单(XFA),审核时无法显示其内容。请用「打印为 PDF」另存后再上传。")
    if pdf.is_encrypted:
        # Only an owner password (restrictions, no password to open): the rewrite drops it, since the
        # reviewers must be able to open and print the file; nothing is hidden from anyone.
        log.info("upload: PDF %r had an owner password; stored without it", name)
    try:
        _count_pages(pdf, name, max_pages)
    except BaseException:
        pdf.close()
        raise
    return pdf


def _object_numbers(pdf: pikepdf.Pdf) -> set[int]:
    return {obj.objgen[0] for obj in pdf.objects if obj.objgen[0]}


def _too_complex(name: str) -> Invalid:
    return Invalid(f"「{name}」内部结构过于复杂(超过 {MAX_OBJECTS} 个对象),无法安全处理。请用「打印为 PDF」另存后再上传。")


def _count_pages(pdf: pikepdf.Pdf, name: str, max_pages: int) -> int:
    """Leaves of the page tree, each node once, with a budget: a tiny file whose tree repeats a node
    must not cost seconds (or gigabytes) to refuse. Nodes with /Kids are inner nodes, as for qpdf."""
    too_many = Invalid(f"「{name}」超过每个文件 {max_pages} 页的上限,请拆分后上传。", status=413)
    root = pdf.Root.get("/Pages")
    if not isinstance(root, pikepdf.Dictionary):
        raise ValueError("no page tree")
    declared = root.get("/Count")
    if isinstance(declared, int) and declared > max_pages:
        raise too_many
    stack, seen, leaves, budget = [root], set(), 0, max_pages * 4 + 16
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise too_many
        if node.is_indirect:
            if node.objgen in seen:
                raise ValueError("page tree repeats a node")
            seen.add(node.objgen)
        kids = node.get("/Kids")
        if isinstance(kids, pikepdf.Array):
            if len(kids) > max_pages * 4 + 16:
                raise too_many
            stack.extend(kid for kid in kids if isinstance(kid, pikepdf.Dictionary))
            continue
        leaves += 1
        if leaves > max_pages:
            raise too_many
    return leaves


def _walk(pdf: pikepdf.Pdf):
    """Every dictionary of the file once: each indirect object and the direct dictionaries and
    arrays inside it (referenced ones are visited as objects of their own), and the trailer."""
    roots = [pdf.trailer] + [obj for obj in pdf.objects if isinstance(obj, (pikepdf.Dictionary, pikepdf.Array,
                                                                            pikepdf.Stream))]
    for top in roots:
        stack = [top]
        while stack:
            obj = stack.pop()
            if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                yield obj
                children = [obj.get(key) for key in list(obj.keys())]
            elif isinstance(obj, pikepdf.Array):
                children = list(obj)
            else:
                continue
            stack.extend(c for c in children if isinstance(c, (pikepdf.Dictionary, pikepdf.Array))
                         and not c.is_indirect)


def _is_action(obj) -> bool:
    """An action dictionary, rather than one of the many other uses of /S (structure tags,
    transparency groups, page transitions, soft masks)."""
    return isinstance(obj.get("/S"), pikepdf.Name) and (obj.get("/Type") == "/Action" or str(obj.get("/S")) in ACTIONS)


def _findings(obj) -> set[str]:
    """What is active in one dictionary itself (its children are visited on their own)."""
    found = {key.lstrip("/").lower() for key in obj.keys() if key in ACTIVE_KEYS}
    if _is_action(obj):
        if str(obj.get("/S")) not in SAFE_ACTIONS:
            found.add(str(obj.get("/S")).lstrip("/").lower())
        elif "/Next" in obj:  # a safe action may chain to anything
            found.add("next")
    if _unsafe_link(obj):
        found.add(str(obj.get("/A").get("/S")).lstrip("/").lower())
    if obj.get("/Type") == "/EmbeddedFile":
        found.add("embeddedfile")
    annots = obj.get("/Annots")
    if isinstance(annots, pikepdf.Array) and any(_active_annotation(a) for a in annots):
        found.add("attachment")
    return found


def _unsafe_link(obj) -> bool:
    """An annotation's, field's or bookmark's /A that does more than go to a page. (A structure
    element's /A, its attributes, has no /S and is left alone.)"""
    action = obj.get("/A")
    return isinstance(action, pikepdf.Dictionary) and isinstance(action.get("/S"), pikepdf.Name) \
        and str(action.get("/S")) not in SAFE_ACTIONS


def _active_annotation(annot) -> bool:
    return isinstance(annot, pikepdf.Dictionary) and annot.get("/Subtype") in ACTIVE_ANNOTATIONS


def _strip(pdf: pikepdf.Pdf) -> set[str]:
    """Remove every active part in place; returns the kinds removed."""
    removed: set[str] = set()
    for obj in list(_walk(pdf)):
        found = _findings(obj)
        if not found:
            continue
        removed |= found
        for key in [k for k in obj.keys() if k in ACTIVE_KEYS]:
            del obj[key]
        if _unsafe_link(obj):
            del obj["/A"]
        if _is_action(obj):
            if str(obj.get("/S")) in SAFE_ACTIONS:
                if "/Next" in obj:
                    del obj["/Next"]
            else:  # an action object reached some other way is left empty
                for key in list(obj.keys()):
                    del obj[key]
        if obj.get("/Type") == "/EmbeddedFile" and isinstance(obj, pikepdf.Stream):
            obj.write(b"")  # a file's bytes, in case anything but a removed /EF still points at it
            del obj["/Type"]
        annots = obj.get("/Annots")
        if isinstance(annots, pikepdf.Array):  # attachments and media: off the page altogether
            obj["/Annots"] = pikepdf.Array([a for a in annots if not _active_annotation(a)])
    return removed


def _scan(pdf: pikepdf.Pdf) -> set[str]:
    """What is still active in a (rewritten) file: must be nothing."""
    left: set[str] = set()
    for obj in _walk(pdf):
        left |= _findings(obj)
    return left


def _raw_names(data: bytes) -> set[str]:
    """Active names spelt anywhere in the bytes, ``#xx`` escapes decoded."""
    found = set()
    for token in NAME_TOKEN.findall(data):
        name = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), token).decode("latin-1")
        if name in RAW_NAMES:
            found.add("raw " + name)
    return found
