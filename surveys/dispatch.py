"""Sending invitations and reminders: the invitation table is the outbox.

Every minute beat asks :func:`invitations_dispatch` (every few minutes :func:`reminders_dispatch`)
what is due; the work itself is done in batches by :func:`invitations_send_batch` /
:func:`reminders_send_batch`, possibly on several workers at once:

1. *Claim* up to a batch of due rows in one short transaction (``SELECT ... FOR UPDATE SKIP
   LOCKED`` on PostgreSQL, so workers never wait for or take each other's rows), mark them
   ``sending`` under a claim id of the batch's own and a short lease, commit.
2. *Send* them one by one over one SMTP connection, and mark them ``sent`` in small groups, so
   that a crash re-sends at most a group. Between messages the batch renews its lease, and
   each renewal also tells it which rows it still holds: a row whose wave closed meanwhile, or
   that another worker took over after this one stalled, is not sent by this one.
3. A recipient the server refuses is ``failed`` with the server's reason; the others go on.
   A connection-level failure (refused, dropped, a temporary 4xx, a message cut off at its
   deadline) hands the unsent rows back (``pending``) and raises, so the Celery task retries
   with backoff.

A worker killed mid-batch leaves its rows ``sending``; at most ``LEASE`` after its last renewal
they are due again, and the next dispatch (every ``PULSE_DISPATCH_EVERY``) hands them out
before anything else. While a sender lives its lease never runs out: it is renewed every
``LEASE_RENEW_EVERY``, and no message may take longer than ``MESSAGE_DEADLINE``, well under the
lease. Delivery is therefore at-least-once, duplicates only come from a killed batch's last
unrecorded group, and the link is the same on every send because the token is an HMAC of the
invitation id (``surveys.tokens``).
"""

from __future__ import annotations

import logging
import math
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from . import emails, task_names
from .models import Invitation, Wave
from .tokens import token_for

logger = logging.getLogger(__name__)

Status = Invitation.SendStatus

# A claim's rows are leased to its batch for LEASE. The batch renews the lease between messages
# once LEASE_RENEW_EVERY has passed, and no message may take longer than MESSAGE_DEADLINE (it is
# cut off; PULSE_SMTP_MESSAGE_TIMEOUT, 30 s by default), so a live sender always renews with time
# to spare (10 + 30 + 20 s of slack for a stalled database call or a few seconds of clock skew
# between workers: 60 s by default), and a killed one's rows are due again at most LEASE after
# its last renewal.
LEASE_RENEW_EVERY = timedelta(seconds=10)
MESSAGE_DEADLINE = timedelta(seconds=getattr(settings, "PULSE_SMTP_MESSAGE_TIMEOUT", 30))
LEASE = LEASE_RENEW_EVERY + MESSAGE_DEADLINE + timedelta(seconds=20)
# Sent rows are recorded every this many messages: a crash re-sends at most this many.
MARK_SENT_EVERY = 25
# Dispatch fans out to at most this many batch tasks at once. Each full batch enqueues its
# successor, so this bounds how many workers share a large wave, not how fast it goes out.
MAX_BATCH_TASKS = 50
# A recipient that keeps getting a temporary refusal (4xx) is retried a little later each
# time (greylisting wants minutes, not seconds), and given up after this many tries.
MAX_ATTEMPTS = 8
DEFER_STEP = timedelta(minutes=5)


class DispatchError(Exception):
    """The SMTP connection failed; the claimed, unsent rows were handed back."""


@dataclass(frozen=True)
class _Outbox:
    """Which columns of an invitation make up one kind of e-mail's outbox."""

    kind: str
    batch_task: str  # the registered name of the task that sends one batch (surveys/task_names.py)
    status_field: str
    due_field: str
    sent_field: str
    build: Callable[..., EmailMultiAlternatives]
    sendable: Callable[[datetime], Q]  # what else must hold for a due row to go out

    def pending_q(self, now: datetime) -> Q:
        return Q(**{self.status_field: Status.PENDING, f"{self.due_field}__lte": now}) & self.sendable(now)

    def abandoned_q(self, now: datetime) -> Q:
        """Claimed by a worker that died: its lease ran out."""
        return Q(**{self.status_field: Status.SENDING, "lease_until__lt": now}) & self.sendable(now)

    def due_q(self, now: datetime) -> Q:
        return self.pending_q(now) | self.abandoned_q(now)


