"""High-severity alerts pushed to a webhook and by e-mail (core/alert_notify.py, issue 13 point 1).

The receivers are real servers on 127.0.0.1: an `http.server` in a thread for the webhook (it checks
the signature the way docs/ALERT-NOTIFICATIONS.md tells a receiver to) and aiosmtpd for the e-mail,
with STARTTLS and a login in one test. Retries are driven by passing `now` forward, never by sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, select

from core import alert_notify
from core.alert_notify import (
    BACKOFF_CAP,
    MAX_ATTEMPTS,
    Transport,
    backoff,
    body_bytes,
    channels,
    deliver_due,
    enqueue,
    payload,
    run_notifier,
)
from core.db import transaction
from core.models import Alert, AlertNotification
from core.settings import Settings, SettingsError
from core.tls import generate_self_signed
from tests.net import free_port

SECRET = "whsec-0123456789abcdef-test"
TOKEN = "qs-token-5f3a9"  # a receiver's own token in the URL's query: never in last_error
SMTP_USER, SMTP_PASSWORD = "alerts", "smtp-pw-7d1c2e"
T0 = datetime(2026, 12, 7, 14, 30, 0, tzinfo=UTC)
KEY = "0123456789abcdef" * 3  # what an access key looks like: 48 hex


# -- a webhook receiver -------------------------------------------------------------------------------------


def verify(secret: str, headers: Any, body: bytes, max_age: int = 300) -> bool:
    """The receiver's check, as docs/ALERT-NOTIFICATIONS.md gives it."""
    ts = headers.get("X-Voipadmin-Timestamp", "")
    sig = headers.get("X-Voipadmin-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > max_age:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order; 200 once they run out
    got: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.hits.append(Hit(self.path, dict(self.headers.items()), body))
            status = rec.statuses.pop(0) if rec.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            rec.got.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/voip?token={TOKEN}"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(10)


# -- an SMTP server --------------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    port: int = 0
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def message(self, n: int = 0) -> Message:
        return message_from_bytes(self.envelopes[n][2])


def _authenticator(box: Mailbox) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            box.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    return check


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    generate_self_signed(cert, key, "localhost")
    return cert, key


@pytest.fixture
def tls_mailbox(tls_pair: tuple[Path, Path]) -> Iterator[Mailbox]:
    """A relay that wants STARTTLS before anything and a login (over TLS only) before it relays."""
    box = Mailbox(port=free_port())
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*tls_pair)
    controller = Controller(
        box, hostname="127.0.0.1", port=box.port, tls_context=server_ctx, require_starttls=True,
        auth_required=True, auth_require_tls=True, authenticator=_authenticator(box),
    )  # fmt: skip
    controller.start()
    yield box
    controller.stop()


# -- rows --------------------------------------------------------------------------------------------------------


def _alert(engine: Engine, settings: Settings, severity: str = "high", **fields: Any) -> tuple[int, int]:
    """An alert created the way the engine does: the row, then enqueue in the same transaction."""
    values: dict[str, Any] = dict(
        rule="sip_bruteforce", severity=severity, subject="source:198.51.100.7", vpbx_id=0,
        source_ip="198.51.100.7", detail=json.dumps({"failures": 42, "window_minutes": 10}),
        first_seen=T0 - timedelta(minutes=9), last_seen=T0, count=42,
    )  # fmt: skip
    values.update(fields)
    with transaction(engine) as s:
        alert = Alert(**values)
        s.add(alert)
        queued = enqueue(s, alert, settings, now=T0)
    return alert.id, queued


def _rows(engine: Engine) -> list[AlertNotification]:
    with transaction(engine) as s:
        return list(s.scalars(select(AlertNotification).order_by(AlertNotification.id)))


def _hooked(settings: Settings, url: str) -> Settings:
    return settings.with_(alert_webhook_url=url, alert_webhook_secret=SECRET)


def _mailed(settings: Settings, box: Mailbox, **more: Any) -> Settings:
    return settings.with_(alert_smtp_host="127.0.0.1", alert_smtp_port=box.port, alert_email_from="voip@example.net",
                          alert_email_to=("noc@example.net", "fraud@example.org"), **more)  # fmt: skip


def _refused_url() -> str:
    """A loopback port nobody listens on: connection refused."""
    return f"http://127.0.0.1:{free_port()}/hooks/voip?token={TOKEN}"


