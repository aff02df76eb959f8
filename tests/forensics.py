"""What a database administrator can read beyond the live rows: table files, tuples, WAL.

Helpers for the forensic anonymity tests (tests/surveys/test_seal_forensics.py), PostgreSQL
only. They read the server's own files, so they need the database on this machine and a user
allowed to read its data directory (the tests run as root; the database user is a superuser
for ``CHECKPOINT``, ``pageinspect`` and ``pg_waldump``'s input). Each ``*_unavailable`` helper
says why a check can't run here, for a clear ``pytest.skip``.

Everything here reads bytes the way an attacker with a copy of the data directory would: no
helper goes through the visibility rules of a snapshot, except where noted.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from django.db import connection, transaction

# The project's own tables (the apps surveys and analytics, and the accounts that sign in).
PROJECT_TABLE_PREFIXES = ("surveys_", "analytics_", "auth_", "authtoken_")

HEAP_XMAX_IS_MULTI = 0x1000  # t_infomask: t_xmax is a MultiXactId (several lockers), not an xid
XLP_LONG_HEADER = 0x0002  # xlp_info: the first page of a WAL segment has the long header
WAL_SHORT_PAGE_HEADER = 24  # MAXALIGN(sizeof(XLogPageHeaderData))
WAL_LONG_PAGE_HEADER = 40  # MAXALIGN(sizeof(XLogLongPageHeaderData))
_WAL_PAGE_HEADER = struct.Struct("<HHIQ")  # xlp_magic, xlp_info, xlp_tli, xlp_pageaddr


def sql(query: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of ``query`` on Django's connection (the test database)."""
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def setting(name: str) -> str:
    return sql("SELECT current_setting(%s)", [name])[0][0]


# --- an old snapshot -------------------------------------------------------------------------


def conninfo() -> dict[str, Any]:
    """Connection parameters of Django's database (the test database under pytest-django)."""
    settings = connection.settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
    }
    return {key: value for key, value in params.items() if value}


@dataclass
class OldSnapshot:
    """A second session holding a REPEATABLE READ snapshot, as a long report or ``pg_dump`` would.

    While it is open, VACUUM in this database may remove no row version that was deleted after
    the snapshot was taken, so every version the close leaves behind stays in the pages for the
    checks to find. The session also holds a temporary physical replication slot (when the
    server has one to spare), so that no checkpoint recycles the WAL the checks read.
    """

    session: psycopg.Connection
    xmin: int  # the snapshot's xmin: row versions deleted by later transactions stay
    wal_slot: str | None


