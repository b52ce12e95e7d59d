"""Read the dates vendors write in their change tables, and describe them.

``parse_date`` turns the text of one table cell into a ParsedDate. The text
first goes through small cleaning steps (spaces, ordinals, a.m./p.m., stray
periods, weekdays, misspelt months, vague qualifiers such as "Mid"), then
through a chain of readers, each trying one shape: version numbers, quarters,
halves, one moment written in two zones, ranges, and last a single date that
python-dateutil reads. The first reader that knows its shape wins.

Nothing here raises on bad text: what cannot be read becomes an undated
ParsedDate with a warning, so one odd cell never sinks a run. Readers signal
such text with ``_UnreadableError``, which never leaves this module; as a last
line of defence, ``parse_date`` also turns any ValueError or ArithmeticError
that dateutil or a zone conversion raises into such a warning.
"""

from __future__ import annotations

import calendar
import decimal
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import (
    MAXYEAR,
    MINYEAR,
    UTC,
    date,
    datetime,
    time,
    timedelta,
    timezone,
    tzinfo,
)
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.parser import ParserError
from dateutil.parser import parse as parse_with_dateutil
from rapidfuzz import fuzz, process

from tracker.parsing.model import ParsedDate, Precision

__all__ = [
    "FoundDate",
    "PageClock",
    "describe_date",
    "find_dates",
    "parse_date",
    "read_clock",
]

_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAY_NAMES = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

# Cells that say on purpose that there is no date (yet). They are compared
# after lower-casing and trimming spaces, periods and exclamation marks.
_UNDATED_WORDS = frozenset(
    {
        "",
        "soon",
        "coming soon",
        "tbd",
        "tba",
        "to be determined",
        "to be announced",
        "varied dates",
        "various",
        "ongoing",
        "n/a",
        "-",
        "\u2013",
        "\u2014",
    }
)

# Vendors write "EST" or "PST" all year round and mean the clock on the wall in
# that region, so standard and daylight names both map to the region's zone on
# purpose, not to a fixed offset: "9:00am EST" in July is 13:00 UTC.
_ZONE_KEYS = {
    "ET": "America/New_York",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CT": "America/Chicago",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "MT": "America/Denver",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PT": "America/Los_Angeles",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "UTC": "UTC",
    "GMT": "UTC",
    "Z": "UTC",
    "CET": "Europe/Berlin",
    "CEST": "Europe/Berlin",
    "BST": "Europe/London",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
}
_ZONES: dict[str, tzinfo] = {
    name: UTC if key == "UTC" else ZoneInfo(key) for name, key in _ZONE_KEYS.items()
}

# A year this far past the reference year is more likely a typo ("2301").
_YEARS_BEFORE_TYPO = 30

# Change dates before this year are typos ("0001", "1899"). Reading them would
# also mislead: the zone database is kept accurate only from 1970 on, and gives
# many zones their local mean time before that (New York was UTC-4:56:02 until
# 1883, Riyadh until 1947).
_EARLIEST_YEAR = 1970

# No place on Earth is further from UTC than this (Kiribati is UTC+14:00).
_LARGEST_OFFSET = timedelta(hours=14)

# The lowest rapidfuzz ratio at which a word is taken for a misspelt month:
# "Novemeber" scores 94 against November, "Feburary" 88, "Junk" 75.
_MONTH_SIMILARITY = 80

# dateutil fills every field the text omits from a default datetime, so each
# text is read with both defaults below, which differ in every field: a field
# is written in the text exactly when both readings agree on it. Both years
# are leap years so that a year-less "Feb 29" survives until the reference
# year is known; days 1 and 2 exist in every month.
_FIRST_DEFAULT = datetime(2000, 1, 1, 0, 0)
_SECOND_DEFAULT = datetime(2004, 2, 2, 1, 1)

# Which written fields (year, month, day, time) make which kind of date; any
# other mix, such as a month alone ("may") or a bare time, is not a date.
_PRECISION_OF_FIELDS = {
    (True, True, True, True): Precision.MINUTE,
    (False, True, True, True): Precision.MINUTE,
    (True, True, True, False): Precision.DAY,
    (False, True, True, False): Precision.DAY,
    (True, True, False, False): Precision.MONTH,
    (True, False, False, False): Precision.YEAR,
}

_MONTH_WORDS = frozenset(
    [name.lower() for name in _MONTH_NAMES]
    + [name[:3].lower() for name in _MONTH_NAMES]
    + ["sept"]
)
_LOWER_MONTH_NAMES = tuple(name.lower() for name in _MONTH_NAMES)
_WEEKDAY_NUMBERS = {
    name[:3].lower(): number for number, name in enumerate(_WEEKDAY_NAMES)
}
_PART_NUMBERS = {
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
}

