"""Keep survey tokens, and the tokens of password links, out of every log line."""

from __future__ import annotations

import logging
import re

# /s/<token>/ and /api/v1/invitations/<token>/: the token is the only secret in a URL.
_TOKEN_IN_PATH = re.compile(r"(/s/|/api/v1/invitations/)[^/\s?\"']{16,}")


# /password-reset/<uidb64>/<token>/ and /password-setup/<uidb64>/<token>/ (surveys/accounts.py);
# Django's confirm view then redirects to .../<uidb64>/set-password/, which holds no secret.
_PASSWORD_TOKEN_IN_PATH = re.compile(r"(/password-(?:reset|setup)/[^/\s?\"']+/)(?!set-password/)[^/\s?\"']+")


def redact(text: str) -> str:
    return _PASSWORD_TOKEN_IN_PATH.sub(r"\1[redacted]", _TOKEN_IN_PATH.sub(r"\1[redacted]", text))


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # Django attaches the request to error records; its repr holds the path.
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = None
        return True
