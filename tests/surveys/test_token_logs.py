"""Survey tokens never reach a log: request lines, 4xx warnings, SQL, exceptions."""

from __future__ import annotations

import http.client
import io
import logging
import threading

import pytest
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer, get_internal_wsgi_application
from django.db import connection
from rest_framework.test import APIClient

from surveys.models import Invitation
from tests.surveys.test_intake import make_invitation
from tests.surveys.test_survey_views import submit


def assert_nowhere_in_logs(token: str, caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert token not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in repr(record.__dict__)


@pytest.fixture
def console():
    """What the configured console handler (settings.LOGGING) writes, into a buffer."""
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers, "settings.LOGGING configures a console handler on the root logger"
    buffer = io.StringIO()
    streams = [h.setStream(buffer) for h in handlers]
    yield buffer
    for handler, stream in zip(handlers, streams, strict=True):
        handler.setStream(stream)


class DevServer:
    """Django's development server (what runserver runs), logging through `django.server`."""

    def __init__(self) -> None:
        self.server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
        self.server.set_app(get_internal_wsgi_application())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        # Returns once the request in hand is finished, its line logged included.
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dev_server(monkeypatch):
    # Each request's database connection is closed after it, so none outlives the test.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    server = DevServer()
    yield server
    server.stop()


def fetch(server: DevServer, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.server.server_port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_the_development_servers_request_lines_never_show_the_token(dev_server, caplog, console):
    # given
    caplog.set_level(logging.INFO)
    invitation = make_invitation()

    # when: the e-mailed link, the API, and a mistyped link
    statuses = [
        fetch(dev_server, f"/s/{invitation.token}/"),
        fetch(dev_server, f"/api/v1/invitations/{invitation.token}/"),
        fetch(dev_server, f"/s/{invitation.token}/typo"),
    ]
    dev_server.stop()

    # then
    assert statuses == [302, 200, 404]
    server_lines = [r.getMessage() for r in caplog.records if r.name == "django.server"]
    assert server_lines == [
        '"GET /s/[redacted]/ HTTP/1.1" 302 0',
        '"GET /api/v1/invitations/[redacted]/ HTTP/1.1" 200 ' + server_lines[1].rsplit(" ", 1)[1],
        '"GET /s/[redacted]/typo HTTP/1.1" 404 ' + server_lines[2].rsplit(" ", 1)[1],
    ]
    assert_nowhere_in_logs(invitation.token, caplog)
    written = console.getvalue()
    assert '"GET /s/[redacted]/ HTTP/1.1" 302 0' in written
    assert "Not Found: /s/[redacted]/typo" in written
    assert invitation.token not in written


@pytest.mark.django_db
def test_not_found_and_refusal_warnings_never_show_the_token(client, caplog):
    caplog.set_level(logging.INFO)
    invitation = make_invitation()
    Invitation.objects.filter(pk=invitation.pk).update(responded=True)

    assert client.get(f"/s/{invitation.token}/x").status_code == 404
    assert APIClient().get(f"/api/v1/invitations/{invitation.token}/").status_code == 409

    warnings = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.request"]
    assert warnings == [
        ("django.request", "WARNING", "Not Found: /s/[redacted]/x"),
        ("django.request", "WARNING", "Conflict: /api/v1/invitations/[redacted]/"),
    ]
    # Django attaches the request (whose repr holds the path) to these records; it is dropped.
    assert all(getattr(r, "request", None) is None for r in caplog.records if r.name == "django.request")
    assert_nowhere_in_logs(invitation.token, caplog)


@pytest.mark.django_db
def test_a_whole_answer_flow_with_sql_logging_never_logs_the_token(client, caplog):
    # given: every logger at DEBUG, SQL statements included (they carry only the token's hash)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True
    invitation = make_invitation()
    try:
        # when: link, form, a bad post, a good post, the link again, the API
        client.get(f"/s/{invitation.token}/")
        client.get("/s/")
        submit(client, {"answer-t_workload": "9"})
        submit(client, {"answer-t_workload": "4", "comment": "fine"})
        client.get(f"/s/{invitation.token}/")
        client.get("/s/")
        APIClient().post("/api/v1/responses/", {"token": invitation.token, "answers": {"t_workload": 1}}, format="json")
    finally:
        connection.force_debug_cursor = False

    # then
    assert any(r.name == "django.db.backends" for r in caplog.records)
    assert_nowhere_in_logs(invitation.token, caplog)