_SPACES = re.compile(r"\s+")
_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b", re.IGNORECASE)
_MERIDIEM = re.compile(r"\b([ap])\.m\b\.?", re.IGNORECASE)
# A period before a space or the end, as in "September 11, 2019. 9:00am ET"
# or "Sept. 3"; periods inside numbers ("v20.10") are kept.
_STRAY_PERIOD = re.compile(r"\.(?=\s|$)")
_WEEKDAY = re.compile(
    r"\b(?:monday|mon|tuesday|tues|tue|wednesday|wed|thursday|thurs|thur|thu"
    r"|friday|fri|saturday|sat|sunday|sun)\b,?",
    re.IGNORECASE,
)
# Whole words only: the parts of "America/Juneau" are not misspelt months.
_WORD = re.compile(r"(?<![\w/])[A-Za-z]{4,}(?![\w/])")
_LETTERS = re.compile(r"[A-Za-z]+")
_QUALIFIER = re.compile(
    r"^(?:the\s+)?(?:early|mid|middle\s+of|late|end\s+of|beginning\s+of"
    r"|start\s+of|week\s+of)(?:\s*-\s*|\s+)(?:the\s+)?(?=\S)",
    re.IGNORECASE,
)

_VERSION = re.compile(r"v\d+(?:\.\d+)*|\d{1,3}(?:\.\d{1,3})+", re.IGNORECASE)
_QUARTER_PATTERNS = (
    re.compile(r"q(?P<part>[1-4])[\s,/-]*(?P<year>\d{4})", re.IGNORECASE),
    re.compile(r"(?P<year>\d{4})[\s,/-]*q(?P<part>[1-4])", re.IGNORECASE),
    re.compile(
        r"(?P<part>[1-4]|first|second|third|fourth)\s+quarter(?:\s+of)?,?\s+"
        r"(?P<year>\d{4})",
        re.IGNORECASE,
    ),
)
_HALF_PATTERNS = (
    re.compile(r"h(?P<part>[12])[\s,/-]*(?P<year>\d{4})", re.IGNORECASE),
    re.compile(r"(?P<part>[12])h[\s,/-]*(?P<year>\d{4})", re.IGNORECASE),
    re.compile(r"(?P<year>\d{4})[\s,/-]*h(?P<part>[12])", re.IGNORECASE),
    re.compile(
        r"(?P<part>[12]|first|second)\s+half(?:\s+of)?,?\s+(?P<year>\d{4})",
        re.IGNORECASE,
    ),
)
_ALTERNATIVE_TIME = re.compile(r"(?P<first>.+?)\s+/\s+(?P<second>[^/]+)")
_DASH = r"\s*[-\u2013\u2014]\s*"
_RANGE_WITHIN_MONTH = (
    re.compile(
        rf"(?P<month>[a-z]+)\s+(?P<first>\d{{1,2}}){_DASH}(?P<last>\d{{1,2}})"
        r"(?P<year>,?\s+\d{4})?",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?P<first>\d{{1,2}}){_DASH}(?P<last>\d{{1,2}})\s+(?P<month>[a-z]+)"
        r"(?P<year>,?\s+\d{4})?",
        re.IGNORECASE,
    ),
)
# A hyphen separates a range only with spaces around it, since "2031-05-06"
# and "06-May-2031" are single dates; en and em dashes always do.
_RANGE_SEPARATOR = re.compile(
    r"\s+(?:-|to|through|until)\s+|\s*[\u2013\u2014]\s*", re.IGNORECASE
)
_ZONE = re.compile(
    r"(?<![\w/])(?P<iana>[A-Za-z]+(?:/[A-Za-z_]+)+)"
    r"|\b(?:UTC|GMT)\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?\b"
    r"|\b(?P<name>" + "|".join(name for name in _ZONE_KEYS if name != "Z") + r")\b",
    re.IGNORECASE,
)
# A remark in parentheses without digits: "(tentative)", "(UTC)", or what is
# left of "(Tuesday)" once the weekday is taken out.
_NOTE = re.compile(r"\((?P<inner>[^()\d]*)\)")
_FOUR_DIGITS = re.compile(r"(?<!\d)\d{4}(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}(?!\d)")


class _UnreadableError(Exception):
    """The text cannot be read as a date; the message says why, or is empty."""


@dataclass(frozen=True)
class _Context:
    """What a reading needs to know beyond the text itself."""

    zone: ZoneInfo
    reference_year: int


