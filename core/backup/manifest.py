"""manifest.json: what a backup holds (each file's size and sha256) and what the restored system must
show (row counts, migration head, the audit chain's last hash). Written last, so a folder without it
is no backup."""
from __future__ import annotations

import json
from pathlib import Path

from core.backup.errors import BackupError

NAME = "manifest.json"
FORMAT = "mtkit-backup/1"
KEYS_NOTE = ("不含加密密钥:MTKIT_KEY_FILE 指向的密钥文件及 MTKIT_SECRET_KEY、MTKIT_AUDIT_KEY、"
             "MTKIT_VERIFICATION_KEY 须另行备份、分开保存;没有它们,这份备份中的加密字段无法读取,审计链无法核验。")


def write(folder: Path, manifest: dict) -> None:
    path = folder / NAME
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False) + "\n", "utf-8")
    path.chmod(0o600)


def read(folder: Path) -> dict:
    path = Path(folder) / NAME
    if not path.is_file():
        raise BackupError(f"{folder} 中没有 {NAME}:这不是一份完整的备份(可能是中断的备份)")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BackupError(f"{NAME} 无法读取:{e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{NAME} 不是本系统认识的备份格式(应为 {FORMAT})")
    return manifest
