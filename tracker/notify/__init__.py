"""Notifiers, by the channel ``type`` that selects them in the config."""

from tracker.notify.email import EmailNotifier
from tracker.notify.slack import SlackNotifier, SlackWebhookNotifier

NOTIFIER_KINDS: dict[str, type] = {
    "slack": SlackNotifier,
    "slack_webhook": SlackWebhookNotifier,
    "email": EmailNotifier,
}