@dataclass(frozen=True)
class _CleanText:
    """A cell's text rewritten into the plain shapes the readers know."""

    text: str
    weekdays: tuple[int, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _Fields:
    """The parts of a date and time a text writes; None where it omits one."""

    year: int | None
    month: int | None
    day: int | None
    hour: int | None
    minute: int
    zone: tzinfo | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Reading:
    """A date read from a text, before it becomes a ParsedDate."""

    start: date
    precision: Precision
    due_at: datetime
    end: date | None = None
    warnings: tuple[str, ...] = ()


def parse_date(
    text: str,
    *,
    zone: ZoneInfo,
    reference: datetime | None = None,
    clock: PageClock | None = None,
) -> ParsedDate:
    """Read the date written in one table cell.

    ``zone`` is the source's zone, used when the text names none.
    ``clock`` is what the page says once for all its dates ("All times are
    14:00 UTC"): its zone replaces ``zone``, and its time of day makes a day
    written without a time a moment (precision MINUTE).
    ``reference`` (an aware datetime, now by default) gives the year of
    year-less dates and anchors the check for far-future typos. Never raises
    on bad text: it comes back undated with a warning that quotes it.

    A year far past the reference is kept, with a warning that it looks like a
    typo. A year before 1970 comes back undated, with a warning that the year
    looks wrong: no change page is that old, and the zone database gives no
    trustworthy offsets then. A time that falls past the year 9999 in UTC,
    which Python cannot hold, comes back undated too.
    """
    stripped = text.strip()
    if _is_undated_word(stripped):
        return ParsedDate(stripped, None, None, Precision.UNKNOWN)

    reference = reference or datetime.now(UTC)
    if clock is not None and clock.zone is not None:
        zone = clock.zone
    context = _Context(zone, reference.astimezone(zone).year)
    clean = _clean(stripped)
    try:
        reading = _read(clean.text, context)
        if clock is not None and clock.time_of_day is not None:
            reading = _apply_clock(reading, clock, context)
        due_at = _convert(reading.due_at, UTC)
    # The page is untrusted, so beyond the readers' own refusals, any
    # ValueError or ArithmeticError (OverflowError, decimal.InvalidOperation)
    # from dateutil or a zone conversion also means the text cannot be read.
    except (_UnreadableError, ValueError, ArithmeticError) as error:
        return _make_unreadable(stripped, clean.warnings, str(error))

    return ParsedDate(
        text=stripped,
        date=reading.start,
        due_at=due_at,
        precision=reading.precision,
        end=reading.end,
        warnings=(
            *clean.warnings,
            *reading.warnings,
            *_check_weekdays(clean.weekdays, reading),
            *_check_year(reading, context),
        ),
    )


def _make_unreadable(text: str, warnings: tuple[str, ...], reason: str) -> ParsedDate:
    """Build the undated ParsedDate of a text that cannot be read, and say why."""
    warning = f"could not read a date in {text!r}"
    if reason:
        warning = f"{warning}: {reason}"
    return ParsedDate(
        text, None, None, Precision.UNKNOWN, warnings=(*warnings, warning)
    )


def _convert(moment: datetime, zone: tzinfo) -> datetime:
    """Convert ``moment`` to ``zone``, refusing one that falls past 9999 there.

    Python holds only the years 1 to 9999, so 23:00 New York time on the
    last day of 9999 has no UTC equivalent.
    """
    try:
        return moment.astimezone(zone)
    except OverflowError as error:
        raise _UnreadableError(
            f"in {zone} it falls outside the years {MINYEAR}-{MAXYEAR}"
        ) from error


def describe_date(
    value: ParsedDate | None = None,
    *,
    date: date | None = None,
    due_at: datetime | None = None,
    precision: Precision,
    zone: ZoneInfo,
) -> str:
    """Describe a date for people as exactly as the page gave it.

    Pass a ParsedDate, or its ``date`` and ``due_at`` fields; ``precision``
    is needed either way and must match the ParsedDate's. A time is shown in
    ``zone``, with the zone's abbreviation; a naive ``due_at`` is taken as
    UTC, since SQLite gives stored instants back without their zone. Raises
    ValueError when the arguments disagree or a field the precision needs is
    missing.
    """
    if value is not None:
        if date is not None or due_at is not None:
            raise ValueError("describe_date: pass a ParsedDate or its fields, not both")
        if value.precision is not precision:
            raise ValueError(
                f"describe_date: precision {precision} does not match the "
                f"ParsedDate's {value.precision}"
            )
        date, due_at = value.date, value.due_at

    if precision is Precision.UNKNOWN:
        return "undated"
    if precision is Precision.MINUTE:
        if due_at is None:
            raise ValueError("describe_date: precision minute needs due_at")
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=UTC)
        return due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    if date is None:
        raise ValueError(f"describe_date: precision {precision} needs date")
    return _describe_day(date, precision)


def _describe_day(day: date, precision: Precision) -> str:
    """Name the period of ``precision`` that starts on ``day``."""
    match precision:
        case Precision.MONTH:
            return f"{_MONTH_NAMES[day.month - 1]} {day.year}"
        case Precision.QUARTER:
            return f"Q{(day.month - 1) // 3 + 1} {day.year}"
        case Precision.HALF:
            return f"H{1 if day.month <= 6 else 2} {day.year}"
        case Precision.YEAR:
            return str(day.year)
        case _:
            return day.isoformat()


