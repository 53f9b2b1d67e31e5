"""`flask --app app keys ...`: the field-encryption key file (MTKIT_KEY_FILE) and the values under it.

    keys status                      the key file, and how many stored values each key id holds
    keys rotate [--algorithm ALG]    add a new data key (AES-256-GCM or SM4-GCM) and make it active
    keys reencrypt [--batch N]       rewrite every value not under the active key (resumable)
    keys retire KID                  drop a key no stored value uses any more
    keys rotate --lookup --yes       a new HMAC look-up key; recomputes every look-up value (app stopped)

After ``rotate``, restart the app (every worker) so new values use the new key, then run
``reencrypt``. Running workers still read values under the new key: they re-read the key file when
they meet a key id they have not loaded. Every change is audited as done from the command line.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask, current_app

from core.audit import audit
from core.config import load_key_ring, save_key_ring
from core.context import for_app
from core.extensions import db
from core.kernel.crypto import ALGORITHMS, KeyProblem, normalise_algorithm
from core.keys import service
from core.kernel.time import utcnow


def _keys():
    return current_app.extensions["mtkit_keys"]


def _fail(e: Exception):
    raise click.ClickException(str(e))


def init_app(app: Flask) -> None:
    @app.cli.group("keys")
    def keys():
        """Field-encryption keys: status, rotation, re-encryption."""

    @keys.command("status")
    def status():
        """The key file and the stored values per key id."""
        holder = _keys()
        ring = holder.ring
        click.echo(f"密钥文件: {holder.path}")
        for key in ring.keys.values():
            mark = "(当前使用)" if key.kid == ring.active else ""
            click.echo(f"  {key.kid}  {key.algorithm}  创建于 {key.created or '-'} {mark}")
        click.echo("  查询用 HMAC 密钥: 已设置")
        counts = service.status()
        click.echo("加密字段中的数据(按密钥):")
        for where, c in counts.items():
            parts = ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "无数据"
            click.echo(f"  {where:<28} {parts}")
        problems = service.check_readable(holder)
        for p in problems:
            click.echo(f"无法解密: {p}", err=True)
        if problems or any(service.PLAINTEXT in c for c in counts.values()):
            raise SystemExit(1)

    @keys.command("rotate")
    @click.option("--algorithm", type=click.Choice(sorted(ALGORITHMS), case_sensitive=False),
                  help="新密钥的算法(默认:MTKIT_CIPHER)")
    @click.option("--lookup", is_flag=True, help="更换查询用 HMAC 密钥并重算全部查询值(须先停止应用)")
    @click.option("--yes", is_flag=True, help="确认已停止应用(--lookup 时必填)")
    def rotate(algorithm, lookup, yes):
        """Add a new data key and make it active (old keys stay to read old values)."""
        holder, ctx = _keys(), for_app(current_app, origin="cli")
        path = Path(holder.path)
        if lookup:
            _rotate_lookup(holder, ctx, path, yes)
            return
        try:
            ring = load_key_ring(path, current_app.config["MTKIT_CIPHER"], create=False)
            new = ring.with_new_key(normalise_algorithm(algorithm or current_app.config["MTKIT_CIPHER"]),
                                    created=utcnow().isoformat(timespec="seconds"))
        except KeyProblem as e:
            _fail(e)
        save_key_ring(path, new)
        holder.ring = new
        audit(ctx, "keys.rotate", None, detail=f"{ring.active} -> {new.active} {new.keys[new.active].algorithm}")
        db.session.commit()
        click.echo(f"已新增密钥 {new.active}({new.keys[new.active].algorithm})并设为当前密钥,写入 {path}。")
        click.echo("请重启应用(全部进程),再运行 `flask --app app keys reencrypt` 用新密钥重写已有数据;"
                   "旧密钥保留在文件中,直到 `keys status` 显示没有数据再使用它。请重新备份密钥文件。")

    @keys.command("reencrypt")
    @click.option("--batch", "size", default=service.BATCH, show_default=True, type=click.IntRange(1, 10_000))
    def reencrypt(size):
        """Rewrite every value not under the active key with the active key (resumable)."""
        holder = _keys()
        try:
            done = service.reencrypt(for_app(current_app, origin="cli"), holder, size=size,
                                     progress=lambda where, n: click.echo(f"\r  {where}: {n}", nl=False, err=True))
        except KeyProblem as e:
            db.session.rollback()
            _fail(e)
        click.echo("", err=True)
        for where, n in done.items():
            click.echo(f"{where}: 重写 {n} 条")
        click.echo(f"已全部使用当前密钥 {holder.ring.active}。")

    @keys.command("retire")
    @click.argument("kid")
    def retire(kid):
        """Remove a key that no stored value uses any more (keep a copy with old database backups)."""
        holder = _keys()
        used = service.in_use(kid)
        if used:
            raise click.ClickException(f"密钥 {kid} 仍有 {used} 条数据在用,请先运行 keys reencrypt。")
        try:
            new = holder.ring.without(kid)
        except KeyProblem as e:
            _fail(e)
        save_key_ring(holder.path, new)
        holder.ring = new
        audit(for_app(current_app, origin="cli"), "keys.retire", None, detail=kid)
        db.session.commit()
        click.echo(f"已从密钥文件删除密钥 {kid}。用它加密的旧数据库备份需要旧的密钥文件才能读取,请与备份一同保存。")


def _rotate_lookup(holder, ctx, path: Path, yes: bool) -> None:
    """New look-up key: saved beside the key file first, the HMACs recomputed in one transaction,
    then the file swapped in. A failure before the swap changes nothing."""
    if not yes:
        raise click.ClickException("更换查询密钥前须停止应用(否则查询与注册会用旧密钥),停止后加 --yes 运行。")
    new = holder.ring.with_new_lookup_key()
    pending = path.with_name(path.name + ".new")
    save_key_ring(pending, new)
    try:
        rows = service.recompute_lookups(ctx, holder, new)
        db.session.commit()
    except Exception:
        db.session.rollback()
        pending.unlink(missing_ok=True)
        raise
    os.replace(pending, path)
    holder.ring = new
    click.echo(f"已更换查询密钥并重算 {rows} 个账号的查询值。请重新备份密钥文件,然后启动应用。")
