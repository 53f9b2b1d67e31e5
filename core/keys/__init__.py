"""Field-encryption keys: which stored values use which key, rotation, re-encryption; `keys` CLI."""