def _is_undated_word(text: str) -> bool:
    """Tell whether ``text`` says on purpose that there is no date."""
    return _SPACES.sub(" ", text).strip(" .!").lower() in _UNDATED_WORDS


@lru_cache(maxsize=16384)
def _clean(text: str) -> _CleanText:
    """Rewrite ``text`` into the plain shapes the readers know.

    Pages repeat the same few dates in many rows, hence the cache.
    """
    text = _SPACES.sub(" ", text)
    text = _ORDINAL.sub("", text)
    text = _MERIDIEM.sub(r"\1m", text)
    text = _STRAY_PERIOD.sub("", text)

    weekdays = tuple(
        _WEEKDAY_NUMBERS[match.group()[:3].lower()] for match in _WEEKDAY.finditer(text)
    )
    text = _WEEKDAY.sub(" ", text)
    text = _NOTE.sub(_drop_note, text)

    text, warnings = _correct_months(text)
    text = _QUALIFIER.sub("", _SPACES.sub(" ", text).strip())
    return _CleanText(text, weekdays, warnings)


def _drop_note(match: re.Match[str]) -> str:
    """Drop a note in parentheses ("(tentative)"), keeping a zone ("(UTC)")."""
    inner = match["inner"].strip()
    return f" {inner} " if _ZONE.fullmatch(inner) else " "


def _correct_months(text: str) -> tuple[str, tuple[str, ...]]:
    """Replace words that look like misspelt month names with the month."""
    warnings: list[str] = []

    def correct(match: re.Match[str]) -> str:
        word = match.group()
        if word.lower() in _MONTH_WORDS:
            return word
        best = process.extractOne(
            word.lower(),
            _LOWER_MONTH_NAMES,
            scorer=fuzz.ratio,
            score_cutoff=_MONTH_SIMILARITY,
        )
        if best is None:
            return word
        month = _MONTH_NAMES[best[2]]
        warnings.append(f"misspelt month {word!r} read as {month}")
        return month

    return _WORD.sub(correct, text), tuple(warnings)


def _read(text: str, context: _Context) -> _Reading:
    """Run the readers in turn; the first that knows the shape of ``text`` wins."""
    for reader in _SHAPE_READERS:
        reading = reader(text, context)
        if reading is not None:
            return reading
    return _read_single(text, context)


def _read_version(text: str, context: _Context) -> _Reading | None:
    """Refuse a version number ("v20.10", "1.2.3"), which dateutil would read."""
    if _VERSION.fullmatch(text):
        raise _UnreadableError("it looks like a version number")
    return None


def _read_quarter(text: str, context: _Context) -> _Reading | None:
    """Read "Q2 2031", "2031 Q2" or "2nd quarter 2031" as its first day."""
    return _read_part_of_year(text, context, _QUARTER_PATTERNS, Precision.QUARTER)


def _read_half(text: str, context: _Context) -> _Reading | None:
    """Read "H1 2031" or "first half of 2031" as its first day."""
    return _read_part_of_year(text, context, _HALF_PATTERNS, Precision.HALF)


def _read_part_of_year(
    text: str,
    context: _Context,
    patterns: Sequence[re.Pattern[str]],
    precision: Precision,
) -> _Reading | None:
    """Read a numbered part of a year (quarter or half) as its first day."""
    months_per_part = 3 if precision is Precision.QUARTER else 6
    for pattern in patterns:
        match = pattern.fullmatch(text)
        if match is not None:
            part = _PART_NUMBERS[match["part"].lower()]
            start = _make_date(int(match["year"]), (part - 1) * months_per_part + 1, 1)
            due_at = datetime.combine(start, time(), tzinfo=context.zone)
            return _Reading(start, precision, due_at)
    return None


def _read_alternative_times(text: str, context: _Context) -> _Reading | None:
    """Read one moment written in two zones: "May 6, 2031 10:00 AM PT / 1:00 PM ET".

    The first time is used; a warning says so when the second disagrees.
    """
    match = _ALTERNATIVE_TIME.fullmatch(text)
    if match is None:
        return None
    try:
        second = _read_fields(match["second"])
    except _UnreadableError:
        return None
    if second.hour is None or second.day is not None:
        return None

    first = _resolve(_read_fields(match["first"]), context)
    if first.precision is not Precision.MINUTE:
        raise _UnreadableError("the part before '/' has no time")
    local = _convert(first.due_at, second.zone or context.zone)
    other = local.replace(hour=second.hour, minute=second.minute)
    if _convert(other, UTC) == _convert(first.due_at, UTC):
        return first
    warning = f"the times {match['first']!r} and {match['second']!r} disagree"
    return replace(first, warnings=(*first.warnings, f"{warning}; used the first"))


