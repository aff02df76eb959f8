"""The demo organisation that ``make demo`` shows: "Acme", 60 people, ten teams, several time zones.

Its logins are constants so that other parts of the demo (and their tests) can reuse them.
"""

from __future__ import annotations

from pathlib import Path

from surveys.org_import import ImportResult, org_import
from surveys.roles import user_password_set

DEMO_ORG_CSV = Path(__file__).with_name("demo_org.csv")
DEMO_HR_EMAIL = "hr@acme.example"
DEMO_MANAGER_EMAIL = "manager@acme.example"
DEMO_PASSWORD = "pulse-demo"  # noqa: S105 - a published demo login, never a real one
DEMO_LOGINS = ((DEMO_HR_EMAIL, "HR: the whole organisation"), (DEMO_MANAGER_EMAIL, "manager of Acme/Engineering"))


def demo_org_seed() -> ImportResult:
    """Import the demo org (idempotent: a re-run changes nothing) and give its logins known passwords."""
    result = org_import(data=DEMO_ORG_CSV.read_bytes())
    for email, _ in DEMO_LOGINS:
        user_password_set(email=email, password=DEMO_PASSWORD)
    return result
