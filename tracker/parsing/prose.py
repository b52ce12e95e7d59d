"""Find dated entries outside tables: dated headings, list items, sentences.

Changelogs date their headings ("### 2031-05-06", "## v2.3.0 (2031-05-06)")
and roadmaps date their list items and sentences ("- Streaming exports
arrive in Q3 2031", "We will retire v1 on 6 May 2031."). A heading with
words besides its date is one entry titled with those words, whose details
are the blocks up to the next heading of its level or above. A heading that
is only a date dates each list item below it, or else each paragraph: the
item's first line (the paragraph's first sentence) is the title, the rest
the details. Elsewhere each list item, or each sentence of a paragraph,
that writes a date is an entry titled with its text; the first date it
writes is its date. Sentences stating the page's clock ("All times are
14:00 UTC") or when the page itself was updated are no entries.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Tag

from tracker.parsing.context import Extraction
from tracker.parsing.dates import FoundDate, find_dates, read_clock
from tracker.parsing.model import ParsedDate, ParsedEntry
from tracker.parsing.tables import TITLE_LIMIT, collect_links, make_entry
from tracker.parsing.text import html_to_text, inline_text, normalize_title

# A sentence ends at ".", "!" or "?" followed by a space and a capital or
# digit; "v20.10" and "e.g. this" do not end one.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
# What is left of a heading around its date: separators, brackets, "Released".
HEADING_LEFTOVER = re.compile(r"^[\s\-\u2013\u2014:|,(\[]+|[\s\-\u2013\u2014:|,)\]]+$")
EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")
PAGE_STAMP = re.compile(
    r"\b(?:last\s+(?:updated|modified|reviewed|edited)|page\s+updated|published\s+on)\b",
    re.IGNORECASE,
)
NESTED_LISTS = ("ul", "ol")
ITEM_MARK = re.compile(r"^-\s*")


@dataclass
class DatedHeading:
    """A heading that writes a date, and the blocks below it so far."""

    level: int
    line: int
    title: str
    when: ParsedDate
    blocks: list[Tag] = field(default_factory=list)


def open_heading(
    heading: Tag, level: int, line: int, found: Extraction
) -> DatedHeading | None:
    """Return the dated heading ``heading`` starts, or None if it writes no date."""
    text = inline_text(heading)
    dates = find_dates(
        text, zone=found.rules.zone, reference=found.rules.reference, clock=found.clock
    )
    if not dates:
        return None
    first = dates[0]
    title = EMPTY_BRACKETS.sub("", text[: first.start] + " " + text[first.end :])
    title = HEADING_LEFTOVER.sub("", title)
    title = " ".join(title.split())
    return DatedHeading(level, line, title, first.parsed)


def close_heading(heading: DatedHeading, found: Extraction) -> None:
    """Add the entries of a dated heading once its blocks are known."""
    if heading.title:
        details = wrap(heading.blocks)
        found.add(
            "headings",
            make_entry(
                found,
                key=normalize_title(heading.title) or f"line {heading.line}",
                title=heading.title[:TITLE_LIMIT],
                when=heading.when,
                details_html=details,
                links=collect_links(details),
                line=heading.line,
            ),
        )
        found.note(
            heading.line,
            "heading",
            f"dated heading {heading.title!r}: one entry, {heading.when.text!r}",
        )
        return

    items = [item for item in heading.blocks if item.name == "li"]
    blocks = items or [block for block in heading.blocks if block.name == "p"]
    for block in blocks:
        title, rest = split_block(block)
        if not title:
            continue
        found.add(
            "headings",
            make_entry(
                found,
                key=normalize_title(title) or f"line {found.lines.line_of(block)}",
                title=title[:TITLE_LIMIT],
                when=heading.when,
                details_html=rest,
                links=collect_links(block),
                line=found.lines.line_of(block),
            ),
        )
    what = "list items" if items else "paragraphs"
    found.note(
        heading.line,
        "heading",
        f"dated heading {heading.when.text!r}: {len(blocks)} entries from its {what}",
    )
    if not blocks:
        found.skip(
            heading.line,
            "empty-heading",
            f"dated heading at line {heading.line} has no text below it; skipped",
        )


def split_block(block: Tag) -> tuple[str, Tag | None]:
    """Split a list item or paragraph into its title and its details."""
    own, nested = own_text(block)
    first, _, rest = own.partition("\n")
    first, *others = SENTENCE_END.split(first.strip(), maxsplit=1)
    rest = " ".join([*others, *rest.split()])
    details = (
        wrap([nested] if nested is not None else [])
        if not rest
        else text_block(rest, nested)
    )
    return first.strip(), details


def read_item(block: Tag, found: Extraction) -> None:
    """Add the entries a paragraph or list item outside dated headings writes."""
    line = found.lines.line_of(block)
    text, nested = own_text(block)
    pieces = (
        [" ".join(text.split())]
        if block.name == "li"
        else SENTENCE_END.split(" ".join(text.split()))
    )
    for piece in pieces:
        if PAGE_STAMP.search(piece):
            found.note(line, "skipped", f"{piece[:60]!r} dates the page, not a change")
            continue
        dates = find_dates(
            piece,
            zone=found.rules.zone,
            reference=found.rules.reference,
            clock=found.clock,
        )
        # TODO: only the first date of an item is read; "beta in Q2, GA in Q3"
        # would need an entry per date, and no sample page writes one yet.
        if dates:
            found.add("items", item_entry(piece, dates[0], block, nested, line, found))
            kind = "list item" if block.name == "li" else "sentence"
            found.note(
                line, "item", f"dated {kind} {piece[:60]!r}: {dates[0].parsed.text!r}"
            )


def item_entry(
    text: str,
    date: FoundDate,
    block: Tag,
    nested: Tag | None,
    line: int,
    found: Extraction,
) -> ParsedEntry:
    """The entry of a dated list item or sentence; its key leaves the date out."""
    undated = text[: date.start] + " " + text[date.end :]
    return make_entry(
        found,
        key=normalize_title(undated) or f"line {line}",
        title=text[:TITLE_LIMIT],
        when=date.parsed,
        details_html=wrap([nested]) if nested is not None else None,
        links=collect_links(block),
        line=line,
    )


def own_text(block: Tag) -> tuple[str, Tag | None]:
    """The text of a block without its nested lists, and those lists."""
    rest = copy.copy(block)
    nested = [child.extract() for child in rest.find_all(NESTED_LISTS)]
    text = html_to_text(rest)
    if block.name == "li":
        # html_to_text marks list items with "- ", on a line of its own when
        # the item holds a paragraph.
        text = ITEM_MARK.sub("", text, count=1)
    return text, (wrap(nested) if nested else None)


def wrap(blocks: list[Tag]) -> Tag:
    """One ``<div>`` holding copies of ``blocks``, to read as details."""
    holder = BeautifulSoup("", "html.parser").new_tag("div")
    for block in blocks:
        holder.append(copy.copy(block))
    return holder


def text_block(text: str, nested: Tag | None) -> Tag:
    """A ``<div>`` with a paragraph of ``text`` and, after it, ``nested``."""
    holder = wrap([nested] if nested is not None else [])
    paragraph = BeautifulSoup("", "html.parser").new_tag("p")
    paragraph.string = text
    holder.insert(0, paragraph)
    return holder


def read_page_clock(paragraph: Tag, found: Extraction) -> bool:
    """Take a paragraph stating the page's time and zone as the clock from here on.

    Returns whether it was such a statement.
    """
    clock = read_clock(inline_text(paragraph))
    if clock is None:
        return False
    found.clock = clock
    parts = []
    if clock.time_of_day is not None:
        parts.append(f"days without a time are at {clock.time_of_day:%H:%M}")
    if clock.zone is not None:
        parts.append(f"read in {clock.zone}")
    line = found.lines.line_of(paragraph)
    found.note(line, "clock", f"{' and '.join(parts)} from here on ({clock.text!r})")
    return True
