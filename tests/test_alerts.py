"""Alerts reach a real HTTP webhook, a stand-in of the Telegram Bot API and a real SMTP server, once per key and
window."""

import json
import socket
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from dagster_project.lib import alerts, paths

BOT_TOKEN = "123456:test-bot-token"


class Receiver:
    """One local HTTP server: `/hook` is the webhook, `/bot<token>/sendMessage` the Telegram Bot API."""

    def __init__(self):
        self.webhook, self.telegram, self.fail_webhook = [], [], False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/hook":
                    if receiver.fail_webhook:
                        return self._answer(503, {"error": "down"})
                    receiver.webhook.append(body)
                    return self._answer(200, {})
                if self.path == f"/bot{BOT_TOKEN}/sendMessage":
                    receiver.telegram.append(body)
                    return self._answer(200, {"ok": True, "result": {"message_id": len(receiver.telegram)}})
                self._answer(404, {"ok": False, "description": "Not Found"})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode("utf-8")))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's Controller checks its own port, so it needs a real one, not 0
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receivers(tmp_path, monkeypatch):
    http, mailbox = Receiver(), Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv("CUR_ALERT_DEDUP_MINUTES", raising=False)
    monkeypatch.setenv("CUR_ALERT_WEBHOOK_URL", f"{http.url}/hook")
    monkeypatch.setenv("CUR_ALERT_TELEGRAM_API_URL", http.url)
    monkeypatch.setenv("CUR_ALERT_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("CUR_ALERT_TELEGRAM_CHAT_ID", "-100777")
    monkeypatch.setenv("CUR_ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CUR_ALERT_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("CUR_ALERT_EMAIL_FROM", "cur@example.org")
    monkeypatch.setenv("CUR_ALERT_EMAIL_TO", "duty@example.org, chief@example.org")
    yield http, mailbox
    smtp.stop()
    http.server.shutdown()


def test_an_alert_reaches_every_channel(receivers):
    http, mailbox = receivers
    delivery = alerts.send(
        "run_failure",
        "run_failure:warehouse_build",
        "Сбой запуска warehouse_build",
        "run 1f2e: step cur_dbt_models failed",
    )
    assert sorted(delivery.sent) == ["email", "telegram", "webhook"]
    assert len(http.webhook) == 1
    hook = http.webhook[0]
    assert (hook["kind"], hook["key"], hook["title"]) == (
        "run_failure",
        "run_failure:warehouse_build",
        "Сбой запуска warehouse_build",
    )
    assert hook["text"] == "run 1f2e: step cur_dbt_models failed"
    assert http.telegram == [
        {"chat_id": "-100777", "text": "ЦУР · Сбой запуска warehouse_build\n\nrun 1f2e: step cur_dbt_models failed"}
    ]
    assert len(mailbox.messages) == 1
    sender, recipients, content = mailbox.messages[0]
    assert sender == "cur@example.org" and recipients == ["duty@example.org", "chief@example.org"]
    assert "Subject: =?utf-8?" in content  # Cyrillic subject, RFC 2047 encoded
    assert "run 1f2e: step cur_dbt_models failed" in content


def test_the_same_key_is_sent_once_per_window(receivers, monkeypatch):
    http, mailbox = receivers
    alerts.send("stale_source", "stale_source:sed_appeals", "Нет данных СЭД", "30 h")
    second = alerts.send("stale_source", "stale_source:sed_appeals", "Нет данных СЭД", "31 h")
    assert second.sent == [] and sorted(second.suppressed) == ["email", "telegram", "webhook"]
    other = alerts.send("stale_source", "stale_source:portal_appeals", "Нет данных портала", "30 h")
    assert len(other.sent) == 3
    assert [m["key"] for m in http.webhook] == ["stale_source:sed_appeals", "stale_source:portal_appeals"]
    assert len(http.telegram) == 2 and len(mailbox.messages) == 2
    # The window ends: an entry older than the default 120 minutes lets the key through again.
    with sqlite3.connect(paths.alerts_state_path()) as con:
        con.execute(
            "update alerts_sent set sent_at = ? where key = 'stale_source:sed_appeals'",
            [(datetime.now(UTC) - timedelta(minutes=121)).isoformat()],
        )
    again = alerts.send("stale_source", "stale_source:sed_appeals", "Нет данных СЭД", "32 h")
    assert len(again.sent) == 3 and http.webhook[-1]["text"] == "32 h"
    monkeypatch.setenv("CUR_ALERT_DEDUP_MINUTES", "0")
    with pytest.raises(ValueError, match="at least 1"):
        alerts.send("stale_source", "stale_source:sed_appeals", "Нет данных СЭД", "33 h")


def test_a_channel_that_is_down_is_retried_while_the_others_are_not_repeated(receivers):
    http, mailbox = receivers
    http.fail_webhook = True
    with pytest.raises(alerts.AlertDeliveryError, match="webhook.*503"):
        alerts.send("check_failure", "check_failure:fct_appeals:unique_id", "Проверка не пройдена", "3 дубля")
    assert len(http.telegram) == 1 and len(mailbox.messages) == 1 and http.webhook == []
    http.fail_webhook = False
    retry = alerts.send("check_failure", "check_failure:fct_appeals:unique_id", "Проверка не пройдена", "3 дубля")
    assert retry.sent == ["webhook"] and sorted(retry.suppressed) == ["email", "telegram"]
    assert len(http.webhook) == 1 and len(http.telegram) == 1 and len(mailbox.messages) == 1


def test_telegram_refusal_is_an_error(receivers, monkeypatch):
    monkeypatch.setenv("CUR_ALERT_TELEGRAM_BOT_TOKEN", "wrong-token")
    with pytest.raises(alerts.AlertDeliveryError, match="telegram.*404: Not Found"):
        alerts.send("quarantine_spike", "quarantine_spike:portal_appeals", "Всплеск карантина", "12 %")


def test_without_channels_nothing_is_sent_and_unknown_kinds_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for name in ("CUR_ALERT_WEBHOOK_URL", "CUR_ALERT_TELEGRAM_BOT_TOKEN", "CUR_ALERT_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert alerts.send("run_failure", "k", "t", "x").sent == []
    with pytest.raises(ValueError, match="unknown alert kind"):
        alerts.send("something", "k", "t", "x")
