"""Rendering messages: golden files, escaping, Slack's limits, user templates.

Every rendered part of a sample message is compared exactly with a file in
``tests/notify/golden/`` named ``<case>.<channel>.<part>``. After changing a
template on purpose, rewrite them with

    UPDATE_GOLDEN=1 pytest tests/notify/test_render.py

and read every changed file before committing it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tracker.errors import ConfigError
from tracker.notify.base import Message
from tracker.notify.render import (
    MESSAGE_KINDS,
    SLACK_BLOCK_LIMIT,
    SLACK_SECTION_LIMIT,
    TEMPLATE_PARTS,
    AlertView,
    DigestView,
    EntryView,
    ReminderView,
    Renderer,
    SourceHealthView,
    SummaryView,
)
from tracker.parsing.dates import describe_date
from tracker.parsing.model import Precision

GOLDEN = Path(__file__).parent / "golden"
BERLIN = ZoneInfo("Europe/Berlin")
DUE_AT = datetime(2020, 2, 10, 8, 0, tzinfo=UTC)
EARLIER_DUE_AT = datetime(2020, 2, 3, 8, 0, tzinfo=UTC)
HOSTILE_TITLE = "<!channel> & <@U123> <https://evil.example|click>"
HOSTILE_DETAILS = "<script>alert(1)</script> and <!here>"

ENTRY = EntryView(
    id=42,
    source="acme",
    title="Legacy API v1 is removed",
    status="upcoming",
    when=describe_date(due_at=DUE_AT, precision=Precision.MINUTE, zone=BERLIN),
    date_text="February 10th, 2020, 9am CET",
    due_at=DUE_AT,
    precision="minute",
    details="Requests to /v1 return 410 Gone.\nMove to /v2 before then.",
    link="https://docs.acme.example/changes#legacy-api-v1",
    days_left=7,
)
UNDATED = EntryView(
    id=43,
    source="acme",
    title="New billing page",
    status="upcoming",
    when=describe_date(precision=Precision.UNKNOWN, zone=BERLIN),
    date_text="Soon",
    due_at=None,
    precision="unknown",
    details="Invoices move to a page of their own.",
    link=None,
    days_left=None,
)
RESCHEDULED = AlertView(
    kind="rescheduled",
    entry=ENTRY,
    old_when=describe_date(
        due_at=EARLIER_DUE_AT, precision=Precision.MINUTE, zone=BERLIN
    ),
    new_when=ENTRY.when,
    shift_days=7,
    old_status="upcoming",
    new_status="upcoming",
    revision="3f2c9a1",
    revision_at=datetime(2020, 1, 20, 14, 5, tzinfo=UTC),
    link="https://git.example/acme/docs/commit/3f2c9a1",
)


def make_digest() -> DigestView:
    """A weekly digest with two weeks, an undated entry and two changes."""
    soon = replace(
        ENTRY,
        id=44,
        title="Webhook retries drop to 3",
        when=describe_date(date=date(2020, 2, 5), precision=Precision.DAY, zone=BERLIN),
        precision="day",
        days_left=2,
        link=None,
    )
    return DigestView(
        channel="ops",
        period="week of 2020-02-03",
        horizon="30d",
        weeks=[
            ("Week of 2020-02-03", [soon]),
            ("Week of 2020-02-10", [ENTRY]),
            ("Week of 2020-02-17", []),
        ],
        undated=[UNDATED],
        changes=[RESCHEDULED, replace(RESCHEDULED, kind="added", entry=UNDATED)],
    )


CASES: dict[str, Callable[[Renderer], Message]] = {
    "source-failing": lambda renderer: renderer.source_health(
        SourceHealthView(
            source="acme",
            state="failing",
            error="cannot reach repository <https://evil.example|x> & co",
            failures=3,
            since=datetime(2020, 2, 3, 15, 47, tzinfo=UTC),
        ),
        key="source-failing",
    ),
    "source-recovered": lambda renderer: renderer.source_health(
        SourceHealthView(
            source="acme", state="recovered", error=None, failures=0, since=None
        ),
        key="source-recovered",
    ),
    "reminder": lambda renderer: renderer.reminder(
        ReminderView(entry=ENTRY, lead="7d", lead_text="in 7 days", late=False),
        key="reminder",
    ),
    "alert-added": lambda renderer: renderer.alert(
        replace(RESCHEDULED, kind="added", old_when=None, shift_days=None),
        key="alert-added",
    ),
    "alert-rescheduled": lambda renderer: renderer.alert(
        RESCHEDULED, key="alert-rescheduled"
    ),
    "alert-moved": lambda renderer: renderer.alert(
        replace(
            RESCHEDULED,
            kind="moved",
            entry=replace(ENTRY, status="completed", days_left=-1),
            old_when=None,
            shift_days=None,
            new_status="completed",
            revision_at=datetime(2020, 2, 11, 9, 30, tzinfo=UTC),
        ),
        key="alert-moved",
    ),
    "alert-removed": lambda renderer: renderer.alert(
        replace(RESCHEDULED, kind="removed", old_when=None, shift_days=None),
        key="alert-removed",
    ),
    "alert-edited": lambda renderer: renderer.alert(
        replace(RESCHEDULED, kind="edited", old_when=None, shift_days=None),
        key="alert-edited",
    ),
    "summary": lambda renderer: renderer.summary(
        SummaryView(
            source="acme",
            entries=42,
            upcoming=17,
            link="https://docs.acme.example/changes",
        ),
        key="summary",
    ),
    "digest": lambda renderer: renderer.digest(make_digest(), key="digest"),
    "test": lambda renderer: renderer.test("ops", key="test"),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    """The renderer with the packaged templates only."""
    return Renderer()


def split_parts(message: Message) -> dict[str, str]:
    """Every rendered part of ``message``, named by its golden file suffix."""
    blocks = [list(post.blocks) for post in message.slack]
    return {
        "slack.json": json.dumps(blocks, indent=2, ensure_ascii=False) + "\n",
        "slack.txt": "\n\n--- next post ---\n\n".join(p.text for p in message.slack)
        + "\n",
        "email.subject": message.subject + "\n",
        "email.txt": message.text,
        "email.html": message.html,
    }


def assert_within_slack_limits(message: Message) -> None:
    """Check every post as Slack would: sizes, counts, and JSON blocks."""
    assert message.slack
    for post in message.slack:
        assert 0 < len(post.text) < 4000
        assert 0 < len(post.blocks) <= SLACK_BLOCK_LIMIT
        assert json.loads(json.dumps(post.blocks)) == list(post.blocks)
        for block in post.blocks:
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= SLACK_SECTION_LIMIT


def slack_strings(message: Message) -> list[str]:
    """Every string Slack would read as markup: texts and block texts."""
    found = [post.text for post in message.slack]
    for post in message.slack:
        for block in post.blocks:
            if "text" in block:
                found.append(block["text"]["text"])
            found.extend(element["text"] for element in block.get("elements", []))
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_message_matches_golden_files(renderer: Renderer, case: str) -> None:
    parts = split_parts(CASES[case](renderer))

    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for suffix, rendered in parts.items():
            (GOLDEN / f"{case}.{suffix}").write_text(rendered, encoding="utf-8")

    for suffix, rendered in parts.items():
        path = GOLDEN / f"{case}.{suffix}"
        assert path.exists(), f"{path} missing; run with UPDATE_GOLDEN=1"
        assert rendered == path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_message_fits_slack_limits(renderer: Renderer, case: str) -> None:
    assert_within_slack_limits(CASES[case](renderer))


@pytest.mark.parametrize(
    ("shift_days", "said"),
    [(-3, "(3 days earlier)"), (1, "(1 day later)"), (0, "(same day)")],
)
def test_a_reschedule_says_which_way_it_moved(
    renderer: Renderer, shift_days: int, said: str
) -> None:
    message = renderer.alert(replace(RESCHEDULED, shift_days=shift_days), key="k")

    assert message.subject.endswith(f"2020-02-10 09:00 CET {said}")
    assert message.slack[0].text.endswith(said)


def test_page_text_arrives_inert_in_slack(renderer: Renderer) -> None:
    entry = replace(
        ENTRY,
        title=HOSTILE_TITLE,
        details=HOSTILE_DETAILS,
        date_text="<!everyone>",
        when="<@U999>",
    )
    reminder = ReminderView(entry=entry, lead="1d", lead_text="tomorrow", late=True)
    alert = replace(RESCHEDULED, entry=entry, old_when="<!here>")

    for message in (
        renderer.reminder(reminder, key="k"),
        renderer.alert(alert, key="k"),
        renderer.digest(
            replace(make_digest(), weeks=[("<!channel>", [entry])]), key="k"
        ),
    ):
        assert_within_slack_limits(message)
        joined = "\n".join(slack_strings(message))
        for markup in ("<!", "<@", "<https://evil", "<script"):
            assert markup not in joined
        assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in joined


def test_page_text_is_escaped_in_email_html(renderer: Renderer) -> None:
    entry = replace(ENTRY, title=HOSTILE_TITLE, details=HOSTILE_DETAILS)
    view = ReminderView(entry=entry, lead="7d", lead_text="in 7 days", late=False)

    message = renderer.reminder(view, key="k")

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in message.html
    assert HOSTILE_TITLE in message.text
    assert HOSTILE_DETAILS in message.text


def test_subject_is_one_line_however_the_title_is_written(
    renderer: Renderer,
) -> None:
    entry = replace(ENTRY, title="Line one\r\nBcc: someone@example.com\n" + "x" * 500)
    view = ReminderView(entry=entry, lead="7d", lead_text="in 7 days", late=False)

    subject = renderer.reminder(view, key="k").subject

    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[acme] In 7 days: Line one Bcc: someone@example.com x")
    assert len(subject) <= 200


def test_links_other_than_http_are_dropped(renderer: Renderer) -> None:
    entry = replace(ENTRY, link="javascript:alert(1)")
    view = ReminderView(entry=entry, lead="7d", lead_text="in 7 days", late=False)

    message = renderer.reminder(view, key="k")

    assert "javascript" not in message.html + message.text
    assert "javascript" not in "\n".join(slack_strings(message))


def test_a_link_cannot_end_its_own_slack_link(renderer: Renderer) -> None:
    entry = replace(ENTRY, link='https://docs.example/a|Click here> "x"')
    view = ReminderView(entry=entry, lead="7d", lead_text="in 7 days", late=False)

    message = renderer.reminder(view, key="k")

    context = message.slack[0].blocks[-1]["elements"][0]["text"]
    assert context == (
        "<https://docs.example/a%7CClick%20here%3E%20%22x%22|Open the entry on the page>"
    )
    assert 'href="https://docs.example/a%7CClick%20here%3E%20%22x%22"' in message.html


def test_long_details_are_cut_in_slack_and_end_with_the_link(
    renderer: Renderer,
) -> None:
    details = "\n".join(
        f"Line {n}: " + " ".join(["word & <tag>"] * 12) for n in range(130)
    )
    assert len(details) > 20_000
    view = ReminderView(
        entry=replace(ENTRY, details=details),
        lead="7d",
        lead_text="in 7 days",
        late=False,
    )

    message = renderer.reminder(view, key="k")

    assert_within_slack_limits(message)
    shown = message.slack[0].blocks[1]["text"]["text"]
    assert shown.startswith("Line 0: word &amp; &lt;tag&gt;")
    assert shown.endswith(f"\n… <{ENTRY.link}|Read the full entry>")
    assert "Line 129" not in shown
    assert details in message.text


def test_long_details_without_a_link_say_where_the_rest_is(
    renderer: Renderer,
) -> None:
    view = ReminderView(
        entry=replace(ENTRY, details="x" * 20_000, link=None),
        lead="7d",
        lead_text="in 7 days",
        late=False,
    )

    message = renderer.reminder(view, key="k")

    assert_within_slack_limits(message)
    assert (
        message.slack[0]
        .blocks[1]["text"]["text"]
        .endswith("\n… (cut; the full text is on the page)")
    )


def test_long_sections_split_at_lines_without_breaking_markup(
    renderer: Renderer,
) -> None:
    title = "&<>" * 7_000
    alert = replace(
        RESCHEDULED, kind="edited", entry=replace(ENTRY, title=title, details="")
    )

    message = renderer.alert(alert, key="k")

    assert_within_slack_limits(message)
    sections = [b["text"]["text"] for b in message.slack[0].blocks if "text" in b]
    assert len(sections) > 7
    for text in [*sections, message.slack[0].text]:
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)
    assert message.slack[0].text.endswith(f"\n… <{ENTRY.link}|Read the full entry>")


def test_a_long_digest_is_spread_over_several_posts(renderer: Renderer) -> None:
    weeks = [
        (f"Week {week}", [replace(ENTRY, id=week, title=f"Change {week}")])
        for week in range(120)
    ]
    digest = replace(make_digest(), weeks=weeks)

    message = renderer.digest(digest, key="k")

    assert_within_slack_limits(message)
    assert len(message.slack) == 3
    assert message.slack[1].text == (
        "Digest, week of 2020-02-03: 120 coming changes, 2 changes since the last "
        "digest, 1 without a fixed date (part 2 of 3)"
    )
    shown = "\n".join(slack_strings(message))
    assert all(f"*Change {week}*" in shown for week in range(120))


def test_an_empty_digest_is_refused(renderer: Renderer) -> None:
    empty = DigestView(
        channel="ops",
        period="week of 2020-02-03",
        horizon="30d",
        weeks=[("Week of 2020-02-03", [])],
        undated=[],
        changes=[],
    )

    with pytest.raises(ValueError, match="empty"):
        renderer.digest(empty, key="k")


def test_a_user_template_overrides_only_its_own_part(
    renderer: Renderer, tmp_path: Path
) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "reminder.subject.j2").write_text(
        "Heads up: {{ view.entry.title }}\n", encoding="utf-8"
    )
    view = ReminderView(entry=ENTRY, lead="7d", lead_text="in 7 days", late=False)

    custom = Renderer(tmp_path).reminder(view, key="k")
    default = renderer.reminder(view, key="k")

    assert custom.subject == "Heads up: Legacy API v1 is removed"
    assert custom.text == default.text
    assert custom.html == default.html
    assert custom.slack == default.slack


def test_a_missing_templates_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a folder"):
        Renderer(tmp_path / "nowhere")


def test_a_broken_user_template_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "alert.text.j2").write_text("{% if %}", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"alert\.text\.j2 line 1"):
        Renderer(tmp_path)


def test_a_user_template_that_fails_to_render_is_a_config_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "reminder.text.j2").write_text(
        "{{ view.entry.nope }}", encoding="utf-8"
    )
    view = ReminderView(entry=ENTRY, lead="7d", lead_text="in 7 days", late=False)

    with pytest.raises(ConfigError, match=r"reminder\.text\.j2 failed: .*nope"):
        Renderer(tmp_path).reminder(view, key="k")


def test_blocks_that_are_not_json_are_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "test.blocks.j2").write_text(
        '[{"text": "{{ view.channel }}",}]', encoding="utf-8"
    )

    with pytest.raises(ConfigError, match="tojson"):
        Renderer(tmp_path).test("ops", key="k")


def test_every_template_is_in_the_installed_package() -> None:
    packaged = files("tracker.templates")

    for kind in MESSAGE_KINDS:
        for part in TEMPLATE_PARTS:
            assert packaged.joinpath(part.format(kind=kind)).is_file()
