"""Load and validate the TOML configuration into typed settings.

The file is found from ``--config``, else ``$TRACKER_CONFIG``, else
``./tracker.toml``. Every key is checked at start-up; an unknown key, a
missing key or a bad value is one ConfigError naming the file, the key and
what to write instead.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tracker.errors import ConfigError
from tracker.parsing import (
    DEFAULT_COMPLETED_HEADINGS,
    DEFAULT_UPCOMING_HEADINGS,
    PageHints,
)

CONFIG_ENV = "TRACKER_CONFIG"
DEFAULT_CONFIG_NAME = "tracker.toml"


def check_zone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone, else raise ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; write an IANA name such as "
            "'America/New_York' or 'UTC'"
        ) from None
    return name


def check_patterns(patterns: list[str]) -> list[str]:
    """Return ``patterns`` if each is a valid regular expression."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"bad regular expression {pattern!r}: {error}") from None
    return patterns


Zone = Annotated[str, AfterValidator(check_zone)]
Patterns = Annotated[list[str], AfterValidator(check_patterns)]


class Settings(BaseModel):
    """Base of every config table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackerSettings(Settings):
    """The ``[tracker]`` table: where state lives and the default zone."""

    data_dir: Path | None = None
    timezone: Zone = "UTC"


class DaemonSettings(Settings):
    """The ``[daemon]`` table: what ``tracker run`` serves besides its work."""

    health_address: str | None = "127.0.0.1:9465"


# Names the database, overriding [database] url: it may carry a password.
DATABASE_URL_VARIABLE = "TRACKER_DATABASE_URL"


class DatabaseSettings(Settings):
    """The ``[database]`` table."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            make_url(url)
        except ArgumentError:
            raise ValueError(
                "not a database URL; write e.g. 'sqlite:////var/lib/tracker/tracker.db' "
                "or 'postgresql+psycopg://user@host/db'"
            ) from None
        return url


