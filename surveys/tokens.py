"""One-time survey tokens.

A token is the URL-safe base64 of HMAC-SHA256(PULSE_TOKEN_KEY, invitation id): 32 bytes,
43 characters, the same shape and entropy as ``secrets.token_urlsafe(32)``. Deriving it,
rather than drawing it at random, means a retried send or a reminder carries the same working
link while the database holds only its SHA-256 (DESIGN.md, Invitation). Nobody can compute a
token without the key, and the hash cannot be turned back into a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid

from django.conf import settings

TOKEN_LENGTH = 43
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def token_for(invitation_id: uuid.UUID) -> str:
    digest = hmac.new(settings.PULSE_TOKEN_KEY.encode(), b"invitation:" + invitation_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_is_well_formed(token: str) -> bool:
    # fullmatch: `$` would also match before a trailing newline
    return bool(_TOKEN_RE.fullmatch(token or ""))


def survey_link(token: str) -> str:
    return f"{settings.PULSE_BASE_URL}/s/{token}/"