# -- what is queued ----------------------------------------------------------------------------------------------


def test_channels_follow_the_settings(settings: Settings):
    box = Mailbox(port=2525)
    assert channels(settings) == ()
    assert channels(_hooked(settings, "https://hooks.example.net/a")) == ("webhook",)
    assert channels(_mailed(settings, box)) == ("email",)
    assert channels(_mailed(_hooked(settings, "https://hooks.example.net/a"), box)) == ("webhook", "email")


@pytest.mark.parametrize("severity", ["medium", "low"])
def test_a_medium_or_low_alert_enqueues_nothing(engine: Engine, settings: Settings, severity: str):
    configured = _mailed(_hooked(settings, "https://hooks.example.net/a"), Mailbox(port=2525))
    assert _alert(engine, configured, severity)[1] == 0
    assert _rows(engine) == []


def test_nothing_configured_enqueues_nothing(engine: Engine, settings: Settings):
    assert _alert(engine, settings)[1] == 0
    assert _rows(engine) == [] and deliver_due(engine, settings, now=T0) == 0


def test_a_high_alert_queues_one_pending_row_per_channel_once_and_sends_nothing(
    engine: Engine, settings: Settings, receiver: Receiver, mailbox: Mailbox
):
    configured = _mailed(_hooked(settings, receiver.url), mailbox)
    alert_id, queued = _alert(engine, configured)
    assert queued == 2
    rows = _rows(engine)
    assert [(r.alert_id, r.channel, r.state, r.attempts, r.next_at) for r in rows] == [
        (alert_id, "webhook", "pending", 0, T0),
        (alert_id, "email", "pending", 0, T0),
    ]
    with transaction(engine) as s:  # the engine calling again for the same alert queues nothing more
        assert enqueue(s, s.get_one(Alert, alert_id), configured) == 0
    assert len(_rows(engine)) == 2
    assert receiver.hits == [] and mailbox.envelopes == []  # enqueue does no I/O


# -- the webhook -------------------------------------------------------------------------------------------------


def test_the_webhook_gets_the_payload_signed_with_the_secret(engine: Engine, settings: Settings, receiver: Receiver):
    configured = _hooked(settings, receiver.url)
    alert_id, _ = _alert(engine, configured, detail=json.dumps({"path": f"/{KEY}.cfg", "failures": 42}))
    assert deliver_due(engine, configured, now=T0) == 1
    [hit] = receiver.hits
    assert hit.path == f"/hooks/voip?token={TOKEN}"
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["X-Voipadmin-Delivery"] == str(_rows(engine)[0].id)
    assert verify(SECRET, hit.headers, hit.body)
    assert not verify("another-secret-of-16+", hit.headers, hit.body)
    assert not verify(SECRET, hit.headers, hit.body + b" ")  # the signature covers exactly the bytes sent
    stale = {**hit.headers, "X-Voipadmin-Timestamp": str(int(time.time()) - 3600)}
    assert not verify(SECRET, stale, hit.body)  # an old timestamp is a replay, whatever its signature

    doc = json.loads(hit.body)
    with transaction(engine) as s:
        assert hit.body == body_bytes(payload(s.get_one(Alert, alert_id), configured))
    assert doc == {
        "id": alert_id, "rule": "sip_bruteforce", "severity": "high", "subject": "source:198.51.100.7",
        "state": "open", "vpbx_id": 0, "line_id": None, "device_id": None, "source_ip": "198.51.100.7",
        "first_seen": "2026-12-07T14:21:00Z", "last_seen": "2026-12-07T14:30:00Z", "count": 42,
        "detail": {"failures": 42, "path": "/012345….cfg"},
        "link": f"http://localhost:8501/fraud?alert={alert_id}",
    }  # fmt: skip
    assert hit.body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    for secret in (SECRET, KEY, settings.public_url):
        assert secret.encode() not in hit.body
    [row] = _rows(engine)
    assert (row.state, row.attempts, row.sent_at, row.last_error) == ("sent", 1, T0, "")
    assert deliver_due(engine, configured, now=T0 + timedelta(days=1)) == 0  # sent is sent


def test_the_link_follows_the_dashboard_url(engine: Engine, settings: Settings):
    configured = settings.with_(dashboard_url="https://admin.example.net/voip/")
    alert_id, _ = _alert(engine, configured)
    with transaction(engine) as s:
        assert payload(s.get_one(Alert, alert_id), configured)["link"] == (
            f"https://admin.example.net/voip/fraud?alert={alert_id}"
        )