@contextmanager
def old_snapshot(*, table: str) -> Iterator[OldSnapshot]:
    session = psycopg.connect(**conninfo(), autocommit=True)
    try:
        slot = f"forensics_{uuid.uuid4().hex[:16]}"
        try:
            session.execute("SELECT pg_create_physical_replication_slot(%s, true, true)", [slot])
        except psycopg.Error:  # no free slot, or not allowed: the WAL may then be recycled
            slot = None
        session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        # The snapshot is taken by the transaction's first query, not by BEGIN.
        session.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table))).fetchone()
        (xmin,) = session.execute(
            "SELECT backend_xmin::text::bigint FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert xmin is not None, "the old snapshot holds no xmin"
        yield OldSnapshot(session=session, xmin=xmin, wal_slot=slot)
        session.execute("COMMIT")
    finally:
        session.close()  # also drops the temporary slot


# --- tuples, with pageinspect ----------------------------------------------------------------


def pageinspect_unavailable() -> str | None:
    """Why pageinspect can't be used here, or None once it is installed in the test database."""
    try:
        sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
    except Exception as exc:  # not installed (postgresql-contrib) or not allowed
        return f"pageinspect is not available: {exc}"
    return None


def project_tables() -> list[str]:
    """Every table of the project's apps in the test database, by name."""
    rows = sql(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm') ORDER BY c.relname"
    )
    return [name for (name,) in rows if name.startswith(PROJECT_TABLE_PREFIXES)]


def toast_table(table: str) -> str | None:
    """The TOAST table that holds ``table``'s out-of-line values ("pg_toast.pg_toast_NNN")."""
    rows = sql(
        "SELECT t.oid::regclass::text FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid "
        "WHERE c.oid = %s::regclass",
        [table],
    )
    return rows[0][0] if rows else None


@dataclass(frozen=True)
class HeapTuple:
    """One tuple with storage in a heap page, live or dead, as the page has it."""

    table: str
    block: int
    offset: int  # the line pointer: with the block, the tuple's ctid
    xmin: int  # the transaction that wrote this version
    xmax: int  # the transaction that deleted, updated or locked it (0: none)
    infomask: int
    attrs: tuple[bytes | None, ...]  # by attnum - 1, raw (with the varlena header) unless detoasted

    @property
    def ctid(self) -> tuple[int, int]:
        return (self.block, self.offset)

    def attr(self, table_columns: dict[str, int], column: str) -> bytes | None:
        index = table_columns[column]
        return self.attrs[index] if index < len(self.attrs) else None


def heap_tuples(table: str, *, detoast: bool = False) -> list[HeapTuple]:
    """Every tuple with storage in every page of ``table``, live or dead, in physical order.

    ``detoast`` fetches out-of-line values from the TOAST table (with the TOAST visibility rule,
    which still sees the chunks of deleted rows until VACUUM removes them).
    """
    rows = sql(
        "SELECT b, p.lp, p.t_xmin::text::bigint, p.t_xmax::text::bigint, p.t_infomask, p.t_attrs "
        "FROM generate_series(0, pg_relation_size(%s::regclass) / current_setting('block_size')::int - 1) AS b, "
        "LATERAL heap_page_item_attrs(get_raw_page(%s, b::int), %s::regclass, %s) AS p "
        "WHERE p.lp_flags = 1 ORDER BY b, p.lp",  # 1: LP_NORMAL, a line pointer with a tuple
        [table, table, table, detoast],
    )
    return [
        HeapTuple(
            table=table,
            block=block,
            offset=offset,
            xmin=xmin,
            xmax=xmax,
            infomask=infomask,
            attrs=tuple(None if value is None else bytes(value) for value in attrs or ()),
        )
        for block, offset, xmin, xmax, infomask, attrs in rows
    ]


def line_pointers_without_storage(table: str) -> int:
    """Line pointers that are dead or redirected: pruning removed a tuple's data there."""
    rows = sql(
        "SELECT count(*) FROM generate_series(0, pg_relation_size(%s::regclass) / "
        "current_setting('block_size')::int - 1) AS b, LATERAL heap_page_items(get_raw_page(%s, b::int)) AS p "
        "WHERE p.lp_flags IN (2, 3)",
        [table, table],
    )
    return rows[0][0]


def columns(table: str) -> dict[str, int]:
    """Each column's index in ``HeapTuple.attrs`` (attnum - 1; dropped columns keep their slot)."""
    rows = sql(
        "SELECT attname, attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return {name: attnum - 1 for name, attnum in rows}


def transactions_of(tuple_: HeapTuple) -> set[int]:
    """The transactions that wrote, deleted, updated or locked this version (0 is none)."""
    xids = {tuple_.xmin}
    if tuple_.xmax and tuple_.infomask & HEAP_XMAX_IS_MULTI:
        rows = sql("SELECT xid::text::bigint FROM pg_get_multixact_members(%s::text::xid)", [str(tuple_.xmax)])
        xids.update(xid for (xid,) in rows)
    elif tuple_.xmax:
        xids.add(tuple_.xmax)
    return xids - {0}


# --- table files -------------------------------------------------------------------------------


def data_directory_unreadable() -> str | None:
    """Why the server's data directory can't be read from here, or None."""
    try:
        directory = Path(setting("data_directory"))
    except Exception as exc:  # not a superuser (or pg_read_all_settings)
        return f"the data directory is not known: {exc}"
    if not (directory / "PG_VERSION").is_file():
        return f"the data directory {directory} is not on this machine (or not readable)"
    try:
        (directory / "PG_VERSION").read_bytes()
    except OSError as exc:
        return f"the data directory {directory} is not readable: {exc}"
    return None


def checkpoint_refused() -> str | None:
    """Run a CHECKPOINT (every dirty page to its file); why it was refused, or None."""
    try:
        sql("CHECKPOINT")
    except Exception as exc:  # needs a superuser or pg_checkpoint
        return f"CHECKPOINT is not allowed: {exc}"
    return None


def data_directory() -> Path:
    return Path(setting("data_directory"))


@dataclass(frozen=True)
class Relation:
    name: str  # "surveys_comment", "pg_toast.pg_toast_16600", "surveys_comment_pkey"
    of_table: str  # the project table it belongs to
    kind: str  # "table", "toast", "index"
    oid: int


def relations_of(table: str) -> list[Relation]:
    """The table, its TOAST table, and every index of either (the TOAST index included)."""
    rows = sql(
        "WITH t AS (SELECT oid, reltoastrelid FROM pg_class WHERE oid = %s::regclass) "
        "SELECT oid, oid::regclass::text, 'table' FROM t "
        "UNION ALL SELECT reltoastrelid, reltoastrelid::regclass::text, 'toast' FROM t WHERE reltoastrelid <> 0 "
        "UNION ALL SELECT i.indexrelid, i.indexrelid::regclass::text, 'index' FROM pg_index i, t "
        "WHERE i.indrelid IN (t.oid, t.reltoastrelid)",
        [table],
    )
    return [Relation(name=name, of_table=table, kind=kind, oid=oid) for oid, name, kind in rows]


def relation_files(relation: Relation) -> list[Path]:
    """Every file of the relation: all forks (main, free space map, visibility map) and segments."""
    base = data_directory() / sql("SELECT pg_relation_filepath(%s)", [relation.oid])[0][0]
    files = []
    for fork in ("", "_fsm", "_vm", "_init"):
        segment = 0
        while (path := Path(f"{base}{fork}{f'.{segment}' if segment else ''}")).exists():
            files.append(path)
            segment += 1
    return files


# --- the WAL -----------------------------------------------------------------------------------


def lsn_parse(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def wal_lsn_now() -> int:
    """The WAL written so far (to the files; what pg_waldump and a reader of pg_wal see)."""
    return lsn_parse(sql("SELECT pg_current_wal_lsn()::text")[0][0])


def wal_flush() -> int:
    """Flush the WAL to disk up to now, whatever ``synchronous_commit`` says; the position reached.

    A transaction with an id commits with ``synchronous_commit`` on: its commit waits until
    the WAL up to its commit record, and so everything before it, is on disk.
    """
    with transaction.atomic():
        sql("SET LOCAL synchronous_commit TO on")
        sql("SELECT pg_current_xact_id()")  # assigns an id, so the commit is a WAL record
    return wal_lsn_now()


def pg_waldump_path() -> str | None:
    """pg_waldump of the server's major version (its WAL format), or any on the PATH."""
    major = int(setting("server_version_num")) // 10000
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/pg_waldump")]
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(bindir) / "pg_waldump")
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    return shutil.which("pg_waldump")


@dataclass(frozen=True)
class WalSegments:
    """Copies of the WAL segment files covering a range of LSNs, taken while they still exist."""

    directory: Path
    timeline: int
    segment_size: int
    page_size: int

    def name(self, lsn: int) -> str:
        segment = lsn // self.segment_size
        per_xlogid = 0x100000000 // self.segment_size
        return f"{self.timeline:08X}{segment // per_xlogid:08X}{segment % per_xlogid:08X}"

    def stream(self, start: int, end: int) -> bytes:
        """The WAL bytes from ``start`` to ``end`` with the page headers cut out.

        A record longer than what is left of its page continues after the next page's header;
        cutting the headers joins it again, so a string can't hide across a page boundary.
        Each page's header must carry the page's own address: a recycled segment still holds
        older WAL further on, and that must not be mistaken for this range.
        """
        chunks = []
        page = start - start % self.page_size
        cache: dict[str, bytes] = {}
        while page < end:
            name = self.name(page)
            if name not in cache:
                cache.clear()
                cache[name] = (self.directory / name).read_bytes()
            offset = page % self.segment_size
            raw = cache[name][offset : offset + self.page_size]
            _magic, info, _tli, address = _WAL_PAGE_HEADER.unpack_from(raw)
            assert address == page, f"WAL page at {lsn_text(page)} has address {lsn_text(address)}: recycled?"
            header = WAL_LONG_PAGE_HEADER if info & XLP_LONG_HEADER else WAL_SHORT_PAGE_HEADER
            low, high = max(start, page + header), min(end, page + self.page_size)
            if low < high:
                chunks.append(raw[low - page : high - page])
            page += self.page_size
        return b"".join(chunks)


def wal_segments_unavailable(start: int, end: int) -> str | None:
    """Why the WAL from ``start`` to ``end`` can't be read from pg_wal, or None."""
    if reason := data_directory_unreadable():
        return reason
    segments = _wal_segments_in(data_directory() / "pg_wal")
    missing = [name for name in _wal_names(segments, start, end) if not (segments.directory / name).is_file()]
    if missing:
        return f"WAL segments {', '.join(missing)} are gone from {segments.directory} (recycled?)"
    return None


def wal_segments_copy(start: int, end: int, *, into: Path) -> WalSegments:
    """Copy the WAL segment files of ``start`` .. ``end`` into ``into`` (pg_waldump reads them there)."""
    source = _wal_segments_in(data_directory() / "pg_wal")
    into.mkdir(parents=True, exist_ok=True)
    for name in _wal_names(source, start, end):
        shutil.copyfile(source.directory / name, into / name)
    return WalSegments(into, source.timeline, source.segment_size, source.page_size)


def _wal_segments_in(directory: Path) -> WalSegments:
    timeline = int(sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0][0][:8], 16)
    size = int(sql("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")[0][0])
    page = int(setting("wal_block_size"))
    return WalSegments(directory, timeline, size, page)


def _wal_names(segments: WalSegments, start: int, end: int) -> list[str]:
    first, last = start // segments.segment_size, end // segments.segment_size
    return [segments.name(n * segments.segment_size) for n in range(first, last + 1)]


@dataclass(frozen=True)
class WalRecord:
    lsn: int
    xid: int
    rmgr: str
    length: int
    description: str


_WALDUMP_LINE = re.compile(
    r"rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):\s*\d+/\s*(?P<length>\d+), tx:\s*(?P<xid>\d+), "
    r"lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), prev [0-9A-F]+/[0-9A-F]+, desc: (?P<description>.*)"
)


def waldump(segments: WalSegments, start: int, end: int, *, xid: int | None = None) -> list[WalRecord]:
    """The WAL records from ``start`` to ``end`` (of transaction ``xid`` only, if given), by pg_waldump."""
    waldump_path = pg_waldump_path()
    assert waldump_path, "pg_waldump not found"
    command = [waldump_path, "-p", str(segments.directory), "-t", str(segments.timeline)]
    command += ["-s", lsn_text(start), "-e", lsn_text(end)]
    if xid is not None:
        command += ["-x", str(xid)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    records = [
        WalRecord(
            lsn=lsn_parse(match["lsn"]),
            xid=int(match["xid"]),
            rmgr=match["rmgr"],
            length=int(match["length"]),
            description=match["description"],
        )
        for match in map(_WALDUMP_LINE.match, done.stdout.splitlines())
        if match
    ]
    assert done.returncode == 0 or records, f"pg_waldump failed: {done.stderr.strip()}"
    return records
