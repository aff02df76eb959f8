"""``manage.py send_password_setup EMAIL [EMAIL ...] | --all-without-password``."""

from __future__ import annotations

from argparse import ArgumentParser

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from surveys.accounts import password_setup_send, users_without_password


class Command(BaseCommand):
    help = (
        'E-mail managers and HR a "set your password" link (the org import gives them a login without '
        "a password, and e-mails nobody). Name the logins by e-mail, or pick every active login that has "
        "no password yet. Logins that already have a password, or are deactivated, get nothing."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("emails", nargs="*", metavar="EMAIL", help="the login's e-mail (its username)")
        parser.add_argument(
            "--all-without-password", action="store_true", help="every active login that has no password yet"
        )

    def handle(self, *args, emails: list[str], all_without_password: bool, **options) -> None:
        if bool(emails) == all_without_password:
            raise CommandError("give either one or more e-mail addresses or --all-without-password")
        if all_without_password:
            users, unknown = list(users_without_password()), []
        else:
            wanted = list(dict.fromkeys(email.strip().lower() for email in emails))
            found = {user.username: user for user in get_user_model().objects.filter(username__in=wanted)}
            users = [found[email] for email in wanted if email in found]
            unknown = [email for email in wanted if email not in found]
        report = password_setup_send(users=users)
        for email in report.sent:
            self.stdout.write(f"sent: {email}")
        for email in unknown:
            self.stderr.write(f"skipped: {email}: no login (only managers and HR have one)")
        for username, reason in report.skipped:
            self.stderr.write(f"skipped: {username}: {reason}")
        self.stdout.write(f"{len(report.sent)} sent, {len(report.skipped) + len(unknown)} skipped")
        if unknown or (report.skipped and not all_without_password):
            raise CommandError("not every login named was sent a link (see above)")