INVITATIONS = _Outbox(
    kind="invitation",
    batch_task=task_names.INVITATIONS_SEND_BATCH,
    status_field="status",
    due_field="send_at",
    sent_field="sent_at",
    build=emails.invitation_email,
    sendable=lambda now: Q(wave__status__in=[Wave.Status.SCHEDULED, Wave.Status.OPEN], wave__closes_at__gt=now),
)
REMINDERS = _Outbox(
    kind="reminder",
    batch_task=task_names.REMINDERS_SEND_BATCH,
    status_field="reminder_status",
    due_field="remind_at",
    sent_field="reminded_at",
    build=emails.reminder_email,
    # Re-checked at claim time: someone may have answered since the reminder became due.
    sendable=lambda now: Q(status=Status.SENT, responded=False, wave__status=Wave.Status.OPEN, wave__closes_at__gt=now),
)


# --- entry points -----------------------------------------------------------------------------


def invitations_dispatch(*, now: datetime | None = None) -> int:
    """Hand due invitations to the workers; see :func:`_dispatch` for what is returned."""
    return _dispatch(INVITATIONS, now=now)


def reminders_dispatch(*, now: datetime | None = None) -> int:
    """Skip reminders nobody needs any more, then hand the due ones to the workers."""
    reminders_skip_unneeded(now=now)
    return _dispatch(REMINDERS, now=now)


def invitations_send_batch(*, now: datetime | None = None, limit: int | None = None, chain: bool = False) -> int:
    """Claim and send up to ``limit`` due invitations over one SMTP connection; returns how many were sent.

    With ``chain`` (the batch task), a full batch enqueues its successor: more are probably due,
    and they should not wait for beat's next minute.
    """
    return _send_batch_and_chain(INVITATIONS, now=now, limit=limit, chain=chain)


def reminders_send_batch(*, now: datetime | None = None, limit: int | None = None, chain: bool = False) -> int:
    """Claim and send up to ``limit`` due reminders over one SMTP connection; returns how many were sent."""
    return _send_batch_and_chain(REMINDERS, now=now, limit=limit, chain=chain)


def reminders_skip_unneeded(*, now: datetime | None = None) -> int:
    """Pending reminders of people who answered, whose invitation never went out, or whose wave is over."""
    now = now or timezone.now()
    unneeded = (
        Q(responded=True)
        | Q(status__in=[Status.FAILED, Status.SKIPPED])
        | Q(wave__status=Wave.Status.CLOSED)
        | Q(wave__closes_at__lte=now)
    )
    return Invitation.objects.filter(unneeded, reminder_status=Status.PENDING).update(reminder_status=Status.SKIPPED)


# --- dispatch: count what is due, fan out -----------------------------------------------------


def _dispatch(outbox: _Outbox, *, now: datetime | None) -> int:
    """Eagerly (embedded default): send every due row in-process and return how many were sent.

    With a broker: enqueue one batch task per batch of due rows (after commit, capped) and
    return how many tasks were enqueued. The tasks carry no arguments: each claims whatever is
    due when it runs, so a duplicate or late task is harmless.
    """
    if current_app.conf.task_always_eager:
        return _send_all_due(outbox, now=now)
    due = Invitation.objects.filter(outbox.due_q(now or timezone.now())).count()
    batches = min(math.ceil(due / settings.PULSE_DISPATCH_BATCH), MAX_BATCH_TASKS)
    for _ in range(batches):
        transaction.on_commit(lambda: _batch_task_enqueue(outbox))
    if batches:
        logger.info("%d %ss due, %d batch tasks enqueued", due, outbox.kind, batches)
    return batches


def _batch_task_enqueue(outbox: _Outbox) -> None:
    # By name: surveys.tasks imports this module, never the other way round.
    current_app.signature(outbox.batch_task).delay()