GITHUB_REPO = re.compile(
    r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<repo>[\w.-]+/[\w.-]+?)(?:\.git)?/?$"
)


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is a valid regular expression."""
    return check_patterns([pattern])[0]


Pattern = Annotated[str, AfterValidator(check_pattern)]


class SourceHints(Settings):
    """The ``[sources.hints]`` table: what page detection cannot guess.

    Patterns are case-insensitive regular expressions; see
    ``tracker.parsing.PageHints`` for what each selects.
    """

    sections: Patterns = Field(default_factory=list)
    tables: Patterns = Field(default_factory=list)
    key_column: Pattern | None = None
    date_columns: Patterns = Field(default_factory=list)
    shapes: list[Literal["tables", "headings", "items"]] = Field(default_factory=list)

    def page_hints(self) -> PageHints:
        """The hints as the page parser takes them."""
        return PageHints.build(
            sections=self.sections,
            tables=self.tables,
            key_column=self.key_column,
            date_columns=self.date_columns,
            shapes=self.shapes,
        )


class SourceSettings(Settings):
    """One ``[[sources]]`` entry: a page to track."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    type: Literal["git", "feed"] = "git"
    repo: str = ""
    branch: str | None = None
    path: str = ""
    url: str | None = None
    timezone: Zone | None = None
    format: Literal["auto", "markdown", "html", "rst"] = "auto"
    page_url: str | None = None
    interval: Duration = "15m"
    cron: str | None = None
    jitter: Duration = "30s"
    commits_feed: str = "auto"
    full_fetch_every: Duration = "6h"
    upcoming_headings: Patterns = Field(default=list(DEFAULT_UPCOMING_HEADINGS))
    completed_headings: Patterns = Field(default=list(DEFAULT_COMPLETED_HEADINGS))
    hints: SourceHints = Field(default_factory=SourceHints)
    max_removed_fraction: float = Field(
        default=0.5, gt=0.0, le=1.0, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceSettings:
        if self.type == "git":
            missing = [key for key in ("repo", "path") if not getattr(self, key)]
            if missing:
                raise ValueError(
                    f"a git source needs {' and '.join(missing)} "
                    '(or type = "feed" with url)'
                )
            if self.url is not None:
                raise ValueError(
                    "url is for feed sources; a git source has repo and path"
                )
        else:
            if self.url is None:
                raise ValueError("a feed source needs url, the feed's http(s) address")
            if self.repo or self.path or self.branch:
                raise ValueError("a feed source has url only, not repo, path or branch")
        return self

    @field_validator("url", "commits_feed")
    @classmethod
    def _check_http_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None or (
            info.field_name == "commits_feed" and url in ("auto", "off")
        ):
            return url
        if not url.startswith(("https://", "http://")):
            hint = ', "auto" or "off"' if info.field_name == "commits_feed" else ""
            raise ValueError(f"{url!r} is not an http(s) URL{hint}")
        return url

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, cron: str | None) -> str | None:
        if cron is None:
            return None
        from apscheduler.triggers.cron import CronTrigger

        try:
            trigger = CronTrigger.from_crontab(cron, timezone="UTC")
        except ValueError as error:
            raise ValueError(
                f"bad cron expression {cron!r} ({error}); write five fields, "
                "e.g. '*/20 * * * *'"
            ) from None
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError(
                f"cron expression {cron!r} never fires; check its day and month"
            )
        return cron

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, interval: str) -> str:
        if parse_duration(interval) < timedelta(seconds=1):
            raise ValueError(
                f"interval {interval!r} is too short; syncs must be at least a "
                "second apart, e.g. '15m'"
            )
        return interval

    def feed_to_poll(self) -> str | None:
        """The feed polled before each git fetch, or None to always fetch.

        "auto" is GitHub's Atom feed of the commits touching the page, for a
        repository on github.com with a branch set.
        """
        if self.type != "git" or self.commits_feed == "off":
            return None
        if self.commits_feed != "auto":
            return self.commits_feed
        github = GITHUB_REPO.match(self.repo)
        if github is None or self.branch is None:
            return None
        return (
            f"https://github.com/{github.group('repo')}/commits/"
            f"{quote(self.branch)}/{quote(self.path)}.atom"
        )

    @field_validator("repo")
    @classmethod
    def _check_repo(cls, repo: str) -> str:
        if not repo:
            return repo
        from tracker.sources.git import check_repo_url

        try:
            check_repo_url(repo)
        except ConfigError as error:
            raise ValueError(str(error).removeprefix("config: ")) from None
        return repo

    @field_validator("page_url")
    @classmethod
    def _check_page_url(cls, page_url: str | None) -> str | None:
        if page_url is None:
            return None
        if not page_url.startswith(("https://", "http://")):
            raise ValueError(f"{page_url!r} is not an http(s) URL")
        try:
            page_url.format(commit="c", path="p")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"{page_url!r} may only use {{commit}} and {{path}} as placeholders"
            ) from None
        return page_url

    def page_link(self, commit: str, path: str) -> str | None:
        """A web link to the page at ``commit``: ``page_url``, or GitHub's."""
        if self.page_url is not None:
            return self.page_url.format(commit=commit, path=path)
        github = GITHUB_REPO.match(self.repo)
        if github is None:
            return None
        return f"https://github.com/{github.group('repo')}/blob/{commit}/{path}"

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not path:
            return path
        if path.startswith("/") or ".." in Path(path).parts:
            raise ValueError(
                f"{path!r} must be relative to the repository root, "
                "like 'docs/changes.md'"
            )
        return path


def check_clock(text: str) -> str:
    """Return ``text`` if it is a time of day written HH:MM (24-hour)."""
    if not CLOCK.match(text):
        raise ValueError(
            f"bad time of day {text!r}; write HH:MM, e.g. '09:00' or '17:30'"
        )
    return text


def check_duration(text: str) -> str:
    """Return ``text`` if it reads as a duration."""
    parse_duration(text)
    return text


CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Clock = Annotated[str, AfterValidator(check_clock)]
Duration = Annotated[str, AfterValidator(check_duration)]
EventName = Literal["added", "rescheduled", "moved", "removed", "edited"]
Weekday = Literal[
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
]


