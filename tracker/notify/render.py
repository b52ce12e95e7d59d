"""Render notifications from views with Jinja2 templates.

The dispatcher fills the plain view dataclasses below from the store; this
module reads no database. ``Renderer`` turns one view into a Message with
every part a channel needs: an email subject, text and HTML, and Slack posts.

Templates live in ``templates/<channel-kind>/<message-kind>.<part>.j2``, e.g.
``slack/reminder.blocks.j2``; a user's ``templates_dir`` is searched first,
then the defaults packaged as ``tracker.templates``. Every template gets one
variable, ``view``. Text from the vendor's page is untrusted:

- Slack templates get a copy of the view whose every string is escaped for
  Slack (``&``, ``<``, ``>``), so a page cannot write ``<!channel>`` or a
  disguised link; blocks templates build Python-like lists of dicts that
  Jinja's ``tojson`` serialises. Details longer than SLACK_DETAILS_LIMIT are
  cut at a line and end with a link to the full entry.
- Email HTML is autoescaped; email text is plain; subjects are one line.
- Links that are not http(s) are dropped, and characters that could end a
  Slack link or an HTML attribute are percent-encoded.

Slack's limits are enforced after rendering: a section longer than
SLACK_SECTION_LIMIT is split at line boundaries, and more than
SLACK_BLOCK_LIMIT blocks are spread over several posts.

Templates may use the filters ``when`` (an entry's date with the days left),
``days_left``, ``shift``, ``utc``, ``quantity``, ``duration`` and
``sentence``, and in Slack the block makers ``section``, ``context``,
``divider`` and ``slack_link``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2

from tracker.config import DURATION
from tracker.errors import ConfigError
from tracker.notify.base import Message, SlackPost
from tracker.parsing.model import Precision

__all__ = [
    "AlertView",
    "ChannelView",
    "DigestView",
    "EntryView",
    "ReminderView",
    "Renderer",
    "SourceHealthView",
    "SummaryView",
    "escape_slack",
]

# Slack's documented limits: https://api.slack.com/reference/block-kit/blocks
# and https://api.slack.com/methods/chat.postMessage (text "under 4000").
SLACK_SECTION_LIMIT = 3000
SLACK_BLOCK_LIMIT = 50
SLACK_TEXT_LIMIT = 3900
# Slack is for a glance; email carries the full details.
SLACK_DETAILS_LIMIT = 2000
SUBJECT_LIMIT = 200
LINK_LIMIT = 2048

MESSAGE_KINDS = ("reminder", "alert", "summary", "digest", "test", "source")
TEMPLATE_PARTS = (
    "slack/{kind}.blocks.j2",
    "slack/{kind}.text.j2",
    "email/{kind}.subject.j2",
    "email/{kind}.text.j2",
    "email/{kind}.html.j2",
)


@dataclass(frozen=True)
class EntryView:
    """One change as messages show it.

    ``when`` is the date for people, in the channel's zone (see
    ``describe_date``); ``date_text`` is the date as the page writes it.
    ``days_left`` counts calendar days in the channel's zone, negative when
    past, None when the entry has no date.
    """

    id: int
    source: str
    title: str
    status: str
    when: str
    date_text: str
    due_at: datetime | None
    precision: str
    details: str
    link: str | None
    days_left: int | None


@dataclass(frozen=True)
class ReminderView:
    """A reminder that an entry's date is near.

    ``lead`` is the configured lead ("7d"), ``lead_text`` the same for people
    ("in 7 days"); ``late`` says the reminder goes out after its planned time.
    """

    entry: EntryView
    lead: str
    lead_text: str
    late: bool


@dataclass(frozen=True)
class AlertView:
    """A change to the page: an entry added, rescheduled, moved, removed or edited.

    ``shift_days`` is how far a reschedule moved the date, later when
    positive. ``revision_at`` is when the revision was committed, aware UTC.
    """

    kind: str
    entry: EntryView
    old_when: str | None
    new_when: str | None
    shift_days: int | None
    old_status: str | None
    new_status: str | None
    revision: str
    revision_at: datetime
    link: str | None


@dataclass(frozen=True)
class SummaryView:
    """The one line sent instead of an alert per entry when a source is new."""

    source: str
    entries: int
    upcoming: int
    link: str | None


@dataclass(frozen=True)
class DigestView:
    """A channel's digest: coming entries by week, undated ones, recent changes.

    ``weeks`` pairs a label ("Week of 2020-02-10") with that week's entries;
    ``changes`` are the alerts since the last digest.
    """

    channel: str
    period: str
    horizon: str
    weeks: list[tuple[str, list[EntryView]]]
    undated: list[EntryView]
    changes: list[AlertView]

    def is_empty(self) -> bool:
        """Tell whether the digest has nothing to show."""
        return not (self.count_dated() or self.undated or self.changes)

    def count_dated(self) -> int:
        """Count the dated entries over all weeks."""
        return sum(len(entries) for _, entries in self.weeks)


@dataclass(frozen=True)
class ChannelView:
    """What the test message shows: the channel's name in the config."""

    channel: str


