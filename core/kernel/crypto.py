"""Field encryption at rest: AES-256-GCM (default) or SM4-GCM, HMAC look-up values, the key ring.

Pure: no database, no Flask, no files. The key file is read and written by ``core.config``; the
models apply this to columns (``core.models.base``).

Ciphertext format (text, stored in the column)::

    v1:<key id>:<base64url(nonce 12 bytes | ciphertext | tag 16 bytes)>

The key id names the key (and with it the algorithm) in the key ring, so old values stay readable
after a rotation. A random 96-bit nonce per value. The associated data binds a value to its place
("users.id_number"): a ciphertext copied into another column does not decrypt.

Look-up values: HMAC-SHA256 with a separate look-up key over ``kind`` and the normalised value,
hex. They let the database find an exact value (an ID number) without holding it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
AES = "AES-256-GCM"
SM4 = "SM4-GCM"
ALGORITHMS = {AES: 32, SM4: 16}  # key length in bytes
NONCE = 12
TAG = 16
KEY_FILE_FORMAT = "mtkit-keys-1"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class KeyProblem(Exception):
    """Base for key problems (a missing key, a bad key file)."""


class UnknownKey(KeyProblem):
    """A value was written with a key the key ring does not hold."""

    def __init__(self, kid: str):
        super().__init__(f"key id {kid!r} is not in the key file: restore the key file that holds it "
                         f"(see README, Security: keys)")
        self.kid = kid


class BadKeyFile(KeyProblem):
    pass


class Undecryptable(ValueError):
    """Not a ciphertext of this format, or altered, or moved from another column."""


def normalise_algorithm(name: str | None) -> str:
    text = (name or AES).strip().upper().replace("_", "-")
    aliases = {"AES": AES, "AES-GCM": AES, "AES256": AES, "AES-256-GCM": AES, "SM4": SM4, "SM4-GCM": SM4}
    if text not in aliases:
        raise BadKeyFile(f"unknown algorithm {name!r}: use {AES} or {SM4}")
    return aliases[text]


def sm4_gcm_available() -> bool:
    """Whether the OpenSSL under ``cryptography`` offers SM4 in GCM mode (OpenSSL 3 does; some
    distributions build it without SM4)."""
    try:
        enc = Cipher(algorithms.SM4(bytes(16)), modes.GCM(bytes(NONCE))).encryptor()
        enc.update(b"x")
        enc.finalize()
        return True
    except Exception:  # UnsupportedAlgorithm, or SM4 missing from the module
        return False


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    secret: bytes = field(repr=False)
    created: str = ""


@dataclass(frozen=True)
class KeyRing:
    """The data keys by id, which one new values use, and the look-up key."""

    active: str
    keys: dict[str, Key] = field(repr=False)
    lookup_key: bytes = field(repr=False)

    def __post_init__(self):
        if self.active not in self.keys:
            raise BadKeyFile(f"the active key {self.active!r} is not among the keys")
        if len(self.lookup_key) < 32:
            raise BadKeyFile("the look-up key must be at least 32 bytes")
        for key in self.keys.values():
            if not _KID.match(key.kid):
                raise BadKeyFile(f"bad key id {key.kid!r}: 1-16 letters, digits, '-' or '_'")
            if len(key.secret) != ALGORITHMS[key.algorithm]:
                raise BadKeyFile(f"key {key.kid}: {key.algorithm} needs {ALGORITHMS[key.algorithm]} bytes")
            if key.algorithm == SM4 and not sm4_gcm_available():
                raise BadKeyFile(f"key {key.kid} is SM4-GCM, which this OpenSSL does not provide")

    # --- values ---------------------------------------------------------------------------------
    def encrypt(self, plaintext: str, where: str) -> str:
        key = self.keys[self.active]
        nonce = os.urandom(NONCE)
        sealed = _seal(key, nonce, plaintext.encode("utf-8"), _aad(key.kid, where))
        return f"{VERSION}:{key.kid}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii').rstrip('=')}"

    def decrypt(self, token: str, where: str) -> str:
        kid, blob = _parts(token)
        key = self.keys.get(kid)
        if key is None:
            raise UnknownKey(kid)
        try:
            return _open(key, blob[:NONCE], blob[NONCE:], _aad(kid, where)).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise Undecryptable(f"value in {where} does not decrypt with key {kid} (altered or moved)") from None

    def lookup(self, kind: str, normalised: str) -> str:
        """HMAC-SHA256 of ``kind`` and an already normalised value, hex (64 characters)."""
        return hmac.new(self.lookup_key, f"{kind}\x00{normalised}".encode("utf-8"), hashlib.sha256).hexdigest()

    # --- rotation -------------------------------------------------------------------------------
    def with_new_key(self, algorithm: str | None = None, created: str = "") -> KeyRing:
        """A ring with one more data key, which becomes the active one (old keys stay to read old values)."""
        key = new_key(normalise_algorithm(algorithm or self.keys[self.active].algorithm), set(self.keys), created)
        return KeyRing(active=key.kid, keys={**self.keys, key.kid: key}, lookup_key=self.lookup_key)

    def with_new_lookup_key(self) -> KeyRing:
        return KeyRing(active=self.active, keys=dict(self.keys), lookup_key=secrets.token_bytes(32))

    def without(self, kid: str) -> KeyRing:
        if kid == self.active:
            raise BadKeyFile(f"{kid} is the active key")
        if kid not in self.keys:
            raise UnknownKey(kid)
        return KeyRing(active=self.active, keys={k: v for k, v in self.keys.items() if k != kid}, lookup_key=self.lookup_key)

    # --- the key file's content -----------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": KEY_FILE_FORMAT,
            "active": self.active,
            "keys": {k.kid: {"algorithm": k.algorithm, "key": _b64(k.secret), "created": k.created}
                     for k in self.keys.values()},
            "lookup_key": _b64(self.lookup_key),
        }

    @classmethod
    def from_json(cls, data: dict) -> KeyRing:
        if not isinstance(data, dict) or data.get("format") != KEY_FILE_FORMAT:
            raise BadKeyFile(f"not an mtkit key file (format {KEY_FILE_FORMAT!r} expected)")
        try:
            keys = {kid: Key(kid, normalise_algorithm(v["algorithm"]), _unb64(v["key"]), str(v.get("created", "")))
                    for kid, v in data["keys"].items()}
            return cls(active=data["active"], keys=keys, lookup_key=_unb64(data["lookup_key"]))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
                raise BadKeyFile(f"incomplete key file: {e}") from None


def new_ring(algorithm: str | None = None, created: str = "") -> KeyRing:
    key = new_key(normalise_algorithm(algorithm), set(), created)
    return KeyRing(active=key.kid, keys={key.kid: key}, lookup_key=secrets.token_bytes(32))


def new_key(algorithm: str, taken: set[str], created: str = "") -> Key:
    """A fresh random key with a fresh random id (never one an old ring or another instance used)."""
    while True:
        kid = "k" + secrets.token_hex(3)
        if kid not in taken:
            return Key(kid, algorithm, secrets.token_bytes(ALGORITHMS[algorithm]), created)


def is_ciphertext(value: str | None) -> bool:
    try:
        _parts(value or "")
        return True
    except Undecryptable:
        return False


def key_id_of(token: str) -> str:
    """The key id of a ciphertext (read from its prefix only; ``decrypt`` checks the rest)."""
    version, _, rest = token.partition(":")
    kid, sep, _ = rest.partition(":")
    if version != VERSION or not sep or not kid:
        raise Undecryptable("not an mtkit ciphertext")
    return kid


# --- internals ------------------------------------------------------------------------------------
def _aad(kid: str, where: str) -> bytes:
    return f"mtkit/{VERSION}/{kid}/{where}".encode("utf-8")


def _parts(token: str) -> tuple[str, bytes]:
    version, sep, rest = token.partition(":")
    kid, sep2, body = rest.partition(":")
    if version != VERSION or not sep or not sep2 or not _KID.match(kid):
        raise Undecryptable("not an mtkit ciphertext")
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise Undecryptable("not an mtkit ciphertext") from None
    if len(blob) < NONCE + TAG:
        raise Undecryptable("ciphertext too short")
    return kid, blob


@lru_cache(maxsize=16)
def _aes(secret: bytes) -> AESGCM:
    return AESGCM(secret)


def _seal(key: Key, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    if key.algorithm == AES:
        return _aes(key.secret).encrypt(nonce, data, aad)
    enc = Cipher(algorithms.SM4(key.secret), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _open(key: Key, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if key.algorithm == AES:
        return _aes(key.secret).decrypt(nonce, sealed, aad)
    if len(sealed) < TAG:
        raise InvalidTag()
    dec = Cipher(algorithms.SM4(key.secret), modes.GCM(nonce, sealed[-TAG:])).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(sealed[:-TAG]) + dec.finalize()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