DEFAULT_EVENTS: tuple[EventName, ...] = ("added", "rescheduled", "moved", "removed")


class NotifySettings(Settings):
    """The ``[notify]`` table: defaults and limits for every channel."""

    reminder_time: Clock = "09:00"
    late_grace: Duration = "6h"
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_delay: Duration = "1m"
    templates_dir: Path | None = None
    source_failing_after: int = Field(default=3, ge=1, le=1000)
    source_stale_after: Duration = "1d"


class DigestSettings(Settings):
    """A channel's ``digest`` table."""

    schedule: Literal["daily", "weekly"]
    time: Clock = "09:00"
    weekday: Weekday = "monday"
    horizon: Duration = "30d"


class QuietHours(Settings):
    """A channel's ``quiet_hours`` table: a local-time window, maybe over midnight."""

    start: Clock
    end: Clock


class ChannelBase(Settings):
    """What every ``[[channels]]`` entry has: what it gets and when."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    sources: list[str] | None = None
    events: list[EventName] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    reminders: list[Duration] = Field(default_factory=list)

    @field_validator("reminders")
    @classmethod
    def _check_distinct_leads(cls, reminders: list[str]) -> list[str]:
        seen: dict[timedelta, str] = {}
        for lead in reminders:
            other = seen.setdefault(parse_duration(lead), lead)
            if other is not lead:
                raise ValueError(
                    f"{other!r} and {lead!r} are the same lead time; keep one"
                )
        return reminders

    reminder_time: Clock | None = None
    digest: DigestSettings | None = None
    timezone: Zone = "UTC"
    keywords: list[str] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None


class SlackChannel(ChannelBase):
    """A Slack channel, posted to by a bot with chat.postMessage."""

    type: Literal["slack"]
    channel: str = Field(min_length=1)
    token_env: str | None = None
    token_file: Path | None = None
    base_url: str | None = None

    @model_validator(mode="after")
    def _check_token(self) -> SlackChannel:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError(
                f"channel {self.name!r} needs exactly one of token_env (the name of "
                "an environment variable holding the bot token) or token_file"
            )
        return self


class SlackWebhookChannel(ChannelBase):
    """A Slack incoming webhook."""

    type: Literal["slack_webhook"]
    url_env: str = Field(min_length=1)


class EmailChannel(ChannelBase):
    """Mail through an SMTP server."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0, le=600)
    ca_file: Path | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _check_login_is_encrypted(self) -> EmailChannel:
        if self.security == "none" and (self.username_env or self.password_env):
            raise ValueError(
                f"channel {self.name!r} would send its SMTP password in clear; "
                "set security to 'starttls' or 'ssl'"
            )
        return self

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, sender: str) -> str:
        return check_address(sender)

    @field_validator("to")
    @classmethod
    def _check_recipients(cls, to: list[str]) -> list[str]:
        return [check_address(address) for address in to]

    @property
    def smtp_port(self) -> int:
        """The port: as set, else the usual one for the security mode."""
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


def check_address(text: str) -> str:
    """Return ``text`` if it is one mail address, maybe with a display name."""
    found = getaddresses([text])
    address = found[0][1] if len(found) == 1 else ""
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or not address.isascii()
        or any(character in text for character in "\r\n,")
    ):
        raise ValueError(
            f"{text!r} is not a mail address; write e.g. 'team@example.com' or "
            "'Team <team@example.com>'"
        )
    return text


Channel = Annotated[
    SlackChannel | SlackWebhookChannel | EmailChannel, Field(discriminator="type")
]