def test_a_500_is_retried_after_the_backoff_then_sent(engine: Engine, settings: Settings, receiver: Receiver):
    configured = _hooked(settings, receiver.url)
    receiver.statuses = [500]
    _alert(engine, configured)
    assert deliver_due(engine, configured, now=T0) == 1
    [row] = _rows(engine)
    assert (row.state, row.attempts, row.next_at) == ("pending", 1, T0 + timedelta(seconds=30))
    assert row.last_error == "webhook to 127.0.0.1 answered HTTP 500"
    assert deliver_due(engine, configured, now=T0 + timedelta(seconds=29)) == 0  # not due yet
    assert len(receiver.hits) == 1
    assert deliver_due(engine, configured, now=T0 + timedelta(seconds=30)) == 1
    [row] = _rows(engine)
    assert (row.state, row.attempts, row.sent_at, row.last_error) == ("sent", 2, T0 + timedelta(seconds=30), "")
    assert len(receiver.hits) == 2 and all(verify(SECRET, h.headers, h.body) for h in receiver.hits)
    assert receiver.hits[0].headers["X-Voipadmin-Delivery"] == receiver.hits[1].headers["X-Voipadmin-Delivery"]


@pytest.mark.parametrize("status", [301, 404, 401])
def test_any_answer_but_2xx_is_a_retry(engine: Engine, settings: Settings, receiver: Receiver, status: int):
    configured = _hooked(settings, receiver.url)
    receiver.statuses = [status]
    _alert(engine, configured)
    deliver_due(engine, configured, now=T0)
    [row] = _rows(engine)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, f"webhook to 127.0.0.1 answered HTTP {status}")


def test_connection_refused_counts_a_try_and_the_error_keeps_no_secret(engine: Engine, settings: Settings):
    url = _refused_url().replace("http://", "http://hookuser:hookpass@")
    configured = _hooked(settings, url)
    _alert(engine, configured)
    assert deliver_due(engine, configured, now=T0) == 1
    [row] = _rows(engine)
    assert (row.state, row.attempts, row.next_at) == ("pending", 1, T0 + timedelta(seconds=30))
    assert row.last_error.startswith("webhook to 127.0.0.1: ConnectError")
    for secret in (SECRET, TOKEN, "hookpass", "hookuser", "/hooks/voip", url):
        assert secret not in row.last_error


def test_after_max_attempts_the_row_is_failed(engine: Engine, settings: Settings):
    configured = _hooked(settings, _refused_url())
    _alert(engine, configured)
    now, waits = T0, []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(engine, configured, now=now) == 1
        [row] = _rows(engine)
        assert row.attempts == attempt
        waits.append((row.next_at - now).total_seconds())
        now = row.next_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, BACKOFF_CAP]
    [row] = _rows(engine)
    assert row.state == "failed" and row.sent_at is None and "ConnectError" in row.last_error
    assert deliver_due(engine, configured, now=now + timedelta(days=30)) == 0  # failed is final
    assert [backoff(n).total_seconds() for n in (1, 2, 7, 8, 20)] == [30, 60, 1920, 3600, 3600]


def test_two_passes_at_once_send_each_row_once(engine: Engine, settings: Settings, receiver: Receiver):
    """A second pass running while the first is sending (it read the same batch): every row goes once."""
    configured = _hooked(settings, receiver.url)
    ids = [_alert(engine, configured, subject=f"source:198.51.100.{n}")[0] for n in range(3)]
    inner: list[int] = []

    class Reentrant(Transport):
        def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
            if not inner:  # during the first send, another pass: it must skip the row being sent
                inner.append(deliver_due(engine, configured, now=T0))
            return super().post(url, body, headers)

    with Reentrant(configured) as net:
        outer = deliver_due(engine, configured, now=T0, transport=net)
    assert inner == [2] and outer == 1  # the outer pass lost the two rows the inner one claimed
    assert sorted(json.loads(h.body)["id"] for h in receiver.hits) == ids
    assert [(r.state, r.attempts) for r in _rows(engine)] == [("sent", 1)] * 3


