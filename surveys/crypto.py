"""Submissions as ciphertext: what intake stores while a wave is open (DESIGN.md, Anonymity 1).

A submission's answers and comment are encoded into a record of one fixed size (so its length
says nothing, not even whether there is a comment) and encrypted with a libsodium *sealed box*
(X25519 + XSalsa20-Poly1305, through PyNaCl) to the public half of the seal key. Encrypting
needs only that public half, so the web tier can hold nothing that decrypts
(``PULSE_SEAL_PUBLIC_KEY``); only the seal at close opens the boxes, with ``PULSE_SEAL_KEY``
(or one of ``PULSE_SEAL_KEY_FALLBACKS`` after a rotation). The database never holds a key.

The seal key is a secret string of at least 32 characters; the X25519 private key is derived
from it with BLAKE2b, and every box records the id of the public key it was sealed to (the
first 8 bytes of its SHA-256, in hex), so the seal knows which key opens it.

This module imports no Django at module level: settings.py uses its key helpers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache

from nacl.bindings import crypto_box_SEALBYTES
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

SEAL_KEY_MIN_LENGTH = 32
# The layout of version 1: version, answer count, (question id, value) per answer, the comment's
# byte length, the comment as UTF-8, zeros up to RECORD_SIZE.
RECORD_VERSION = 1
MAX_ANSWERS = 100
COMMENT_MAX_CHARACTERS = 2000
COMMENT_MAX_BYTES = 4 * COMMENT_MAX_CHARACTERS  # UTF-8 takes at most 4 bytes per character
_HEADER = struct.Struct("<BB")
_ANSWER = struct.Struct("<Ib")
_COMMENT_LENGTH = struct.Struct("<H")
RECORD_SIZE = _HEADER.size + MAX_ANSWERS * _ANSWER.size + _COMMENT_LENGTH.size + COMMENT_MAX_BYTES
BOX_SIZE = RECORD_SIZE + crypto_box_SEALBYTES  # the ephemeral public key and the MAC


class SealKeyError(ValueError):
    """A seal key that is malformed, missing, or does not open a box."""


# --- keys --------------------------------------------------------------------------------------


def private_key_derive(secret: str) -> PrivateKey:
    """The X25519 private key of a seal key (a secret string)."""
    if len(secret) < SEAL_KEY_MIN_LENGTH:
        raise SealKeyError(f"must be at least {SEAL_KEY_MIN_LENGTH} characters long (got {len(secret)})")
    seed = hashlib.blake2b(secret.encode("utf-8"), digest_size=32, person=b"pulse-seal-key").digest()
    return PrivateKey(seed)


def public_key_text(key: PublicKey) -> str:
    """How a public key is written in PULSE_SEAL_PUBLIC_KEY: URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(bytes(key)).rstrip(b"=").decode("ascii")


def public_key_parse(text: str) -> PublicKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SealKeyError("is not URL-safe base64") from None
    if len(raw) != PublicKey.SIZE:
        raise SealKeyError(f"must be {PublicKey.SIZE} bytes in base64 (got {len(raw)})")
    return PublicKey(raw)


def key_id(key: PublicKey) -> str:
    return hashlib.sha256(bytes(key)).hexdigest()[:16]


@lru_cache(maxsize=8)
def _public_key(text: str) -> tuple[str, SealedBox]:
    key = public_key_parse(text)
    return key_id(key), SealedBox(key)


@lru_cache(maxsize=8)
def _private_keys(secrets: tuple[str, ...]) -> dict[str, SealedBox]:
    boxes = {}
    for secret in secrets:
        private = private_key_derive(secret)
        boxes[key_id(private.public_key)] = SealedBox(private)
    return boxes


def seal_public_key() -> tuple[str, SealedBox]:
    """The key id and the box that encrypts to the current seal key."""
    from django.conf import settings

    if not settings.PULSE_SEAL_PUBLIC_KEY:
        raise SealKeyError("PULSE_SEAL_PUBLIC_KEY (or PULSE_SEAL_KEY) is not set")
    return _public_key(settings.PULSE_SEAL_PUBLIC_KEY)


def seal_private_keys() -> dict[str, SealedBox]:
    """Every key the seal can open boxes with, by key id: the current one and the fallbacks."""
    from django.conf import settings

    secrets = tuple(filter(None, [settings.PULSE_SEAL_KEY, *settings.PULSE_SEAL_KEY_FALLBACKS]))
    if not secrets:
        raise SealKeyError("PULSE_SEAL_KEY is not set in this process: only a process holding it can seal a wave")
    return _private_keys(secrets)


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ballot:
    """What one person submitted: (question id, value) pairs and a comment ("" for none)."""

    answers: tuple[tuple[int, int], ...]
    comment: str


def ballot_encrypt(ballot: Ballot) -> tuple[str, bytes]:
    """The key id and the sealed box of a ballot, always BOX_SIZE bytes long."""
    key, box = seal_public_key()
    return key, bytes(box.encrypt(_record(ballot)))


def ballot_decrypt(*, key: str, box: bytes, boxes: dict[str, SealedBox]) -> Ballot:
    opener = boxes.get(key)
    if opener is None:
        raise SealKeyError(f"no seal key with id {key} is configured (PULSE_SEAL_KEY, PULSE_SEAL_KEY_FALLBACKS)")
    try:
        record = opener.decrypt(bytes(box))
    except CryptoError:
        raise SealKeyError(f"a submission does not open with the seal key {key}: it was altered") from None
    return _ballot(record)


def _record(ballot: Ballot) -> bytes:
    if len(ballot.answers) > MAX_ANSWERS:
        raise ValueError(f"at most {MAX_ANSWERS} answers fit in a submission")
    comment = ballot.comment.encode("utf-8")  # strict: intake has refused lone surrogates
    if len(comment) > COMMENT_MAX_BYTES:
        raise ValueError(f"a comment takes at most {COMMENT_MAX_BYTES} bytes")
    parts = [_HEADER.pack(RECORD_VERSION, len(ballot.answers))]
    parts += [_ANSWER.pack(question_id, value) for question_id, value in ballot.answers]
    parts += [_COMMENT_LENGTH.pack(len(comment)), comment]
    record = b"".join(parts)
    return record + bytes(RECORD_SIZE - len(record))


def _ballot(record: bytes) -> Ballot:
    version, count = _HEADER.unpack_from(record, 0)
    if version != RECORD_VERSION or len(record) != RECORD_SIZE:
        raise SealKeyError(f"unknown submission record (version {version}, {len(record)} bytes)")
    offset = _HEADER.size
    answers = tuple(_ANSWER.unpack_from(record, offset + n * _ANSWER.size) for n in range(count))
    offset += count * _ANSWER.size
    (length,) = _COMMENT_LENGTH.unpack_from(record, offset)
    offset += _COMMENT_LENGTH.size
    return Ballot(answers=answers, comment=record[offset : offset + length].decode("utf-8"))
