"""The API's list pagination: DRF's limit/offset, with a ceiling on ``limit``."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    # Without a ceiling, ?limit=10**30 reaches the database as LIMIT and fails there (SQLite:
    # "datatype mismatch", PostgreSQL: "bigint out of range"): a 500 for a query string.
    # A larger limit is capped, not refused; the `next` link carries on from there.
    max_limit = 1000
    limit_query_description = "Number of results to return per page (at most 1000)."