def _send_batch_and_chain(outbox: _Outbox, *, now: datetime | None, limit: int | None, chain: bool) -> int:
    limit = limit or settings.PULSE_DISPATCH_BATCH
    result = _send_batch(outbox, now=now, limit=limit)
    # Eagerly a successor would recurse; the eager dispatch loops instead.
    if chain and result.claimed == limit and not current_app.conf.task_always_eager:
        transaction.on_commit(lambda: _batch_task_enqueue(outbox))
    return result.sent


def _send_all_due(outbox: _Outbox, *, now: datetime | None) -> int:
    sent = 0
    while True:
        result = _send_batch(outbox, now=now, limit=None)
        sent += result.sent
        # Only an empty claim ends the loop: a batch in which everyone was refused still
        # leaves the next batch to send. A temporarily refused row is deferred, not re-claimed.
        if not result.claimed:
            return sent


# --- one batch: claim, send, record ------------------------------------------------------------


@dataclass(frozen=True)
class _BatchResult:
    claimed: int
    sent: int


def _send_batch(outbox: _Outbox, *, now: datetime | None, limit: int | None) -> _BatchResult:
    now = now or timezone.now()
    claim = uuid.uuid4()
    invitations = _claim(outbox, claim=claim, now=now, limit=limit or settings.PULSE_DISPATCH_BATCH)
    if not invitations:
        return _BatchResult(claimed=0, sent=0)
    lease = _Lease(outbox, claim=claim, ids=[inv.id for inv in invitations], start=now)
    recorder = _Recorder(outbox, lease=lease, now=now)
    try:
        _send_over_one_connection(outbox, invitations, recorder, lease)
    finally:
        # Whatever stopped us (the server, a bug, a soft time limit), rows not yet sent or
        # failed go back to pending at once instead of waiting for their lease to run out.
        recorder.flush()
        recorder.release_unfinished()
    logger.info(
        "%s batch: %d claimed, %d sent, %d failed", outbox.kind, len(invitations), recorder.sent, recorder.failed
    )
    return _BatchResult(claimed=len(invitations), sent=recorder.sent)


def _claim(outbox: _Outbox, *, claim: uuid.UUID, now: datetime, limit: int) -> list[Invitation]:
    with transaction.atomic():
        # Abandoned rows (a dead worker's, overdue the longest), then pending ones, each in its
        # own query that an index serves in order (status, then lease or due time), so a claim
        # costs the same whatever the backlog; only the claimed ids are locked, and their
        # details are loaded afterwards.
        ids = _claimable_ids(outbox.abandoned_q(now), order="lease_until", limit=limit)
        if len(ids) < limit:
            ids += _claimable_ids(outbox.pending_q(now), order=outbox.due_field, limit=limit - len(ids))
        if not ids:
            return []
        # Loaded before the UPDATE: the rows in memory keep the attempts count of before this claim.
        invitations = list(
            Invitation.objects.filter(id__in=ids)
            .select_related("employee", "team", "wave__survey")
            .order_by(outbox.due_field, "id")
        )
        Invitation.objects.filter(id__in=ids).update(
            **{outbox.status_field: Status.SENDING},
            claim=claim,
            lease_until=now + LEASE,
            attempts=F("attempts") + 1,
        )
    # One query for the items of every survey in the batch (the e-mail's time estimate counts them).
    prefetch_related_objects([inv.wave.survey for inv in invitations], "items")
    return invitations


def _claimable_ids(condition: Q, *, order: str, limit: int) -> list[uuid.UUID]:
    rows = Invitation.objects.filter(condition).order_by(order)
    # Lock only the invitation rows: locking the joined wave would make every other worker
    # skip that whole wave. SQLite has no row locks; its IMMEDIATE transactions serialise claims.
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return list(rows.values_list("id", flat=True)[:limit])


def _send_over_one_connection(
    outbox: _Outbox, invitations: list[Invitation], recorder: _Recorder, lease: _Lease
) -> None:
    smtp = mail.get_connection()
    with _MessageDeadline(MESSAGE_DEADLINE) as deadline:
        try:
            with deadline.running(smtp):
                smtp.open()
        except OSError as exc:  # smtplib's errors are OSErrors too
            raise DispatchError(f"cannot connect to the mail server: {_describe(exc, deadline)}") from exc
        try:
            for invitation in invitations:
                lease.keep()
                if invitation.id not in lease.held:
                    continue  # its wave closed, or another worker took it over: no longer ours to send
                message = outbox.build(invitation=invitation, token=token_for(invitation.id))
                message.connection = smtp
                _send_one(smtp, message, invitation, recorder, deadline)
        finally:
            with deadline.running(smtp):
                _close_quietly(smtp)


