"""Tests for reading and describing the dates written in change tables.

Every expected instant below was worked out by hand from the zone's offset on
that day: New York is UTC-5 in winter and UTC-4 from the second Sunday of
March to the first Sunday of November (2031: March 9 to November 2), Berlin
is UTC+1 in winter and UTC+2 in summer.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tracker.parsing.dates import (
    PageClock,
    describe_date,
    find_dates,
    parse_date,
    read_clock,
)
from tracker.parsing.model import ParsedDate, Precision

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
REFERENCE = datetime(2031, 1, 15, 12, 0, tzinfo=UTC)

MINUTE = Precision.MINUTE
DAY = Precision.DAY
MONTH = Precision.MONTH
QUARTER = Precision.QUARTER
HALF = Precision.HALF
YEAR = Precision.YEAR
UNKNOWN = Precision.UNKNOWN


def case(
    text: str,
    day: str | None,
    due_at: str | None,
    precision: Precision,
    *,
    zone: ZoneInfo = NEW_YORK,
    end: str | None = None,
    warning: str | None = None,
) -> object:
    """Build one row of the table: ``warning`` is a substring, None for none."""
    return pytest.param(text, zone, day, due_at, precision, end, warning, id=text)


def undated(text: str, warning: str | None = None) -> object:
    """Build a row for text that names no date."""
    return case(text, None, None, UNKNOWN, warning=warning)


def unreadable(text: str, reason: str = "") -> object:
    """Build a row for text that cannot be read; the warning quotes it."""
    return undated(text, f"could not read a date in {text!r}{reason}")


CASES = [
    # Real pages: a period after the year, "ET" across the year, lower case.
    case("September 11, 2019. 9:00am ET", "2019-09-11", "2019-09-11T13:00Z", MINUTE),
    case("September 24, 2019. 5:00pm ET", "2019-09-24", "2019-09-24T21:00Z", MINUTE),
    case("February 24, 2020. 9:00am ET", "2020-02-24", "2020-02-24T14:00Z", MINUTE),
    case("February 22, 2021 9:00am ET", "2021-02-22", "2021-02-22T14:00Z", MINUTE),
    case("Feb 1, 2020", "2020-02-01", "2020-02-01T05:00Z", DAY),
    case("Apr 1, 2020. 9:00am ET", "2020-04-01", "2020-04-01T13:00Z", MINUTE),
    case("february 12, 2021. 9:00am ET", "2021-02-12", "2021-02-12T14:00Z", MINUTE),
    case(
        "Novemeber 24, 2021. 9:00am ET",
        "2021-11-24",
        "2021-11-24T14:00Z",
        MINUTE,
        warning="misspelt month 'Novemeber' read as November",
    ),
    case("Mid January, 2022", "2022-01-01", "2022-01-01T05:00Z", MONTH),
    case("Dec 6, 2021. 9:00am ET", "2021-12-06", "2021-12-06T14:00Z", MINUTE),
    # Daylight saving time ends on 2031-11-02 in New York.
    case("Nov 1, 2031 9:00am ET", "2031-11-01", "2031-11-01T13:00Z", MINUTE),
    case("Nov 3, 2031 9:00am ET", "2031-11-03", "2031-11-03T14:00Z", MINUTE),
    # Months, with and without vague qualifiers.
    case("January 2022", "2022-01-01", "2022-01-01T05:00Z", MONTH),
    case("January 2022", "2022-01-01", "2021-12-31T23:00Z", MONTH, zone=BERLIN),
    case("Jan, 2022", "2022-01-01", "2022-01-01T05:00Z", MONTH),
    case("Mid-January 2022", "2022-01-01", "2022-01-01T05:00Z", MONTH),
    case("early March 2031", "2031-03-01", "2031-03-01T05:00Z", MONTH),
    case("late March 2031", "2031-03-01", "2031-03-01T05:00Z", MONTH),
    case("end of March 2031", "2031-03-01", "2031-03-01T05:00Z", MONTH),
    # Quarters, halves and years.
    case("Q2 2031", "2031-04-01", "2031-04-01T04:00Z", QUARTER),
    case("2031 Q2", "2031-04-01", "2031-04-01T04:00Z", QUARTER),
    case("2nd quarter 2031", "2031-04-01", "2031-04-01T04:00Z", QUARTER),
    case("Q1 2031", "2031-01-01", "2031-01-01T05:00Z", QUARTER),
    case("Q2 2031.", "2031-04-01", "2031-04-01T04:00Z", QUARTER),
    case("Q3 2031", "2031-07-01", "2031-06-30T22:00Z", QUARTER, zone=BERLIN),
    case("fourth quarter of 2031", "2031-10-01", "2031-10-01T04:00Z", QUARTER),
    case("H1 2031", "2031-01-01", "2031-01-01T05:00Z", HALF),
    case("H2 2031", "2031-07-01", "2031-07-01T04:00Z", HALF),
    case("first half of 2031", "2031-01-01", "2031-01-01T05:00Z", HALF),
    case("second half of 2031", "2031-07-01", "2031-07-01T04:00Z", HALF),
    case("2031", "2031-01-01", "2031-01-01T05:00Z", YEAR),
    case("Early 2031", "2031-01-01", "2031-01-01T05:00Z", YEAR),
    case("Late 2031", "2031-01-01", "2031-01-01T05:00Z", YEAR),
    # Ordinals and weekdays; 2031-05-06 is a Tuesday.
    case("March 3rd 2031", "2031-03-03", "2031-03-03T05:00Z", DAY),
    case("May 1st, 2031", "2031-05-01", "2031-05-01T04:00Z", DAY),
    case("Tuesday 6th May 2031", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("Tuesday, May 6, 2031", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case(
        "Monday 6th May 2031",
        "2031-05-06",
        "2031-05-06T04:00Z",
        DAY,
        warning="Monday does not match 2031-05-06, a Tuesday",
    ),
    # Other ways of writing a day.
    case("2031-05-06", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("2031/05/06", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("06-May-2031", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("6 May 2031", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("6 May 2031", "2031-05-06", "2031-05-05T22:00Z", DAY, zone=BERLIN),
    case("Sept 3, 2031", "2031-09-03", "2031-09-03T04:00Z", DAY),
    case("Sept. 3, 2031", "2031-09-03", "2031-09-03T04:00Z", DAY),
    case("Week of 12-May-2031", "2031-05-12", "2031-05-12T04:00Z", DAY),
    case(
        "Feburary 3, 2031",
        "2031-02-03",
        "2031-02-03T05:00Z",
        DAY,
        warning="misspelt month 'Feburary' read as February",
    ),
    case(
        "06/05/2031",
        "2031-06-05",
        "2031-06-05T04:00Z",
        DAY,
        warning="day and month are ambiguous in '06/05/2031'",
    ),
    # Times and zones.
    case("17:00 UTC on 2031-05-06", "2031-05-06", "2031-05-06T17:00Z", MINUTE),
    case("2031-05-06T17:00:00Z", "2031-05-06", "2031-05-06T17:00Z", MINUTE),
    case("2031-05-06 17:00 +02:00", "2031-05-06", "2031-05-06T15:00Z", MINUTE),
    case("2031-05-06 17:00 UTC+2", "2031-05-06", "2031-05-06T15:00Z", MINUTE),
    case("2031-05-06 17:00 UTC-5", "2031-05-06", "2031-05-06T22:00Z", MINUTE),
    case("2031-05-06 17:00 UTC+05:30", "2031-05-06", "2031-05-06T11:30Z", MINUTE),
    case("May 6, 2031 17:00 Europe/Paris", "2031-05-06", "2031-05-06T15:00Z", MINUTE),
    case("May 6, 2031 Europe/Paris", "2031-05-06", "2031-05-05T22:00Z", DAY),
    case("May 6, 2031 17:00", "2031-05-06", "2031-05-06T15:00Z", MINUTE, zone=BERLIN),
    case("May 6, 2031 9:00 a.m. ET", "2031-05-06", "2031-05-06T13:00Z", MINUTE),
    case("May 6, 2031 9:00 am et", "2031-05-06", "2031-05-06T13:00Z", MINUTE),
    case("May 6, 2031 9:00am EST", "2031-05-06", "2031-05-06T13:00Z", MINUTE),
    case("May 6, 2031 9:00am EDT", "2031-05-06", "2031-05-06T13:00Z", MINUTE),
    case("May 6, 2031 9:00am CT", "2031-05-06", "2031-05-06T14:00Z", MINUTE),
    case("May 6, 2031 9:00am MT", "2031-05-06", "2031-05-06T15:00Z", MINUTE),
    case("May 6, 2031 9:00am PST", "2031-05-06", "2031-05-06T16:00Z", MINUTE),
    case("May 6, 2031 9:00 GMT", "2031-05-06", "2031-05-06T09:00Z", MINUTE),
    case("May 6, 2031 9:00 CET", "2031-05-06", "2031-05-06T07:00Z", MINUTE),
    case("May 6, 2031 9:00 CEST", "2031-05-06", "2031-05-06T07:00Z", MINUTE),
    case("May 6, 2031 9:00 BST", "2031-05-06", "2031-05-06T08:00Z", MINUTE),
    case("May 6, 2031 9:00 IST", "2031-05-06", "2031-05-06T03:30Z", MINUTE),
    case("May 6, 2031 9:00 JST", "2031-05-06", "2031-05-06T00:00Z", MINUTE),
    case("May 6, 2031 9:00 AEST", "2031-05-06", "2031-05-05T23:00Z", MINUTE),
    case(
        "May 6, 2031 10:00 AM PT / 1:00 PM ET",
        "2031-05-06",
        "2031-05-06T17:00Z",
        MINUTE,
    ),
    case(
        "May 6, 2031 10:00 AM PT / 2:00 PM ET",
        "2031-05-06",
        "2031-05-06T17:00Z",
        MINUTE,
        warning="disagree; used the first",
    ),
    # Ranges.
    case("May 6-9, 2031", "2031-05-06", "2031-05-06T04:00Z", DAY, end="2031-05-09"),
    case(
        "May 6\u20139, 2031", "2031-05-06", "2031-05-06T04:00Z", DAY, end="2031-05-09"
    ),
    case("May 6-9, 2031.", "2031-05-06", "2031-05-06T04:00Z", DAY, end="2031-05-09"),
    case("6-9 May 2031", "2031-05-06", "2031-05-06T04:00Z", DAY, end="2031-05-09"),
    case(
        "May 6 - June 2, 2031", "2031-05-06", "2031-05-06T04:00Z", DAY, end="2031-06-02"
    ),
    case(
        "Dec 29 - Jan 2, 2032", "2031-12-29", "2031-12-29T05:00Z", DAY, end="2032-01-02"
    ),
    case("May - June 2031", "2031-05-01", "2031-05-01T04:00Z", MONTH, end="2031-06-30"),
    # Year-less dates and far-future years.
    case(
        "May 6",
        "2031-05-06",
        "2031-05-06T04:00Z",
        DAY,
        warning="no year given; read as 2031",
    ),
    case(
        "May 6, 2301",
        "2301-05-06",
        "2301-05-06T04:00Z",
        DAY,
        warning="year 2301 looks like a typo",
    ),
    # The last years Python can hold: kept while the instant fits in UTC.
    case(
        "Dec 31, 9999",
        "9999-12-31",
        "9999-12-31T05:00Z",
        DAY,
        warning="year 9999 looks like a typo",
    ),
    case(
        "Dec 31, 9999 6:59pm ET",
        "9999-12-31",
        "9999-12-31T23:59Z",
        MINUTE,
        warning="year 9999 looks like a typo",
    ),
    unreadable("Dec 31, 9999 11:00pm ET", ": in UTC it falls outside the years 1-9999"),
    unreadable(
        "Dec 31, 9999 23:00 -05:00", ": in UTC it falls outside the years 1-9999"
    ),
    unreadable(
        "Dec 31, 9999 10:00 PM PT / 1:00 AM ET",
        ": in America/New_York it falls outside the years 1-9999",
    ),
    # Years before 1970 are typos; the zone database gives some zones their
    # local mean time then (New York was UTC-4:56:02), so none is read.
    case("Jan 1, 1970", "1970-01-01", "1970-01-01T05:00Z", DAY),
    unreadable("Jan 1, 0001", ": year 0001 looks wrong; dates before 1970 are refused"),
    unreadable("0001-01-01", ": year 0001 looks wrong; dates before 1970 are refused"),
    unreadable("Jan 1, 0099", ": year 0099 looks wrong; dates before 1970 are refused"),
    unreadable("Q1 0001", ": year 0001 looks wrong; dates before 1970 are refused"),
    unreadable("1899-12-31", ": year 1899 looks wrong; dates before 1970 are refused"),
    unreadable(
        "Jan 1, 0001 00:30 CET",
        ": year 0001 looks wrong; dates before 1970 are refused",
    ),
    unreadable(
        "Dec 29 - Jan 2, 1970", ": year 1969 looks wrong; dates before 1970 are refused"
    ),
    # Notes in parentheses; a zone in them is kept.
    case("2031-05-06 (Tuesday)", "2031-05-06", "2031-05-06T04:00Z", DAY),
    case("June 2031 (tentative)", "2031-06-01", "2031-06-01T04:00Z", MONTH),
    case("May 6, 2031 14:00 (UTC)", "2031-05-06", "2031-05-06T14:00Z", MINUTE),
    case(
        "2031-05-06 (Monday)",
        "2031-05-06",
        "2031-05-06T04:00Z",
        DAY,
        warning="Monday does not match 2031-05-06, a Tuesday",
    ),
    # One moment in two zones: 10:00 PT is 18:00 UTC in winter, 17:00 in summer.
    case("Jan 6, 2031 10:00 PT / 18:00 UTC", "2031-01-06", "2031-01-06T18:00Z", MINUTE),
    case(
        "May 6, 2031 10:00 PT / 18:00 UTC",
        "2031-05-06",
        "2031-05-06T17:00Z",
        MINUTE,
        warning="disagree; used the first",
    ),
    # Undated on purpose: no warning.
    undated("Soon"),
    undated("Coming soon"),
    undated("TBD"),
    undated("TBD."),
    undated("TBA"),
    undated("To be determined"),
    undated("Varied dates"),
    undated("Various"),
    undated("Ongoing"),
    undated("N/A"),
    undated("-"),
    undated("\u2014"),
    undated("\u2013"),
    undated(""),
    undated("   "),
    # Not dates: flagged, never moved to another day.
    unreadable("foo"),
    unreadable("45-May-2031", ": day is out of range for month"),
    unreadable("May 6, 20331", ": year 20331 is out of range"),
    unreadable("20331-05-06", ": year 20331 is out of range"),
    unreadable("February 30, 2031", ": day is out of range for month"),
    unreadable("Feb 29", ": day is out of range for month"),
    unreadable("v20.10", ": it looks like a version number"),
    unreadable("1.2.3", ": it looks like a version number"),
    unreadable("may"),
    unreadable("Tuesday"),
    unreadable("1:00 PM"),
    unreadable("Jan 5, 21", ": the year must be written with four digits"),
    unreadable("5/6", ": a date without a year needs the month's name"),
    unreadable("May 9-6, 2031", ": the range ends before it starts"),
    unreadable("May 6, 2031 9:00am HST", ": unknown time zone 'HST'"),
    unreadable("May 6, 2031 9:00 ET CET", ": it names more than one time zone"),
    # Offsets no place uses; the furthest from UTC is +14:00.
    case("2031-05-06 17:00 +14:00", "2031-05-06", "2031-05-06T03:00Z", MINUTE),
    unreadable("2031-05-06T09:00:00+25:00", ": '+25:00' is not a UTC offset"),
    unreadable("2031-05-06 17:00 -15:00", ": '-15:00' is not a UTC offset"),
    unreadable("2031-05-06 17:00 UTC+15", ": 'UTC+15' is not a UTC offset"),
    unreadable("2031-05-06 17:00 UTC+14:30", ": 'UTC+14:30' is not a UTC offset"),
]


@pytest.mark.parametrize(
    ("text", "zone", "day", "due_at", "precision", "end", "warning"), CASES
)
def test_parse_date_reads_what_pages_write(
    text: str,
    zone: ZoneInfo,
    day: str | None,
    due_at: str | None,
    precision: Precision,
    end: str | None,
    warning: str | None,
) -> None:
    parsed = parse_date(text, zone=zone, reference=REFERENCE)

    assert parsed.text == text.strip()
    assert parsed.date == (date.fromisoformat(day) if day else None)
    assert parsed.due_at == (datetime.fromisoformat(due_at) if due_at else None)
    assert parsed.due_at is None or parsed.due_at.tzinfo is UTC
    assert parsed.precision is precision
    assert parsed.end == (date.fromisoformat(end) if end else None)
    if warning is None:
        assert parsed.warnings == ()
    else:
        assert len(parsed.warnings) == 1
        assert warning in parsed.warnings[0]


def test_parse_date_keeps_the_text_stripped() -> None:
    parsed = parse_date("  May 6, 2031 \n", zone=NEW_YORK, reference=REFERENCE)

    assert parsed.text == "May 6, 2031"


def test_year_less_date_uses_the_current_year_without_reference() -> None:
    with time_machine.travel(datetime(2033, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        parsed = parse_date("May 6", zone=NEW_YORK)

    assert parsed.date == date(2033, 5, 6)
    assert parsed.warnings == ("no year given; read as 2033",)


def test_year_less_date_takes_the_reference_year_in_the_source_zone() -> None:
    # 23:30 UTC on New Year's Eve is already the next year in Berlin.
    reference = datetime(2031, 12, 31, 23, 30, tzinfo=UTC)

    parsed = parse_date("May 6", zone=BERLIN, reference=reference)

    assert parsed.date == date(2032, 5, 6)


# Pieces for random texts: well-formed, extreme (years 1 and 9999, offsets past
# 24 hours, huge numbers) and misspelt or plain wrong.
_MONTHS = ("Jan", "February", "Sept.", "Dec", "Novemeber", "13", "12")
_DAYS = ("1", "29", "31", "0", "32", "1st")
_YEARS = ("0001", "0099", "1899", "1969", "1970", "2031", "2301", "9999", "10000", "21")
_TIMES = ("", "0:00", "9:00am", "11:00pm", "23:59", "24:00", "99:99", "0930")
_ZONES = (
    *("", "ET", "PT", "JST", "HST", "Z", "UTC+14", "UTC-12", "UTC-99", "GMT+5:30"),
    *("+25:00", "-24:00", "+14:00", "-1200", "+99999", "Pacific/Kiritimati"),
    *("Etc/GMT+12", "Asia/Riyadh", "Nowhere/Atlantis"),
)
_WORDS = (
    *("TBD", "v20.10", "1.2.3", "Q4", "H2", "2nd quarter", "Mid", "Tuesday", "T"),
    *("/", " / ", "-", " - ", "\u2013", " to ", ",", "12-May-2031", "p.m."),
)


def _make_random_date_text(chooser: random.Random) -> str:
    """Make a text shaped like a date, with fields picked from the extremes."""
    month, day, year = (chooser.choice(p) for p in (_MONTHS, _DAYS, _YEARS))
    moment = f"{chooser.choice(_TIMES)} {chooser.choice(_ZONES)}"
    shapes = (
        f"{month} {day}, {year} {moment}",
        f"{year}-{chooser.choice(_MONTHS)}-{day}T{moment}",
        f"{day} {month} {year} {moment} / {chooser.choice(_TIMES)} ET",
        f"{month} {day} - {chooser.choice(_MONTHS)} {chooser.choice(_DAYS)}, {year}",
        f"Q{chooser.randint(0, 5)} {year}",
        f"{chooser.choice(_WORDS)} {month} {year}",
    )
    return chooser.choice(shapes)


def _make_random_garbage(chooser: random.Random) -> str:
    """Make a text from date words, numbers of any size and printable noise."""
    words = []
    for _ in range(chooser.randint(1, 7)):
        kind = chooser.random()
        if kind < 0.6:
            words.append(chooser.choice((*_WORDS, *_ZONES, *_YEARS, *_MONTHS)))
        elif kind < 0.8:
            words.append(str(chooser.randint(0, 10 ** chooser.randint(1, 40))))
        else:
            length = chooser.randint(1, 8)
            words.append("".join(chooser.choices(string.printable, k=length)))
    return chooser.choice(["", " ", ", "]).join(words)


def test_parse_date_never_raises_on_random_text() -> None:
    # A fixed seed, so a failure is the same on every run and names its text.
    chooser = random.Random(20310506)
    texts = [_make_random_date_text(chooser) for _ in range(400)]
    texts += [_make_random_garbage(chooser) for _ in range(400)]

    failures = []
    for text in texts:
        try:
            parsed = parse_date(text, zone=NEW_YORK, reference=REFERENCE)
        except Exception as error:
            failures.append((text, repr(error)))
            continue
        if not isinstance(parsed, ParsedDate):
            failures.append((text, f"returned {parsed!r}"))
        elif parsed.date is not None and parsed.date.year < 1970:
            failures.append((text, f"read {parsed.date}"))
        elif parsed.due_at is not None and parsed.due_at.tzinfo is not UTC:
            failures.append((text, f"due_at {parsed.due_at!r} is not in UTC"))

    assert failures == []


def test_parse_date_turns_an_unforeseen_library_error_into_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stands in for a dateutil bug no reader foresees; the text is new to the
    # module's caches, so the failing dateutil is really called.
    def fail(*args: object, **kwargs: object) -> datetime:
        raise ValueError("unforeseen")

    monkeypatch.setattr("tracker.parsing.dates.parse_with_dateutil", fail)

    parsed = parse_date("May 7, 2031 8:17am", zone=NEW_YORK, reference=REFERENCE)

    assert parsed.date is None
    assert parsed.precision is UNKNOWN
    assert parsed.warnings == (
        "could not read a date in 'May 7, 2031 8:17am': unforeseen",
    )


def test_far_future_check_follows_the_reference() -> None:
    reference = datetime(2290, 1, 1, tzinfo=UTC)

    parsed = parse_date("May 6, 2301", zone=NEW_YORK, reference=reference)

    assert parsed.date == date(2301, 5, 6)
    assert parsed.warnings == ()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"due_at": datetime(2019, 9, 11, 13, 0, tzinfo=UTC), "precision": MINUTE},
            "2019-09-11 09:00 EDT",
            id="minute",
        ),
        pytest.param(
            {"due_at": datetime(2020, 2, 24, 14, 0, tzinfo=UTC), "precision": MINUTE},
            "2020-02-24 09:00 EST",
            id="minute-in-winter",
        ),
        pytest.param(
            {"date": date(2019, 9, 11), "precision": DAY}, "2019-09-11", id="day"
        ),
        pytest.param(
            {"date": date(2022, 1, 1), "precision": MONTH}, "January 2022", id="month"
        ),
        pytest.param(
            {"date": date(2031, 4, 1), "precision": QUARTER}, "Q2 2031", id="quarter"
        ),
        pytest.param(
            {"date": date(2031, 10, 1), "precision": QUARTER}, "Q4 2031", id="q4"
        ),
        pytest.param({"date": date(2031, 1, 1), "precision": HALF}, "H1 2031", id="h1"),
        pytest.param({"date": date(2031, 7, 1), "precision": HALF}, "H2 2031", id="h2"),
        pytest.param({"date": date(2031, 1, 1), "precision": YEAR}, "2031", id="year"),
        pytest.param({"precision": UNKNOWN}, "undated", id="unknown"),
    ],
)
def test_describe_date_writes_each_precision(
    fields: dict[str, object], expected: str
) -> None:
    assert describe_date(**fields, zone=NEW_YORK) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "2019-09-11 09:00 EDT",
        "2019-09-11",
        "January 2022",
        "Q2 2031",
        "H2 2031",
        "2031",
    ],
)
def test_describe_date_gives_back_the_text_of_a_parsed_date(text: str) -> None:
    parsed = parse_date(text, zone=NEW_YORK, reference=REFERENCE)

    assert describe_date(parsed, precision=parsed.precision, zone=NEW_YORK) == text


def test_describe_date_shows_the_time_in_the_given_zone() -> None:
    parsed = parse_date("17:00 UTC on 2031-05-06", zone=NEW_YORK, reference=REFERENCE)

    described = describe_date(parsed, precision=MINUTE, zone=BERLIN)

    assert described == "2031-05-06 19:00 CEST"


def test_describe_date_takes_a_naive_time_as_utc() -> None:
    due_at = datetime(2031, 5, 6, 17, 0)

    described = describe_date(due_at=due_at, precision=MINUTE, zone=NEW_YORK)

    assert described == "2031-05-06 13:00 EDT"


def test_describe_date_describes_an_undated_parsed_date() -> None:
    parsed = parse_date("TBD", zone=NEW_YORK, reference=REFERENCE)

    assert describe_date(parsed, precision=UNKNOWN, zone=NEW_YORK) == "undated"


@pytest.mark.parametrize(
    ("value", "fields", "message"),
    [
        pytest.param(
            ParsedDate("2031", date(2031, 1, 1), None, YEAR),
            {"date": date(2031, 1, 1), "precision": YEAR},
            "not both",
            id="value-and-fields",
        ),
        pytest.param(
            ParsedDate("2031", date(2031, 1, 1), None, YEAR),
            {"precision": DAY},
            "does not match",
            id="precision-mismatch",
        ),
        pytest.param(None, {"precision": MINUTE}, "needs due_at", id="no-due-at"),
        pytest.param(None, {"precision": DAY}, "needs date", id="no-date"),
    ],
)
def test_describe_date_refuses_inconsistent_arguments(
    value: ParsedDate | None, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        describe_date(value, **fields, zone=NEW_YORK)  # type: ignore[arg-type]


UTC_ZONE = ZoneInfo("UTC")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize(
    ("sentence", "zone", "moment", "alternative"),
    [
        ("All times are 14:00 UTC.", UTC_ZONE, time(14, 0), None),
        ("Times in PT.", LOS_ANGELES, None, None),
        ("All dates are in Pacific Time (PT).", LOS_ANGELES, None, None),
        ("All times are 2pm Europe/Berlin", BERLIN, time(14, 0), None),
        ("Times are UTC+2", ZoneInfo("Etc/GMT-2"), None, None),
        (
            "Changes go live at 10:00 PT / 18:00 UTC.",
            LOS_ANGELES,
            time(10, 0),
            (time(18, 0), UTC_ZONE),
        ),
    ],
)
def test_read_clock_reads_the_time_a_page_states_once(
    sentence: str,
    zone: ZoneInfo,
    moment: time | None,
    alternative: tuple[time, ZoneInfo] | None,
) -> None:
    clock = read_clock(sentence)

    assert clock is not None
    assert (clock.zone, clock.time_of_day, clock.alternative) == (
        zone,
        moment,
        alternative,
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "Our PT office answers questions.",
        "We will retire v1 on 6 May 2031.",
        "The schedule below lists every release.",
    ],
)
def test_read_clock_ignores_other_sentences(sentence: str) -> None:
    assert read_clock(sentence) is None


def test_clock_gives_days_its_time_and_zone() -> None:
    clock = PageClock("All times are 14:00 UTC", UTC_ZONE, time(14, 0))

    day = parse_date("May 6, 2031", zone=NEW_YORK, reference=REFERENCE, clock=clock)
    quarter = parse_date("Q3 2031", zone=NEW_YORK, reference=REFERENCE, clock=clock)
    timed = parse_date(
        "May 6, 2031 9:00am ET", zone=NEW_YORK, reference=REFERENCE, clock=clock
    )

    assert (day.due_at, day.precision) == (
        datetime(2031, 5, 6, 14, 0, tzinfo=UTC),
        MINUTE,
    )
    assert (quarter.due_at, quarter.precision) == (
        datetime(2031, 7, 1, 0, 0, tzinfo=UTC),
        QUARTER,
    )
    assert timed.due_at == datetime(2031, 5, 6, 13, 0, tzinfo=UTC)


def test_clock_in_two_zones_warns_on_the_dates_they_disagree() -> None:
    clock = read_clock("All times are 10:00 PT / 18:00 UTC")
    assert clock is not None

    winter = parse_date("Jan 6, 2031", zone=NEW_YORK, reference=REFERENCE, clock=clock)
    summer = parse_date("May 6, 2031", zone=NEW_YORK, reference=REFERENCE, clock=clock)

    assert (winter.due_at, winter.warnings) == (
        datetime(2031, 1, 6, 18, 0, tzinfo=UTC),
        (),
    )
    assert summer.due_at == datetime(2031, 5, 6, 17, 0, tzinfo=UTC)
    assert summer.warnings == (
        "on 2031-05-06 10:00 in America/Los_Angeles is 17:00 in UTC, not 18:00 "
        "as the page says; used the first",
    )


@pytest.mark.parametrize(
    ("sentence", "written", "day", "precision", "end"),
    [
        ("Streaming exports arrive in Q3 2031", "Q3 2031", "2031-07-01", QUARTER, None),
        ("Beta in H1 2031.", "H1 2031", "2031-01-01", HALF, None),
        ("We will retire v1 on 6 May 2031.", "6 May 2031", "2031-05-06", DAY, None),
        (
            "Removal: Sept 3, 2031, then cleanup",
            "Sept 3, 2031",
            "2031-09-03",
            DAY,
            None,
        ),
        (
            "On Tuesday 6th May 2031 we switch",
            "Tuesday 6th May 2031",
            "2031-05-06",
            DAY,
            None,
        ),
        (
            "Freeze in the Week of 12-May-2031",
            "Week of 12-May-2031",
            "2031-05-12",
            DAY,
            None,
        ),
        ("Ships 2031/05/06 to all", "2031/05/06", "2031-05-06", DAY, None),
        (
            "Drills May 6-9, 2031 in EU",
            "May 6-9, 2031",
            "2031-05-06",
            DAY,
            "2031-05-09",
        ),
        ("GA in May 2031", "May 2031", "2031-05-01", MONTH, None),
        ("Audit export lands mid-2031", "mid-2031", "2031-01-01", YEAR, None),
    ],
)
def test_find_dates_finds_a_date_inside_a_sentence(
    sentence: str, written: str, day: str, precision: Precision, end: str | None
) -> None:
    found = find_dates(sentence, zone=NEW_YORK, reference=REFERENCE)

    assert len(found) == 1
    assert sentence[found[0].start : found[0].end] == written
    assert found[0].parsed.text == written
    assert found[0].parsed.date == date.fromisoformat(day)
    assert found[0].parsed.precision is precision
    assert found[0].parsed.end == (date.fromisoformat(end) if end else None)


def test_find_dates_reads_a_time_after_at() -> None:
    found = find_dates(
        "Cutover on May 6, 2031 at 14:00 UTC.", zone=NEW_YORK, reference=REFERENCE
    )

    assert [item.parsed.due_at for item in found] == [
        datetime(2031, 5, 6, 14, 0, tzinfo=UTC)
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "You may need to upgrade to v20.10 or 1.2.3 first.",
        "Prompts may hold up to 2048 tokens.",
        "It may 6 times retry.",
    ],
)
def test_find_dates_ignores_versions_counts_and_the_verb_may(sentence: str) -> None:
    assert find_dates(sentence, zone=NEW_YORK, reference=REFERENCE) == []


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("Removal on 45-May-2031.", "day is out of range for month"),
        ("Removal on May 6, 20331.", "year 20331 is out of range"),
    ],
)
def test_find_dates_flags_an_impossible_date_instead_of_moving_it(
    sentence: str, reason: str
) -> None:
    found = find_dates(sentence, zone=NEW_YORK, reference=REFERENCE)

    assert len(found) == 1
    assert found[0].parsed.date is None
    assert reason in found[0].parsed.warnings[-1]


@pytest.mark.parametrize(
    "text", ["2031-05-06 2031-06-01", "2031-05-06, 2031-06-01", "May 6, 2031 2031"]
)
def test_two_dates_or_years_in_one_cell_are_not_read_as_a_time(text: str) -> None:
    parsed = parse_date(text, zone=NEW_YORK)

    assert (parsed.date, parsed.due_at, parsed.precision) == (
        None,
        None,
        Precision.UNKNOWN,
    )
    assert parsed.warnings == (
        f"could not read a date in {text!r}: it holds more than one date or year",
    )