def test_two_threads_at_once_send_each_row_once(engine: Engine, settings: Settings, receiver: Receiver):
    configured = _hooked(settings, receiver.url)
    ids = [_alert(engine, configured, subject=f"source:198.51.100.{n}")[0] for n in range(8)]
    start, tried = threading.Barrier(2), []

    def one() -> None:
        start.wait(10)
        tried.append(deliver_due(engine, configured, now=T0))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(tried) == 8
    assert sorted(json.loads(h.body)["id"] for h in receiver.hits) == ids
    assert {(r.state, r.attempts) for r in _rows(engine)} == {("sent", 1)}


def test_a_channel_removed_from_the_settings_fails_its_rows(engine: Engine, settings: Settings):
    _alert(engine, _hooked(settings, "https://hooks.example.net/a"))
    assert deliver_due(engine, settings, now=T0) == 1
    [row] = _rows(engine)
    assert (row.state, row.last_error) == ("failed", "webhook is not configured any more")


def test_run_notifier_sends_until_stopped(engine: Engine, settings: Settings, receiver: Receiver):
    configured = _hooked(settings, receiver.url)
    with transaction(engine) as s:  # due now: the notifier runs on the real clock
        alert = Alert(rule="sip_bruteforce", severity="high", subject="source:203.0.113.9", source_ip="203.0.113.9",
                      first_seen=datetime.now(UTC), last_seen=datetime.now(UTC))  # fmt: skip
        s.add(alert)
        enqueue(s, alert, configured)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_notifier(configured, engine, stop, interval=0.2))
        assert await asyncio.to_thread(receiver.got.wait, 20)
        stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert [r.state for r in _rows(engine)] == ["sent"]


# -- the e-mail --------------------------------------------------------------------------------------------------


def test_the_email_reaches_the_smtp_server(engine: Engine, settings: Settings, mailbox: Mailbox):
    configured = _mailed(settings, mailbox)
    alert_id, _ = _alert(engine, configured)
    assert deliver_due(engine, configured, now=T0) == 1
    [(mail_from, rcpt_tos, _)] = mailbox.envelopes
    assert mail_from == "voip@example.net" and rcpt_tos == ["noc@example.net", "fraud@example.org"]
    msg = mailbox.message()
    assert msg["Subject"] == "[voipadmin] high alert: sip_bruteforce source:198.51.100.7"
    assert msg["To"] == "noc@example.net, fraud@example.org" and msg["From"] == "voip@example.net"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Voipadmin-Alert"] == str(alert_id)
    raw = msg.get_payload(decode=True)
    assert isinstance(raw, bytes)
    body = raw.decode(msg.get_content_charset() or "utf-8")
    for text in ("Alerte de sévérité haute / High-severity alert", "Règle / Rule: sip_bruteforce",
                 "Adresse source / Source address: 198.51.100.7", "Nombre / Count: 42",
                 "Dernière fois / Last seen: 2026-12-07T14:30:00Z", '"failures": 42',
                 f"http://localhost:8501/fraud?alert={alert_id}"):  # fmt: skip
        assert text in body
    [row] = _rows(engine)
    assert (row.state, row.sent_at) == ("sent", T0)


def test_the_email_over_starttls_with_a_login(engine: Engine, settings: Settings, tls_mailbox: Mailbox,
                                              tls_pair: tuple[Path, Path]):  # fmt: skip
    configured = _mailed(settings, tls_mailbox, alert_smtp_starttls=True, alert_smtp_user=SMTP_USER,
                         alert_smtp_password=SMTP_PASSWORD)  # fmt: skip
    _alert(engine, configured)
    trust = ssl.create_default_context(cafile=str(tls_pair[0]))  # the relay's own certificate, checked
    with Transport(configured, ssl_context=trust) as net:
        assert deliver_due(engine, configured, now=T0, transport=net) == 1
    assert tls_mailbox.logins and len(tls_mailbox.envelopes) == 1
    assert [r.state for r in _rows(engine)] == ["sent"]