def _read_range(text: str, context: _Context) -> _Reading | None:
    """Read a range ("May 6-9, 2031", "May 6 - June 2, 2031") as start and end."""
    pieces = _split_range(text)
    if pieces is None:
        return None

    last = _resolve(_read_fields(pieces[1]), context)
    first_fields = _read_fields(pieces[0])
    first = _resolve(first_fields, context, _year_of_range_start(first_fields, last))
    if first.precision is Precision.MINUTE or last.precision is Precision.MINUTE:
        raise _UnreadableError("a range with times is not supported")
    if first.precision is not last.precision:
        raise _UnreadableError("the two ends of the range are written differently")

    end = _last_day(last.start, last.precision)
    if end < first.start:
        raise _UnreadableError("the range ends before it starts")
    return replace(first, end=end, warnings=(*first.warnings, *last.warnings))


def _split_range(text: str) -> tuple[str, str] | None:
    """Split a range into the texts of its two ends, or return None."""
    for pattern in _RANGE_WITHIN_MONTH:
        match = pattern.fullmatch(text)
        if match is not None:
            month, year = match["month"], match["year"] or ""
            return f"{month} {match['first']}{year}", f"{month} {match['last']}{year}"

    pieces = _RANGE_SEPARATOR.split(text)
    if len(pieces) == 2 and all(pieces):
        return pieces[0], pieces[1]
    return None


def _year_of_range_start(first: _Fields, last: _Reading) -> int:
    """Give the year of a range start written without one ("Dec 29 - Jan 2, 2032")."""
    if (first.month or 1, first.day or 1) > (last.start.month, last.start.day):
        return last.start.year - 1
    return last.start.year


def _last_day(start: date, precision: Precision) -> date:
    """Return the last day of the period of ``precision`` that starts on ``start``."""
    if precision is Precision.MONTH:
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    if precision is Precision.YEAR:
        return start.replace(month=12, day=31)
    return start


def _read_single(text: str, context: _Context) -> _Reading:
    """Read one date, with or without a time, the way dateutil understands it."""
    return _resolve(_read_fields(text), context)


def _resolve(
    fields: _Fields, context: _Context, fallback_year: int | None = None
) -> _Reading:
    """Turn written fields into a date, filling in an omitted year.

    ``fallback_year`` fills it silently (the other end of a range gave it);
    without one the reference year is used and a warning says so.
    """
    written = (
        fields.year is not None or fallback_year is not None,
        fields.month is not None,
        fields.day is not None,
        fields.hour is not None,
    )
    precision = _PRECISION_OF_FIELDS.get(written)
    if precision is None:
        raise _UnreadableError("")

    warnings = fields.warnings
    year = fields.year if fields.year is not None else fallback_year
    if year is None:
        year = context.reference_year
        warnings = (*warnings, f"no year given; read as {year}")

    start = _make_date(year, fields.month or 1, fields.day or 1)
    moment = time(fields.hour or 0, fields.minute)
    due_at = datetime.combine(start, moment, tzinfo=fields.zone or context.zone)
    return _Reading(start, precision, due_at, warnings=warnings)


def _make_date(year: int, month: int, day: int) -> date:
    """Build a date, refusing one that does not exist (February 30) or is too early.

    A year before ``_EARLIEST_YEAR`` is refused rather than kept with a
    warning: its date is a typo, and its offset would be a local mean time.
    """
    if year < _EARLIEST_YEAR:
        raise _UnreadableError(_describe_early_year(year))
    try:
        return date(year, month, day)
    except ValueError as error:
        raise _UnreadableError(str(error)) from error


# A four-digit number that can be a year, not part of a time ("20:31").
_YEAR_NUMBER = re.compile(r"(?<![\d:.])(?:19|20)\d{2}(?![\d:])")


@lru_cache(maxsize=16384)
def _read_fields(text: str) -> _Fields:
    """Read the parts of a date and time that ``text`` writes.

    Pages repeat the same few dates in many rows, hence the cache.
    """
    text, written_zone = _take_zone(text)
    if len(_YEAR_NUMBER.findall(text)) > 1:
        # "2031-05-06 2031-06-01": dateutil would take the second year for
        # a time of day (20:31); a cell with two dates is no one date.
        raise _UnreadableError("it holds more than one date or year")
    first = _parse_with_default(text, _FIRST_DEFAULT)
    second = _parse_with_default(text, _SECOND_DEFAULT)
    if written_zone is not None and first.tzinfo is not None:
        raise _UnreadableError("it names more than one time zone")

    fields = _Fields(
        year=first.year if first.year == second.year else None,
        month=first.month if first.month == second.month else None,
        day=first.day if first.day == second.day else None,
        hour=first.hour if first.hour == second.hour else None,
        minute=first.minute,
        zone=written_zone or first.tzinfo,
        warnings=_check_day_month_order(text),
    )
    _check_written_year(fields, text)
    return fields