def _send_one(
    smtp: BaseEmailBackend,
    message: EmailMultiAlternatives,
    invitation: Invitation,
    recorder: _Recorder,
    deadline: _MessageDeadline,
) -> None:
    # One message per call: Django's backend gives up on the rest of a list at the first error.
    try:
        with deadline.running(smtp):
            smtp.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        recorder.refused(invitation, code=code, reason=_decode(reason))
    except smtplib.SMTPDataError as exc:
        if not _is_permanent(exc.smtp_code):  # e.g. 451: the server's trouble, not this message's
            raise DispatchError(f"the mail server deferred a message: {_describe(exc)}") from exc
        recorder.refused(invitation, code=exc.smtp_code, reason=_decode(exc.smtp_error))
    except OSError as exc:  # disconnect, timeout, sender refused, cut off at the deadline, ...
        raise DispatchError(f"the mail server connection failed: {_describe(exc, deadline)}") from exc
    else:
        recorder.sent_one(invitation)


class _Lease:
    """A batch's hold on the rows it claimed: renewed between messages, and checked on renewal.

    Times are the batch's own clock: the instant it claimed at plus the time elapsed since
    (monotonic), so a batch given ``now`` (tests, the injected clock of the system tests) leases
    consistently with it.
    """

    def __init__(self, outbox: _Outbox, *, claim: uuid.UUID, ids: Iterable[uuid.UUID], start: datetime) -> None:
        self.outbox = outbox
        self.claim = claim
        self.held = set(ids)  # claimed, and still ``sending`` under this claim as far as we know
        self._start, self._started = start, time.monotonic()
        self._until = start + LEASE

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def rows(self) -> QuerySet[Invitation]:
        """This claim's rows, as long as it holds them (wave_close, or a takeover, ends that)."""
        return Invitation.objects.filter(claim=self.claim, **{self.outbox.status_field: Status.SENDING})

    def keep(self) -> None:
        """Renew the lease once LEASE_RENEW_EVERY has passed; afterwards ``held`` is what we hold."""
        now = self.now()
        if self._until - now > LEASE - LEASE_RENEW_EVERY or not self.held:
            return
        renewed = self.rows().update(lease_until=now + LEASE)
        self._until = now + LEASE
        if renewed < len(self.held):
            lost = self.held - set(self.rows().values_list("id", flat=True))
            self.held -= lost
            logger.warning("%s batch: %d rows no longer held (wave closed, or taken over)", self.outbox.kind, len(lost))

    def let_go(self, ids: Iterable[uuid.UUID]) -> None:
        self.held.difference_update(ids)