def test_a_wrong_smtp_password_is_retried_and_not_quoted(engine: Engine, settings: Settings, tls_mailbox: Mailbox,
                                                         tls_pair: tuple[Path, Path]):  # fmt: skip
    wrong = "wrong-pw-99aa"
    configured = _mailed(settings, tls_mailbox, alert_smtp_starttls=True, alert_smtp_user=SMTP_USER,
                         alert_smtp_password=wrong)  # fmt: skip
    _alert(engine, configured)
    with Transport(configured, ssl_context=ssl.create_default_context(cafile=str(tls_pair[0]))) as net:
        deliver_due(engine, configured, now=T0, transport=net)
    [row] = _rows(engine)
    assert (row.state, row.attempts) == ("pending", 1) and tls_mailbox.envelopes == []
    assert row.last_error.startswith(f"e-mail via 127.0.0.1:{tls_mailbox.port}: SMTPAuthenticationError")
    assert wrong not in row.last_error


def test_starttls_to_an_untrusted_certificate_is_refused(engine: Engine, settings: Settings, tls_mailbox: Mailbox):
    configured = _mailed(settings, tls_mailbox, alert_smtp_starttls=True, alert_smtp_user=SMTP_USER,
                         alert_smtp_password=SMTP_PASSWORD)  # fmt: skip
    _alert(engine, configured)
    deliver_due(engine, configured, now=T0)  # the system's trust store: a self-signed relay is not in it
    [row] = _rows(engine)
    assert row.state == "pending" and "SSLCertVerificationError" in row.last_error
    assert tls_mailbox.logins == [] and SMTP_PASSWORD not in row.last_error


def test_no_smtp_server_is_a_retry(engine: Engine, settings: Settings):
    configured = _mailed(settings, Mailbox(port=free_port()))
    _alert(engine, configured)
    deliver_due(engine, configured, now=T0)
    [row] = _rows(engine)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in row.last_error


def test_a_subject_cannot_inject_mail_headers(settings: Settings):
    alert = Alert(id=7, rule="new_country", severity="high", subject="device:1\r\nBcc: evil@example.com", state="open",
                  vpbx_id=1, source_ip="", detail="", first_seen=T0, last_seen=T0, count=1)  # fmt: skip
    msg = alert_notify.email_message(alert, _mailed(settings, Mailbox(port=2525)))
    assert msg["Bcc"] is None and "\n" not in msg["Subject"]


# -- the settings ------------------------------------------------------------------------------------------------

HOOK = {"VOIPADMIN_ALERT_WEBHOOK_URL": "https://hooks.example.net/voip", "VOIPADMIN_ALERT_WEBHOOK_SECRET": SECRET}
MAIL = {"VOIPADMIN_ALERT_SMTP_HOST": "mail.example.net", "VOIPADMIN_ALERT_EMAIL_FROM": "voip@example.net",
        "VOIPADMIN_ALERT_EMAIL_TO": "noc@example.net"}  # fmt: skip


def test_the_alert_settings_are_read_from_the_environment():
    s = Settings.from_env({
        **HOOK, **MAIL, "VOIPADMIN_ALERT_SMTP_PORT": "587", "VOIPADMIN_ALERT_SMTP_STARTTLS": "1",
        "VOIPADMIN_ALERT_SMTP_USER": SMTP_USER, "VOIPADMIN_ALERT_SMTP_PASSWORD": SMTP_PASSWORD,
        "VOIPADMIN_ALERT_EMAIL_TO": " noc@example.net, fraud@example.org ,",
        "VOIPADMIN_DASHBOARD_URL": "https://admin.example.net",
    })  # fmt: skip
    assert (s.alert_webhook_url, s.alert_webhook_secret) == ("https://hooks.example.net/voip", SECRET)
    assert (s.alert_smtp_host, s.alert_smtp_port, s.alert_smtp_starttls) == ("mail.example.net", 587, True)
    assert (s.alert_smtp_user, s.alert_smtp_password) == (SMTP_USER, SMTP_PASSWORD)
    assert s.alert_email_to == ("noc@example.net", "fraud@example.org")
    assert s.dashboard_url == "https://admin.example.net" and channels(s) == ("webhook", "email")
    default = Settings.from_env({"VOIPADMIN_DASHBOARD_PORT": "8600"})
    assert default.dashboard_url == "http://localhost:8600" and channels(default) == ()
    assert (default.alert_smtp_port, default.alert_smtp_starttls) == (25, False)
    local = Settings.from_env({**HOOK, "VOIPADMIN_ALERT_WEBHOOK_URL": "http://127.0.0.1:9000/hook"})
    assert channels(local) == ("webhook",)  # plain http to this machine is fine