class Config(Settings):
    """The whole configuration file."""

    tracker: TrackerSettings = TrackerSettings()
    database: DatabaseSettings = DatabaseSettings()
    daemon: DaemonSettings = DaemonSettings()
    notify: NotifySettings = NotifySettings()
    sources: list[SourceSettings] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_names(self) -> Config:
        for kind, names in (
            ("sources", [source.name for source in self.sources]),
            ("channels", [channel.name for channel in self.channels]),
        ):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(
                    f"two {kind} are named {repeated[0]!r}; give each a unique name"
                )
        known = {source.name for source in self.sources}
        for channel in self.channels:
            unknown = sorted(set(channel.sources or []) - known)
            if unknown:
                raise ValueError(
                    f"channel {channel.name!r} names unknown source {unknown[0]!r} in "
                    "its sources; "
                    f"sources: {', '.join(sorted(known)) or 'none configured'}"
                )
        return self

    @property
    def path(self) -> Path | None:
        """The file this configuration was read from, if any."""
        return self._path

    @property
    def data_dir(self) -> Path:
        """Where the default SQLite database and the git caches live."""
        if self.tracker.data_dir is not None:
            return self.tracker.data_dir
        return Path(platformdirs.user_data_dir("tracker", appauthor=False))

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the store.

        ``$TRACKER_DATABASE_URL`` wins over the file, so that a password
        need not be written in it.
        """
        from_environment = os.environ.get(DATABASE_URL_VARIABLE, "").strip()
        if from_environment:
            return from_environment
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_dir / 'tracker.db'}"

    @property
    def cache_dir(self) -> Path:
        """Where source caches (git clones) are kept."""
        return self.data_dir / "cache"

    def source(self, name: str) -> SourceSettings:
        """Return the source called ``name``; ConfigError lists the known ones."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"no source named {name!r}; sources: {known}")

    def channel(self, name: str) -> SlackChannel | SlackWebhookChannel | EmailChannel:
        """Return the channel called ``name``; ConfigError lists the known ones."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.channels) or "none configured"
        raise ConfigError(f"no channel named {name!r}; channels: {known}")

    def source_zone(self, source: SourceSettings) -> ZoneInfo:
        """The zone a source's dates without a zone are read in."""
        return ZoneInfo(source.timezone or self.tracker.timezone)


def find_config_path(explicit: Path | None) -> Path:
    """Pick the config file: the argument, ``$TRACKER_CONFIG``, ``./tracker.toml``."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_CONFIG_NAME)


def load_config(explicit: Path | None = None) -> Config:
    """Read and validate the configuration file.

    Relative paths in the file (``repo``, ``data_dir``, a SQLite URL) are
    resolved against the file's folder, so the file can be used from anywhere.
    """
    path = find_config_path(explicit)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; pass --config PATH, set "
            f"{CONFIG_ENV}, or copy config.example.toml to ./{DEFAULT_CONFIG_NAME}"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path}: not valid TOML: {error}") from None

    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(path, raw, error)) from None
    return resolve_relative_paths(config, path)


def resolve_relative_paths(config: Config, path: Path) -> Config:
    """Make the file's relative paths relative to the file's folder."""
    base = path.resolve().parent
    tracker = config.tracker
    if tracker.data_dir is not None and not tracker.data_dir.is_absolute():
        tracker = tracker.model_copy(update={"data_dir": base / tracker.data_dir})
    sources = [
        source.model_copy(update={"repo": resolve_repo(source.repo, base)})
        for source in config.sources
    ]
    database = config.database
    if database.url is not None:
        database = database.model_copy(
            update={"url": resolve_sqlite_url(database.url, base)}
        )
    notify = config.notify.model_copy(
        update={"templates_dir": resolve_path(config.notify.templates_dir, base)}
    )
    channels = [resolve_channel_paths(channel, base) for channel in config.channels]
    resolved = config.model_copy(
        update={
            "tracker": tracker,
            "sources": sources,
            "database": database,
            "notify": notify,
            "channels": channels,
        }
    )
    resolved._path = path
    return resolved


def resolve_path(value: Path | None, base: Path) -> Path | None:
    """``value`` made absolute against ``base`` (``~`` expanded)."""
    if value is None:
        return None
    value = value.expanduser()
    return value if value.is_absolute() else base / value


def resolve_channel_paths(
    channel: SlackChannel | SlackWebhookChannel | EmailChannel, base: Path
) -> SlackChannel | SlackWebhookChannel | EmailChannel:
    """A channel with its file paths (token_file, ca_file) made absolute."""
    if isinstance(channel, SlackChannel):
        return channel.model_copy(
            update={"token_file": resolve_path(channel.token_file, base)}
        )
    if isinstance(channel, EmailChannel):
        return channel.model_copy(
            update={"ca_file": resolve_path(channel.ca_file, base)}
        )
    return channel


def resolve_sqlite_url(url: str, base: Path) -> str:
    """Resolve a SQLite URL's relative file path against ``base``."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if Path(database).expanduser().is_absolute():
        return url
    return parsed.set(database=str(base / database)).render_as_string(
        hide_password=False
    )


