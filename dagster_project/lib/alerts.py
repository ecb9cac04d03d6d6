"""Alerts: one call, `send(kind, key, title, text)`, delivers a message to every configured channel.

Channels (lib/settings.py, all optional, any combination):
- a generic JSON webhook: POST `{"kind", "key", "title", "text", "sent_at"}` to CUR_ALERT_WEBHOOK_URL;
- the Telegram Bot API: `sendMessage` to CUR_ALERT_TELEGRAM_CHAT_ID with CUR_ALERT_TELEGRAM_BOT_TOKEN, at
  CUR_ALERT_TELEGRAM_API_URL (default https://api.telegram.org; a local stand-in in tests);
- e-mail over SMTP: CUR_ALERT_SMTP_HOST/_PORT/_STARTTLS/_USER/_PASSWORD, from CUR_ALERT_EMAIL_FROM to
  CUR_ALERT_EMAIL_TO.

De-duplication: a key (e.g. `run_failure:warehouse_build`, `stale_source:sed_appeals`) reaches a channel at most once
per CUR_ALERT_DEDUP_MINUTES (default 120). The memory is a small SQLite file beside the Dagster instance
(paths.alerts_state_path), shared by the daemon's sensors and the runs, and it survives restarts. It is kept per
channel: when one channel is down, the others are not repeated at the next attempt and the failed one is retried.
"""

import json
import logging
import smtplib
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx

from dagster_project.lib import paths, settings

log = logging.getLogger(__name__)

# What alerts are about (the webhook's `kind`, the first word of the e-mail subject).
KINDS = ("run_failure", "check_failure", "stale_source", "quarantine_spike", "problem_spike", "test")
TIMEOUT_S = 10


class AlertDeliveryError(RuntimeError):
    """At least one configured channel refused or could not be reached (the others were delivered)."""


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)  # channels that got the message now
    suppressed: list[str] = field(default_factory=list)  # channels that got the same key within the window
    failed: dict[str, str] = field(default_factory=dict)  # channel → error


def _post_webhook(url: str, payload: dict) -> None:
    response = httpx.post(url, json=payload, timeout=TIMEOUT_S)
    response.raise_for_status()


def _post_telegram(api_url: str, token: str, chat_id: str, message: str) -> None:
    response = httpx.post(
        f"{api_url}/bot{token}/sendMessage", json={"chat_id": chat_id, "text": message}, timeout=TIMEOUT_S
    )
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200 or not body.get("ok"):
        raise RuntimeError(f"Telegram answered {response.status_code}: {body.get('description', response.text[:200])}")


def _send_email(smtp: dict, subject: str, body: str) -> None:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, smtp["sender"], ", ".join(smtp["recipients"])
    message.set_content(body)
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=TIMEOUT_S) as client:
        if smtp["starttls"]:
            client.starttls()
        if smtp["user"]:
            client.login(smtp["user"], smtp["password"] or "")
        client.send_message(message)


def _channels(kind: str, key: str, title: str, text: str, sent_at: datetime) -> dict:
    """channel name → a callable delivering the message, for every configured channel."""
    channels = {}
    if url := settings.alert_webhook_url():
        payload = {"kind": kind, "key": key, "title": title, "text": text, "sent_at": sent_at.isoformat()}
        channels["webhook"] = lambda: _post_webhook(url, payload)
    if telegram := settings.alert_telegram():
        channels["telegram"] = lambda: _post_telegram(*telegram, f"ЦУР · {title}\n\n{text}")
    if smtp := settings.alert_smtp():
        channels["email"] = lambda: _send_email(smtp, f"[ЦУР {kind}] {title}", text)
    return channels


def _memory() -> sqlite3.Connection:
    path = paths.alerts_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30)
    con.execute(
        "create table if not exists alerts_sent (key text, channel text, sent_at text, primary key (key, channel))"
    )
    return con


def send(kind: str, key: str, title: str, text: str) -> Delivery:
    """Deliver an alert to every configured channel that has not had `key` within the de-duplication window.

    Raises AlertDeliveryError after trying every channel when one of them failed (a sensor or run shows the error);
    with no channel configured the alert is only logged.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}, expected one of {KINDS}")
    now = datetime.now(UTC)
    since = (now - timedelta(minutes=settings.alert_dedup_minutes())).isoformat()
    channels = _channels(kind, key, title, text, now)
    delivery = Delivery()
    if not channels:
        log.warning("alert %s (%s) not sent, no channel configured: %s — %s", kind, key, title, text)
        return delivery
    with closing(_memory()) as con:
        for name, deliver in channels.items():
            recent = con.execute(
                "select 1 from alerts_sent where key = ? and channel = ? and sent_at > ?", [key, name, since]
            ).fetchone()
            if recent:
                delivery.suppressed.append(name)
                continue
            try:
                deliver()
            except Exception as error:  # one channel down must not keep the message from the others
                delivery.failed[name] = f"{type(error).__name__}: {error}"
                continue
            with con:
                con.execute("insert or replace into alerts_sent values (?, ?, ?)", [key, name, now.isoformat()])
            delivery.sent.append(name)
    log.info("alert %s (%s): sent %s, suppressed %s", kind, key, delivery.sent, delivery.suppressed)
    if delivery.failed:
        raise AlertDeliveryError(
            f"alert {key!r} not delivered to {json.dumps(delivery.failed, ensure_ascii=False)}"
            f" (sent to {delivery.sent or 'none'})"
        )
    return delivery


if __name__ == "__main__":
    # `python -m dagster_project.lib.alerts`: a test message to every configured channel (is the wiring right?).
    logging.basicConfig(level=logging.INFO)
    result = send(
        "test",
        f"test:{datetime.now(UTC).isoformat()}",
        "проверка канала оповещений",
        "Тестовое сообщение платформы ЦУР: каналы оповещений настроены.",
    )
    print(f"sent to: {', '.join(result.sent) or 'no channel configured'}")