class _MessageDeadline:
    """Cuts off an SMTP exchange that runs past its deadline, by shutting its socket down.

    smtplib's timeout (``EMAIL_TIMEOUT``) bounds each blocking socket call, not a whole message,
    which takes several calls; the lease needs a bound on the whole. One watcher thread per
    batch, which only ever touches the socket. Arming costs a lock, not a thread: the watcher
    sleeps until the earliest deadline it knows and re-reads the current one when it wakes.
    """

    def __init__(self, limit: timedelta) -> None:
        self.limit = limit.total_seconds()
        self._changed = threading.Condition()
        self._deadline: float | None = None
        self._smtp: BaseEmailBackend | None = None
        self._stopped = False
        self.cut_off = False
        self._watcher = threading.Thread(target=self._watch, name="pulse-smtp-deadline", daemon=True)

    def __enter__(self) -> _MessageDeadline:
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self._watcher.join()

    @contextmanager
    def running(self, smtp: BaseEmailBackend) -> Iterator[None]:
        with self._changed:
            self._deadline, self._smtp = time.monotonic() + self.limit, smtp
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._deadline = self._smtp = None

    def _watch(self) -> None:
        with self._changed:
            while not self._stopped:
                if self._deadline is None:
                    self._changed.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                self._cut_off()

    def _cut_off(self) -> None:
        # The socket as smtplib holds it now (opening creates it): shutting it down wakes the
        # blocked call, which then fails like a dropped connection.
        sock = getattr(getattr(self._smtp, "connection", None), "sock", None)
        self._deadline = self._smtp = None
        self.cut_off = True
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Recorder:
    """Writes each batch's outcome back to the outbox with as few UPDATEs as it can."""

    def __init__(self, outbox: _Outbox, *, lease: _Lease, now: datetime) -> None:
        self.outbox = outbox
        self.lease = lease
        self.now = now
        self.sent = 0
        self.failed = 0
        self._unrecorded: list[Invitation] = []
        self._waves_opened: set[int] = set()

    def sent_one(self, invitation: Invitation) -> None:
        self._unrecorded.append(invitation)
        self.sent += 1
        if len(self._unrecorded) >= MARK_SENT_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._unrecorded:
            return
        field = self.outbox.status_field
        ids = [inv.id for inv in self._unrecorded]
        Invitation.objects.filter(id__in=ids, claim=self.lease.claim).update(
            **{field: Status.SENT, self.outbox.sent_field: timezone.now()}, claim=None, lease_until=None, error=""
        )
        self.lease.let_go(ids)
        if self.outbox is INVITATIONS:
            # Waves loaded as scheduled at claim time; an open one needs no UPDATE.
            self._open_waves({inv.wave_id for inv in self._unrecorded if inv.wave.status == Wave.Status.SCHEDULED})
        self._unrecorded = []

    def _open_waves(self, wave_ids: set[int]) -> None:
        """A wave opens when its first invitation goes out; the conditional UPDATE makes it once."""
        new = wave_ids - self._waves_opened
        if new:
            Wave.objects.filter(id__in=new, status=Wave.Status.SCHEDULED).update(status=Wave.Status.OPEN)
            self._waves_opened |= new

    def refused(self, invitation: Invitation, *, code: int, reason: str) -> None:
        error = f"{code} {reason}".strip()
        attempts = invitation.attempts + 1  # the claim's increment, not reflected in memory
        changes: dict[str, object] = {"claim": None, "lease_until": None, "error": error}
        if _is_permanent(code) or attempts >= MAX_ATTEMPTS:
            changes[self.outbox.status_field] = Status.FAILED
            self.failed += 1
        else:
            # A temporary refusal of this one address (a full mailbox, greylisting): the outbox
            # row becomes due again a little later, without holding up the rest of the batch.
            changes[self.outbox.status_field] = Status.PENDING
            changes[self.outbox.due_field] = self.now + DEFER_STEP * attempts
        Invitation.objects.filter(id=invitation.id, claim=self.lease.claim).update(**changes)
        self.lease.let_go([invitation.id])
        logger.warning("%s %s refused by the mail server: %s", self.outbox.kind, invitation.id, error)

    def release_unfinished(self) -> None:
        """Hand back what this batch still holds and has not sent (called after the last flush)."""
        if self.lease.held:
            field = self.outbox.status_field
            # Not tried, so not an attempt: the claim's increment is taken back. Otherwise a mail
            # server outage (every batch handed back, again and again) would use up the tries a
            # greylisted address has before it counts as failed.
            released = self.lease.rows().update(
                **{field: Status.PENDING}, claim=None, lease_until=None, attempts=F("attempts") - 1
            )
            logger.warning("%s batch: %d unsent %ss handed back", self.outbox.kind, released, self.outbox.kind)


# --- small helpers ----------------------------------------------------------------------------


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _decode(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _describe(exc: BaseException, deadline: _MessageDeadline | None = None) -> str:
    if deadline is not None and deadline.cut_off:
        return f"no answer within {deadline.limit:g} s ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def _close_quietly(smtp: BaseEmailBackend) -> None:
    try:
        smtp.close()
    except (OSError, smtplib.SMTPException):
        # The messages are already accepted (or handed back); a failing QUIT changes nothing.
        logger.debug("closing the SMTP connection failed", exc_info=True)