def resolve_repo(repo: str, base: Path) -> str:
    """Resolve a relative local repository path against ``base``."""
    if (
        "://" in repo
        or re.match(r"^[\w.-]+@[\w.-]+:", repo)
        or Path(repo).is_absolute()
    ):
        return repo
    return str((base / repo).resolve())


def describe_validation_error(
    path: Path, raw: dict[str, Any], error: ValidationError
) -> str:
    """Turn pydantic's first error into one line naming the file and key."""
    first = error.errors()[0]
    location = describe_location(raw, first["loc"])
    if first["type"] == "extra_forbidden":
        key = str(first["loc"][-1])
        allowed = allowed_keys(first["loc"][:-1])
        hint = difflib.get_close_matches(key, allowed, n=1)
        advice = (
            f"did you mean {hint[0]!r}?" if hint else f"allowed: {', '.join(allowed)}"
        )
        return f"config {path}: unknown key {location}; {advice}"
    if first["type"] == "missing":
        return (
            f"config {path}: missing key {location}; add it (see config.example.toml)"
        )
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"config {path}: bad value for {location}: {message}"


def describe_location(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """Spell a pydantic location as TOML: ``[[sources]] 'clarifai' branch``."""
    if not loc:
        return "(top level)"
    if loc[0] in ("sources", "channels") and len(loc) >= 2 and isinstance(loc[1], int):
        table = str(loc[0])
        name = entry_name(raw, table, loc[1])
        # A channel's location names its type first; the TOML key does not.
        rest_parts = (
            loc[3:]
            if table == "channels" and len(loc) > 2 and loc[2] in CHANNEL_MODELS
            else loc[2:]
        )
        rest = ".".join(str(part) for part in rest_parts)
        return f"[[{table}]] {name} {rest}".rstrip()
    if len(loc) == 1:
        return repr(str(loc[0]))
    return f"[{loc[0]}] {'.'.join(str(part) for part in loc[1:])}"


def entry_name(raw: dict[str, Any], table: str, index: int) -> str:
    """Name a source or channel by its ``name`` if it has one, else by position."""
    try:
        name = raw[table][index]["name"]
    except (KeyError, IndexError, TypeError):
        name = None
    return repr(name) if isinstance(name, str) else f"#{index + 1}"


def allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the table at ``loc``."""
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if part in CHANNEL_MODELS:
            model = CHANNEL_MODELS[str(part)]
            continue
        annotation = model.model_fields[str(part)].annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return sorted(field.alias or name for name, field in model.model_fields.items())


CHANNEL_MODELS: dict[str, type[BaseModel]] = {
    "slack": SlackChannel,
    "slack_webhook": SlackWebhookChannel,
    "email": EmailChannel,
}


DURATION = re.compile(r"^\s*(\d+)\s*(w|d|h|m|s)\s*$", re.I)
DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Read a duration such as "30d", "2h", "1w" or "90m".

    Raises ValueError with the accepted spellings.
    """
    match = DURATION.match(text)
    if not match:
        raise ValueError(
            f"bad duration {text!r}; write a number and a unit: 30d, 12h, 2w, 90m"
        )
    try:
        return timedelta(
            seconds=int(match.group(1)) * DURATION_UNITS[match.group(2).lower()]
        )
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None