@pytest.mark.parametrize(
    "env, name",
    [
        ({"VOIPADMIN_ALERT_WEBHOOK_URL": "https://hooks.example.net/voip"}, "VOIPADMIN_ALERT_WEBHOOK_SECRET"),
        ({**HOOK, "VOIPADMIN_ALERT_WEBHOOK_SECRET": "short"}, "VOIPADMIN_ALERT_WEBHOOK_SECRET"),
        ({"VOIPADMIN_ALERT_WEBHOOK_SECRET": SECRET}, "VOIPADMIN_ALERT_WEBHOOK_URL"),
        ({**HOOK, "VOIPADMIN_ALERT_WEBHOOK_URL": "http://hooks.example.net/voip"}, "VOIPADMIN_ALERT_WEBHOOK_URL"),
        ({**HOOK, "VOIPADMIN_ALERT_WEBHOOK_URL": "ftp://hooks.example.net/"}, "VOIPADMIN_ALERT_WEBHOOK_URL"),
        ({**HOOK, "VOIPADMIN_ALERT_WEBHOOK_URL": "https://h.example.net:99999/"}, "VOIPADMIN_ALERT_WEBHOOK_URL"),
        ({**MAIL, "VOIPADMIN_ALERT_SMTP_PORT": "smtp"}, "VOIPADMIN_ALERT_SMTP_PORT"),
        ({**MAIL, "VOIPADMIN_ALERT_SMTP_STARTTLS": "maybe"}, "VOIPADMIN_ALERT_SMTP_STARTTLS"),
        ({**MAIL, "VOIPADMIN_ALERT_SMTP_HOST": "mail example"}, "VOIPADMIN_ALERT_SMTP_HOST"),
        ({**MAIL, "VOIPADMIN_ALERT_EMAIL_TO": "noc@example.net, not-an-address"}, "VOIPADMIN_ALERT_EMAIL_TO"),
        ({**MAIL, "VOIPADMIN_ALERT_EMAIL_TO": "noc@example.net\nBcc: x@example.com"}, "VOIPADMIN_ALERT_EMAIL_TO"),
        ({**MAIL, "VOIPADMIN_ALERT_EMAIL_TO": ""}, "VOIPADMIN_ALERT_EMAIL_TO"),
        ({**MAIL, "VOIPADMIN_ALERT_EMAIL_FROM": ""}, "VOIPADMIN_ALERT_EMAIL_FROM"),
        ({**MAIL, "VOIPADMIN_ALERT_EMAIL_FROM": "voip at example"}, "VOIPADMIN_ALERT_EMAIL_FROM"),
        ({"VOIPADMIN_ALERT_EMAIL_TO": "noc@example.net"}, "VOIPADMIN_ALERT_SMTP_HOST"),
        ({**MAIL, "VOIPADMIN_ALERT_SMTP_USER": "u"}, "VOIPADMIN_ALERT_SMTP_PASSWORD"),
        (
            {**MAIL, "VOIPADMIN_ALERT_SMTP_USER": "u", "VOIPADMIN_ALERT_SMTP_PASSWORD": "p"},
            "VOIPADMIN_ALERT_SMTP_STARTTLS",
        ),
        ({"VOIPADMIN_DASHBOARD_URL": "admin.example.net"}, "VOIPADMIN_DASHBOARD_URL"),
        ({"VOIPADMIN_DASHBOARD_URL": "https://u:pw@admin.example.net/"}, "VOIPADMIN_DASHBOARD_URL"),
    ],
)
def test_bad_alert_settings_name_the_variable(env: dict[str, str], name: str):
    with pytest.raises(SettingsError, match=name) as caught:
        Settings.from_env(env)
    for secret in (SECRET, SMTP_PASSWORD, "pw@"):
        assert secret not in str(caught.value)


def test_a_settings_repr_hides_the_secret_the_password_and_the_webhook_url():
    s = Settings.from_env({**HOOK, **MAIL, "VOIPADMIN_ALERT_SMTP_STARTTLS": "1", "VOIPADMIN_ALERT_SMTP_USER": SMTP_USER,
                           "VOIPADMIN_ALERT_SMTP_PASSWORD": SMTP_PASSWORD})  # fmt: skip
    text = repr(s) + str(s)
    assert SECRET not in text and SMTP_PASSWORD not in text and "hooks.example.net" not in text
    assert "mail.example.net" in text  # the rest stays readable