def _parse_with_default(text: str, default: datetime) -> datetime:
    """Let dateutil read ``text``, taking omitted fields from ``default``."""
    try:
        return parse_with_dateutil(text, default=default, tzinfos=_zone_for_dateutil)
    except ParserError as error:
        # dateutil chains the ValueError of an impossible date ("day is out
        # of range for month"); other failures carry no useful reason.
        cause = error.__cause__
        raise _UnreadableError(str(cause) if cause else "") from error
    # dateutil does its arithmetic on numbers with Decimal, which overflows
    # on a long run of digits ("99:99804143887215452981187267483").
    except (OverflowError, decimal.InvalidOperation) as error:
        raise _UnreadableError("a number in it is too large") from error


def _zone_for_dateutil(name: str | None, offset: int | None) -> tzinfo | None:
    """Give dateutil the zone for a name or offset it found after a time."""
    if name is not None and name.upper() in _ZONES:
        return _ZONES[name.upper()]
    if name is None and offset is not None:
        return _make_fixed_zone(timedelta(seconds=offset), _describe_offset(offset))
    if name is None:
        return None
    raise _UnreadableError(f"unknown time zone {name!r}")


def _take_zone(text: str) -> tuple[str, tzinfo | None]:
    """Cut the time zone out of ``text`` and return both; dateutil reads the rest.

    Zone names, IANA names and "UTC+2" are read here rather than by dateutil:
    it needs names in upper case right after a time, does not know IANA names,
    and reads "UTC+2" the POSIX way, as two hours behind UTC.
    """
    found: list[tuple[re.Match[str], tzinfo]] = []
    for match in _ZONE.finditer(text):
        zone = _zone_of(match)
        if zone is not None:
            found.append((match, zone))
    if not found:
        return text, None
    if len(found) > 1:
        raise _UnreadableError("it names more than one time zone")

    match, zone = found[0]
    rest = f"{text[: match.start()]} {text[match.end() :]}"
    return _SPACES.sub(" ", rest).strip(), zone


def _zone_of(match: re.Match[str]) -> tzinfo | None:
    """Return the zone a match of ``_ZONE`` names, or None if it names none."""
    if match["iana"]:
        return _load_zone(match["iana"])
    if match["sign"]:
        hours, minutes = int(match["hours"]), int(match["minutes"] or 0)
        if minutes > 59:
            raise _UnreadableError(f"{match.group()!r} is not a UTC offset")
        offset = timedelta(hours=hours, minutes=minutes)
        return _make_fixed_zone(
            -offset if match["sign"] == "-" else offset, match.group()
        )
    return _ZONES[match["name"].upper()]


def _make_fixed_zone(offset: timedelta, written: str) -> timezone:
    """Build the zone ``offset`` from UTC, refusing one that no place uses.

    ``written`` is how the text writes the offset, for the warning.
    """
    if abs(offset) > _LARGEST_OFFSET:
        raise _UnreadableError(f"{written!r} is not a UTC offset")
    return timezone(offset)