@dataclass(frozen=True)
class SourceHealthView:
    """A source that keeps failing to sync, or that recovered.

    ``state`` is "failing" or "recovered"; ``error`` the last sync error;
    ``failures`` the failed syncs in a row; ``since`` the last good sync.
    """

    source: str
    state: str
    error: str | None
    failures: int
    since: datetime | None


View = (
    ReminderView | AlertView | SummaryView | DigestView | ChannelView | SourceHealthView
)


class Renderer:
    """Render views into Messages for email and Slack.

    Templates are looked up in ``templates_dir`` first, then among the
    packaged defaults, so a user can override one template and keep the
    rest. Every template is loaded here: ConfigError names one that is
    missing or does not compile, and later a template that fails to render.
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        if templates_dir is not None and not templates_dir.is_dir():
            raise ConfigError(
                f"templates_dir {templates_dir} is not a folder; create it, or "
                "remove the setting to use the default templates"
            )
        self.templates_dir = templates_dir
        self.environment = _build_environment(templates_dir)
        for kind in MESSAGE_KINDS:
            for part in TEMPLATE_PARTS:
                self._load(part.format(kind=kind))

    def reminder(self, view: ReminderView, *, key: str) -> Message:
        """Render a reminder that a change's date is near."""
        return self._render("reminder", view, key=key)

    def alert(self, view: AlertView, *, key: str) -> Message:
        """Render an alert about a change to the page."""
        return self._render("alert", view, key=key)

    def summary(self, view: SummaryView, *, key: str) -> Message:
        """Render the one message sent when a source is first tracked."""
        return self._render("summary", view, key=key)

    def digest(self, view: DigestView, *, key: str) -> Message:
        """Render a digest; raises ValueError when it has nothing to show."""
        if view.is_empty():
            raise ValueError(f"digest for channel {view.channel!r} is empty")
        return self._render("digest", view, key=key)

    def source_health(self, view: SourceHealthView, *, key: str) -> Message:
        """Render the notice that a source is failing, or works again."""
        return self._render("source", view, key=key)

    def test(self, channel: str, *, key: str) -> Message:
        """Render the message that checks a channel works."""
        return self._render("test", ChannelView(channel=channel), key=key)

    def _render(self, kind: str, view: View, *, key: str) -> Message:
        """Fill every part of ``kind``'s templates from ``view``."""
        email_view = _prepare_view(view, slack=False)
        subject = self._fill(f"email/{kind}.subject.j2", email_view)
        text = self._fill(f"email/{kind}.text.j2", email_view)
        html = self._fill(f"email/{kind}.html.j2", email_view)

        slack_view = _prepare_view(view, slack=True)
        slack_text = self._fill(f"slack/{kind}.text.j2", slack_view)
        blocks_name = f"slack/{kind}.blocks.j2"
        blocks = _read_blocks(blocks_name, self._fill(blocks_name, slack_view))

        return Message(
            key=key,
            subject=_make_subject(subject),
            text=_tidy_text(text) + "\n",
            html=html,
            slack=_split_posts(_tidy_text(slack_text), blocks, link=_view_link(view)),
        )

    def _load(self, name: str) -> jinja2.Template:
        """Load one template; ConfigError says which and why it failed."""
        try:
            return self.environment.get_template(name)
        except jinja2.TemplateNotFound:
            raise ConfigError(
                f"template {name} not found in {self._where()}; "
                "reinstall the tracker or restore the file"
            ) from None
        except jinja2.TemplateSyntaxError as error:
            raise ConfigError(
                f"template {error.filename or name} line {error.lineno}: "
                f"{error.message}; fix it or remove it to use the default"
            ) from None

    def _fill(self, name: str, view: object) -> str:
        """Render template ``name`` with ``view``."""
        try:
            return self._load(name).render(view=view)
        except jinja2.TemplateError as error:
            raise ConfigError(
                f"template {name} failed: {error}; fix it in {self._where()}"
            ) from None

    def _where(self) -> str:
        """Name the places templates are looked up, for error messages."""
        if self.templates_dir is None:
            return "the packaged templates"
        return f"{self.templates_dir} or the packaged templates"


def _build_environment(templates_dir: Path | None) -> jinja2.Environment:
    """Make the Jinja environment: user templates first, HTML autoescaped."""
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.PackageLoader("tracker.templates", "."))

    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        sentence=_describe_sentence,
        when=_describe_when,
        days_left=_describe_days_left,
        shift=_describe_shift,
        utc=_describe_utc,
        quantity=_describe_quantity,
        duration=_describe_duration,
    )
    environment.globals.update(
        section=_slack_section,
        context=_slack_context,
        divider=_slack_divider,
        slack_link=_slack_link,
    )
    return environment


