"""National medical-insurance platform (NHSA) interchange: filings sent, catalogue code versions, imports.

Nothing here is ever deleted or overwritten in place except the "current" flags that point at the
newest version of a catalogue code: every change is a new row, so a recognition's code can always
be traced back to the catalogue version it was filed under.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models.base import EncryptedFields, UTCDateTime, utcnow

FILING_KINDS = {"2503": "人员慢特病备案", "2504": "备案撤销"}
IMPORT_KINDS = {"1309": "病种目录下载", "serials": "备案流水号回传", "5301": "备案查询核对", "psn_no": "人员编号"}


class NhsaFiling(db.Model):
    """A 2503 filing or a 2504 cancellation of one recognition, as first exported (the message is kept)."""

    __tablename__ = "nhsa_filings"
    __table_args__ = (
        UniqueConstraint("recognition_id", "kind", name="uq_nhsa_filings_recognition_kind"),
        Index("ix_nhsa_filings_serial", "trt_dcla_detl_sn"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recognition_id: Mapped[int] = mapped_column(ForeignKey("recognitions.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(4))  # 2503 / 2504
    # The platform's `data` object, as exported; its phone number and address are encrypted at rest.
    data: Mapped[dict] = mapped_column(EncryptedFields("nhsa_filings.data", ("tel", "addr")))
    exported_at = mapped_column(UTCDateTime, default=utcnow)
    exported_by: Mapped[str | None] = mapped_column(String(64))  # username, or "cli"
    # 2503 only: the platform's 待遇申报明细流水号, imported from its answer; 2504 needs it.
    trt_dcla_detl_sn: Mapped[str | None] = mapped_column(String(30))
    serial_at = mapped_column(UTCDateTime, nullable=True)
    sent_at = mapped_column(UTCDateTime, nullable=True)  # when a platform adapter accepted it

    recognition = relationship("Recognition")


class NhsaImport(db.Model):
    """One file loaded from the platform (catalogue, serials, person numbers) or checked against it (5301)."""

    __tablename__ = "nhsa_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    region_code: Mapped[str | None] = mapped_column(String(6))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. {"added": 3, "changed": 1, "retired": 2}
    summary: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, default=utcnow)


class NhsaDiseaseCode(db.Model):
    """One version of a national 门慢门特 disease code in a region's catalogue (a 1309 download row).

    A new row is added whenever a download adds, changes or retires a code; ``is_current`` marks the
    newest row per (region, code). Retired codes keep their rows: recognitions filed under them stay valid.
    """

    __tablename__ = "nhsa_disease_codes"
    __table_args__ = (Index("ix_nhsa_disease_codes_code", "region_code", "code", "is_current"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    code: Mapped[str] = mapped_column(String(30))  # opsp_dise_code
    name: Mapped[str] = mapped_column(String(300))  # opsp_dise_name
    majcls_code: Mapped[str | None] = mapped_column(String(30))
    majcls_name: Mapped[str | None] = mapped_column(String(300))
    subd_clss_name: Mapped[str | None] = mapped_column(String(300))
    admdvs: Mapped[str | None] = mapped_column(String(6))
    vali_flag: Mapped[str] = mapped_column(String(3))  # 1 valid, 0 retired
    ver: Mapped[str | None] = mapped_column(String(30))
    ver_name: Mapped[str | None] = mapped_column(String(100))
    change: Mapped[str] = mapped_column(String(10))  # added / changed / retired / restored
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("nhsa_imports.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_valid(self) -> bool:
        return self.vali_flag == "1"