def _describe_offset(seconds: int) -> str:
    """Write an offset from UTC the way ISO 8601 does: "+05:30"."""
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@lru_cache(maxsize=64)
def _load_zone(key: str) -> ZoneInfo | None:
    """Load the IANA zone ``key``, or return None if there is no such zone."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _check_written_year(fields: _Fields, text: str) -> None:
    """Refuse years not written in full, and numeric dates without a year.

    dateutil turns "21" into 2021 and "5/6" into May 6 of some year; both are
    guesses, so such cells are flagged instead.
    """
    if fields.year is not None:
        _check_year_digits(fields.year, text)
        return

    names_month = any(word.lower() in _MONTH_WORDS for word in _LETTERS.findall(text))
    if fields.month is not None and not names_month:
        raise _UnreadableError("a date without a year needs the month's name")


def _check_year_digits(year: int, text: str) -> None:
    """Refuse ``year`` unless ``text`` writes it with four digits.

    dateutil takes any year below 100 for a two-digit one even when it is
    written with four digits, and reads "Jan 1, 0001" as 2001; such a year is
    refused for being too early, not for being too short.
    """
    written = [int(digits) for digits in _FOUR_DIGITS.findall(text)]
    if year in written:
        return
    for number in written:
        if number < 100 and number == year % 100:
            raise _UnreadableError(_describe_early_year(number))
    raise _UnreadableError("the year must be written with four digits")


def _describe_early_year(year: int) -> str:
    """Say why a year before ``_EARLIEST_YEAR`` is refused."""
    return f"year {year:04d} looks wrong; dates before {_EARLIEST_YEAR} are refused"


def _check_day_month_order(text: str) -> tuple[str, ...]:
    """Warn when a numeric date such as "06/05/2031" could be read either way."""
    match = _NUMERIC_DATE.search(text)
    if match is None:
        return ()
    first, second = int(match[1]), int(match[2])
    if first == second or first > 12 or second > 12:
        return ()
    return (f"day and month are ambiguous in {match.group()!r}; read month first",)


def _check_weekdays(weekdays: tuple[int, ...], reading: _Reading) -> tuple[str, ...]:
    """Warn about each written weekday that does not fall on its date."""
    if reading.precision not in (Precision.DAY, Precision.MINUTE):
        return ()
    days = (reading.start,) if reading.end is None else (reading.start, reading.end)
    return tuple(
        f"{_WEEKDAY_NAMES[weekday]} does not match {day.isoformat()}, "
        f"a {_WEEKDAY_NAMES[day.weekday()]}"
        for weekday, day in zip(weekdays, days, strict=False)
        if weekday != day.weekday()
    )


def _check_year(reading: _Reading, context: _Context) -> tuple[str, ...]:
    """Warn when the year is so far ahead that it is likely a typo."""
    year = (reading.end or reading.start).year
    if year <= context.reference_year + _YEARS_BEFORE_TYPO:
        return ()
    return (f"year {year} looks like a typo; kept as written",)


# Tried in this order before ``_read_single``, which takes whatever is left;
# each returns None when the text is not its shape. Version numbers come first
# because dateutil would read "1.2.3" as a date.
_SHAPE_READERS: tuple[Callable[[str, _Context], _Reading | None], ...] = (
    _read_version,
    _read_quarter,
    _read_half,
    _read_alternative_times,
    _read_range,
)


@dataclass(frozen=True)
class PageClock:
    """The time of day and zone a page states once for all its dates.

    Read from prose such as "All times are 14:00 UTC" or "times in PT".
    ``zone`` and ``time_of_day`` are None where the statement gives none.
    ``alternative`` is the same moment written in a second zone ("10:00 PT /
    18:00 UTC"); each date read with the clock is checked against it, since
    whether the two agree depends on the date's daylight saving time.
    """

    text: str
    zone: ZoneInfo | None
    time_of_day: time | None
    alternative: tuple[time, ZoneInfo] | None = None


@dataclass(frozen=True)
class FoundDate:
    """A date found inside a sentence: where it is written, and what it means."""

    start: int
    end: int
    parsed: ParsedDate


# Only sentences about times or dates set a clock; a zone named elsewhere
# ("our PT office") does not.
_CLOCK_SUBJECT = re.compile(r"\b(?:all\s+)?(?:times?|dates?|hours?)\b", re.IGNORECASE)
_SPELT_ZONES = {
    "pacific": "PT",
    "eastern": "ET",
    "central": "CT",
    "mountain": "MT",
    "coordinated universal": "UTC",
    "greenwich mean": "GMT",
}
_ZONE_NAME = (
    r"(?:(?P<spelt>" + "|".join(_SPELT_ZONES) + r")\s+time\b(?:\s*\(\w+\))?"
    r"|(?P<written>" + _ZONE.pattern + r"))"
)
_CLOCK_ZONE = re.compile(_ZONE_NAME, re.IGNORECASE)
_CLOCK_TIME = re.compile(
    r"(?<![\d:])(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<meridiem>[ap]m\b)?"
    r"\s*" + _ZONE_NAME,
    re.IGNORECASE,
)
# Sentences longer than this explain something else; a clock is said briefly.
_CLOCK_LIMIT = 200


def read_clock(sentence: str) -> PageClock | None:
    """Read a statement of the page's time and zone, or return None.

    Recognises "All times are 14:00 UTC", "Times in PT", "All dates are in
    Pacific Time" and "Changes go live at 10:00 PT / 18:00 UTC". A time
    needs minutes or am/pm, so "Q3 2031 PT" sets only a zone.
    """
    text = _MERIDIEM.sub(r"\1m", _SPACES.sub(" ", sentence).strip())
    if len(text) > _CLOCK_LIMIT:
        return None
    moments = [
        (moment, zone)
        for match in _CLOCK_TIME.finditer(text)
        if (moment := _clock_time(match)) is not None
        and (zone := _clock_zone(match)) is not None
    ]
    # One moment in two zones says what it is; anything else must be about
    # times or dates to count.
    if len(moments) < 2 and not _CLOCK_SUBJECT.search(text):
        return None
    if moments:
        (first, zone), *others = moments
        alternative = others[0] if others else None
        return PageClock(text, zone, first, alternative)
    for match in _CLOCK_ZONE.finditer(text):
        zone = _clock_zone(match)
        if zone is not None:
            return PageClock(text, zone, None)
    return None


def _clock_time(match: re.Match[str]) -> time | None:
    """The time of day a match of ``_CLOCK_TIME`` writes, or None."""
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    meridiem = (match["meridiem"] or "").lower()
    if not match["minute"] and not meridiem:
        return None
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _clock_zone(match: re.Match[str]) -> ZoneInfo | None:
    """The zone a clock statement names, as an IANA zone, or None."""
    if match["spelt"]:
        return ZoneInfo(_ZONE_KEYS[_SPELT_ZONES[match["spelt"].lower()]])
    if match["iana"]:
        return _load_zone(match["iana"])
    if match["sign"]:
        # IANA writes whole-hour offsets with the sign reversed: Etc/GMT-2 is UTC+2.
        if match["minutes"] and int(match["minutes"]):
            return None
        sign = "-" if match["sign"] == "+" else "+"
        return _load_zone(f"Etc/GMT{sign}{int(match['hours'])}")
    return ZoneInfo(_ZONE_KEYS[match["name"].upper()])


def _apply_clock(reading: _Reading, clock: PageClock, context: _Context) -> _Reading:
    """Give a day read without a time the page's time of day.

    When the page writes the moment in two zones, a warning says on which
    dates the two disagree; the first is used.
    """
    if reading.precision is not Precision.DAY or clock.time_of_day is None:
        return reading
    zone = clock.zone or context.zone
    due_at = datetime.combine(reading.start, clock.time_of_day, tzinfo=zone)
    warnings = reading.warnings
    if clock.alternative is not None:
        other_time, other_zone = clock.alternative
        local = _convert(due_at, other_zone)
        if (local.hour, local.minute) != (other_time.hour, other_time.minute):
            warnings = (
                *warnings,
                f"on {reading.start.isoformat()} {clock.time_of_day:%H:%M} in {zone} is "
                f"{local:%H:%M} in {other_zone}, not {other_time:%H:%M} as the page "
                "says; used the first",
            )
    return replace(
        reading, precision=Precision.MINUTE, due_at=due_at, warnings=warnings
    )


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
    r"|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# Five digits too, so that a typo such as "20331" is found and flagged.
_YEAR = r"\d{4,5}"
_WEEKDAY_WORD = (
    r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?,?\s+)?"
)
_QUALIFIER_WORD = r"(?:(?:early|mid|late|end\s+of|week\s+of)[\s-]+)?"
_ZONE_WORD = r"(?:" + "|".join(name for name in _ZONE_KEYS if name != "Z") + r")"
_TIME_WORDS = (
    r"(?:,?\s+(?:at\s+)?\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?"
    r"(?:\s+" + _ZONE_WORD + r")?"
    r"(?=[\s.,;)]|$))?"
)
# Date shapes written inside sentences. A month name counts only beside a day
# or a year, so the verb "may" is no date; a year alone ("2048 tokens") and
# dotted numbers ("v20.10", "1.2.3") are never matched.
_AT = re.compile(r"\s+at\s+", re.IGNORECASE)
_DATE_IN_TEXT = re.compile(
    r"(?<![\w./-])(?:"
    + r"|".join(
        (
            r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?"
            r"(?:Z|[+-]\d{2}:?\d{2}|\s+" + _ZONE_WORD + r"(?![\w/-]))?)?",
            r"\d{4}/\d{1,2}/\d{1,2}",
            rf"{_QUALIFIER_WORD}\d{{1,2}}-{_MONTH}-{_YEAR}",
            rf"{_QUALIFIER_WORD}{_WEEKDAY_WORD}{_DAY}(?:\s*[-\u2013]\s*{_DAY})?\s+"
            rf"{_MONTH},?\s+{_YEAR}{_TIME_WORDS}",
            rf"{_QUALIFIER_WORD}{_WEEKDAY_WORD}{_MONTH}\s+{_DAY}"
            rf"(?:\s*[-\u2013]\s*{_DAY})?,?\s+{_YEAR}{_TIME_WORDS}",
            rf"{_QUALIFIER_WORD}{_MONTH},?\s+{_YEAR}",
            rf"\d{{1,2}}/\d{{1,2}}/{_YEAR}",
            rf"q[1-4]\s*{_YEAR}|h[12]\s*{_YEAR}",
            rf"{_YEAR}\s*(?:q[1-4]|h[12])",
            rf"(?:early|mid|late)[\s-]+{_YEAR}",
        )
    )
    + r")(?![\w/-])",
    re.IGNORECASE,
)


def find_dates(
    text: str,
    *,
    zone: ZoneInfo,
    reference: datetime | None = None,
    clock: PageClock | None = None,
) -> list[FoundDate]:
    """Find the dates written inside a sentence, in order.

    Each is read as ``parse_date`` reads a cell, so an impossible one
    ("45-May-2031") is found, left undated and carries a warning.
    """
    found: list[FoundDate] = []
    for match in _DATE_IN_TEXT.finditer(text):
        written = match.group().rstrip(".,")
        parsed = parse_date(
            _AT.sub(" ", written), zone=zone, reference=reference, clock=clock
        )
        end = match.start() + len(written)
        found.append(FoundDate(match.start(), end, replace(parsed, text=written)))
    return found