def _prepare_view(value: Any, *, slack: bool) -> Any:
    """Copy a view for one channel kind.

    Links are checked everywhere. For Slack, every string is escaped and an
    entry's long details are cut, ending with a link to the full entry.
    """
    if isinstance(value, str):
        return escape_slack(value) if slack else value
    if isinstance(value, list):
        return [_prepare_view(item, slack=slack) for item in value]
    if isinstance(value, tuple):
        return tuple(_prepare_view(item, slack=slack) for item in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value

    fields = {
        field.name: getattr(value, field.name) for field in dataclasses.fields(value)
    }
    if "link" in fields:
        fields["link"] = _check_link(fields["link"])
    prepared = {name: _prepare_view(item, slack=slack) for name, item in fields.items()}
    if slack and isinstance(value, EntryView):
        prepared["details"] = _cut_details(value.details, prepared["link"])
    return dataclasses.replace(value, **prepared)


def escape_slack(text: str) -> str:
    """Escape the three characters Slack reads as markup.

    https://api.slack.com/reference/surfaces/formatting#escaping
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK_UNSAFE = frozenset(' "<>\\^`{|}')


def _check_link(url: str | None) -> str | None:
    """Return an http(s) ``url`` made safe to embed, else None.

    Characters that could end a Slack link (``|``, ``>``) or an HTML
    attribute are percent-encoded; other schemes (``javascript:``) and links
    over LINK_LIMIT characters are dropped.
    """
    if not url or len(url) > LINK_LIMIT:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    return "".join(
        quote(char) if char in _LINK_UNSAFE or not char.isprintable() else char
        for char in url.strip()
    )


def _cut_details(details: str, link: str | None) -> str:
    """Escape details for Slack and cut them to SLACK_DETAILS_LIMIT at a line.

    ``link`` must already be escaped; a cut text ends with it.
    """
    chunks = _split_text(escape_slack(details), SLACK_DETAILS_LIMIT)
    if len(chunks) <= 1:
        return escape_slack(details)
    if link is None:
        return chunks[0] + "\n… (cut; the full text is on the page)"
    return chunks[0] + "\n… " + _slack_link(link, "Read the full entry")


def _view_link(view: View) -> str | None:
    """The link that ends a cut Slack text: the entry's, else the view's."""
    entry = getattr(view, "entry", None)
    link = entry.link if isinstance(entry, EntryView) else getattr(view, "link", None)
    checked = _check_link(link)
    return None if checked is None else escape_slack(checked)


def _describe_sentence(text: str) -> str:
    """Start ``text`` with a capital letter and leave the rest alone."""
    return text[:1].upper() + text[1:]


def _describe_when(entry: EntryView) -> str:
    """Write an entry's date with the days left: "2020-02-10 (7 days left)"."""
    if entry.precision == Precision.UNKNOWN:
        return (
            f"date not fixed ({entry.date_text})"
            if entry.date_text
            else "date not fixed"
        )
    if entry.days_left is None:
        return entry.when
    return f"{entry.when} ({_describe_days_left(entry.days_left)})"


def _describe_days_left(days: int | None) -> str:
    """Say how many days are left: "7 days left", "today", "2 days ago"."""
    if days is None:
        return ""
    if days == 0:
        return "today"
    if days > 0:
        return f"{_describe_quantity(days, 'day')} left"
    return f"{_describe_quantity(-days, 'day')} ago"


def _describe_shift(days: int | None) -> str:
    """Say how far a reschedule moved a date: "7 days later", "1 day earlier"."""
    if days is None:
        return ""
    if days == 0:
        return "same day"
    direction = "later" if days > 0 else "earlier"
    return f"{_describe_quantity(abs(days), 'day')} {direction}"


def _describe_utc(moment: datetime) -> str:
    """Write an instant in UTC to the minute; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _describe_quantity(count: int, word: str, plural: str | None = None) -> str:
    """Write a count with its noun: "1 day", "3 days", "2 entries"."""
    if count == 1:
        return f"1 {word}"
    return f"{count} {plural or word + 's'}"


_DURATION_UNITS = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}


def _describe_duration(text: str) -> str:
    """Spell a config duration out ("30d" is "30 days"); other text stays."""
    match = DURATION.fullmatch(text)
    if match is None:
        return text
    return _describe_quantity(int(match[1]), _DURATION_UNITS[match[2].lower()])


def _slack_section(text: str) -> dict[str, Any]:
    """A section block of mrkdwn ``text``, which must be escaped already."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack_context(*texts: str) -> dict[str, Any]:
    """A context block: small grey mrkdwn lines, escaped already."""
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": text} for text in texts if text],
    }


