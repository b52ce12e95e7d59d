"""Log handler and format; configured once by the CLI."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "warning", log_format: str = "text") -> None:
    """Send the tracker's logs to stderr at ``level`` in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # GitPython logs every command and filelock every lock at DEBUG: too much
    # even for --log-level debug, which is for the tracker's own steps.
    for noisy in ("git", "filelock"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
    # slack_sdk logs each request (message text included) and each retry;
    # the tracker logs deliveries and failures itself.
    # Its connection errors are logged at ERROR before they reach us; ours
    # say the same in one line.
    logging.getLogger("slack_sdk").setLevel(max(root.level, logging.CRITICAL))