def _slack_divider() -> dict[str, Any]:
    """A divider block."""
    return {"type": "divider"}


def _slack_link(url: str, label: str) -> str:
    """A Slack link; ``url`` comes from a prepared view, ``label`` is ours."""
    return f"<{url}|{label}>"


def _make_subject(text: str) -> str:
    """Make a rendered subject one line of at most SUBJECT_LIMIT characters."""
    subject = " ".join(text.split())
    if len(subject) <= SUBJECT_LIMIT:
        return subject
    return subject[: SUBJECT_LIMIT - 1].rstrip() + "…"


def _tidy_text(text: str) -> str:
    """Drop trailing spaces and runs of blank lines that template logic leaves."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _read_blocks(name: str, rendered: str) -> list[dict[str, Any]]:
    """Parse a blocks template's output; ConfigError if not a JSON list of objects."""
    try:
        blocks = json.loads(rendered)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"template {name} did not give JSON: {error}; build the blocks as a "
            "list and write it with the tojson filter"
        ) from None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise ConfigError(f"template {name} must give a JSON list of block objects")
    return blocks


def _split_posts(
    text: str, blocks: list[dict[str, Any]], *, link: str | None
) -> tuple[SlackPost, ...]:
    """Spread blocks over posts within Slack's limits.

    Long sections are split at line boundaries and empty ones dropped; each
    post holds at most SLACK_BLOCK_LIMIT blocks. The first post's fallback
    text is ``text``, cut to SLACK_TEXT_LIMIT; later ones name their part.
    """
    sized = [piece for block in blocks for piece in _split_section(block)]
    groups = [
        sized[start : start + SLACK_BLOCK_LIMIT]
        for start in range(0, len(sized), SLACK_BLOCK_LIMIT)
    ] or [[]]

    first_text = _cut_text(text, SLACK_TEXT_LIMIT, link)
    headline = (_split_text(first_text.split("\n", 1)[0], 200) or [""])[0]
    posts = [SlackPost(text=first_text, blocks=tuple(groups[0]))]
    for number, group in enumerate(groups[1:], start=2):
        part = f"{headline} (part {number} of {len(groups)})"
        posts.append(SlackPost(text=part, blocks=tuple(group)))
    return tuple(posts)


def _split_section(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield a block as blocks that fit: long sections split, empty ones dropped.

    Slack refuses a section with empty text and a context with no elements.
    """
    text_object = block.get("text")
    if block.get("type") == "context" and not block.get("elements"):
        return
    if block.get("type") != "section" or not isinstance(text_object, dict):
        yield block
        return
    text = str(text_object.get("text", ""))
    for chunk in _split_text(text, SLACK_SECTION_LIMIT):
        yield {**block, "text": {**text_object, "text": chunk}}


def _cut_text(text: str, limit: int, link: str | None) -> str:
    """Cut ``text`` at a line boundary to at most ``limit`` characters.

    A cut text ends with "…" and ``link`` (escaped for Slack) when given.
    """
    if len(text) <= limit:
        return text
    ending = "\n… " + _slack_link(link, "Read the full entry") if link else "\n…"
    head = _split_text(text, limit - len(ending))
    return (head[0] if head else "") + ending


def _split_text(text: str, limit: int) -> list[str]:
    """Split Slack text into chunks of at most ``limit`` characters.

    Chunks break between lines; a longer line breaks at a space, never
    inside an entity (``&amp;``) or a ``<…>`` link. Blank chunks are dropped.
    """
    chunks: list[str] = []
    current = ""
    for line in _split_long_lines(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        chunks.append(current)
        current = line
    chunks.append(current)
    return [chunk.strip("\n") for chunk in chunks if chunk.strip()]


def _split_long_lines(text: str, limit: int) -> Iterator[str]:
    """Yield the lines of ``text``, breaking any longer than ``limit``."""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = _find_cut(line, limit)
            yield line[:cut].rstrip()
            line = line[cut:].lstrip()
        yield line


def _find_cut(line: str, limit: int) -> int:
    """Where to break ``line`` so the head fits in ``limit`` characters."""
    cut = limit
    space = line.rfind(" ", 0, limit + 1)
    if space > limit // 2:
        cut = space

    # Back off from a half-written entity or link, which Slack would garble.
    ampersand = line.rfind("&", max(0, cut - 4), cut)
    if ampersand != -1 and ";" not in line[ampersand:cut]:
        cut = ampersand
    opening = line.rfind("<", 0, cut)
    if opening > 0 and line.rfind(">", opening, cut) == -1:
        cut = opening
    return max(cut, 1)
