"""Plain text from HTML fragments, and the normal forms used to compare it."""

from __future__ import annotations

import re
import unicodedata

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, NavigableString, PageElement

BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "ul",
        "ol",
        "li",
        "pre",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "details",
        "summary",
        "dl",
        "dt",
        "dd",
        "figure",
    ]
)
SKIPPED_TAGS = frozenset({"script", "style", "template"})
WORD = re.compile(r"\w+")
URL = re.compile(r"\b(?:https?|ftp)://\S+|\bmailto:\S+", re.I)
# Page text is untrusted: terminal escapes and other control characters
# never belong in a title or details, and could repaint a user's terminal.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


# Void elements written without a closing slash ("<br>").
OPEN_VOID_TAG = re.compile(
    r"<(area|base|br|col|embed|hr|img|input|link|meta|source|track|wbr)(\s[^<>]*?)?\s*/?>",
    re.IGNORECASE,
)


def strip_control(text: str) -> str:
    """Remove control characters (terminal escapes among them) but newlines and tabs."""
    return CONTROL.sub("", text)


def make_soup(html: str) -> BeautifulSoup:
    """Parse HTML into a tree whose elements know their source lines.

    Void elements are first written self-closing: for each "<br>" without a
    slash, BeautifulSoup's html.parser builder remembers the tag in a list
    that every later end tag searches, which made large pages quadratic.
    """
    return BeautifulSoup(OPEN_VOID_TAG.sub(r"<\1\2/>", html), "html.parser")


def html_to_text(element: PageElement) -> str:
    """Return the readable text of ``element``: lines kept, markup dropped.

    ``<br>`` and block elements end lines, list items start with "- ", runs
    of spaces are folded and blank lines dropped, so the result reads like
    the rendered page whatever markup produced it.
    """
    parts: list[str] = []
    collect_text(element, parts)
    lines = (SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def collect_text(element: PageElement, parts: list[str]) -> None:
    """Append the text of ``element`` to ``parts`` with line breaks."""
    if isinstance(element, Comment):
        return
    if isinstance(element, NavigableString):
        parts.append(strip_control(str(element)).replace("\n", " "))
        return
    if not isinstance(element, Tag) or element.name in SKIPPED_TAGS:
        return
    if element.name == "br":
        parts.append("\n")
        return
    if element.name == "pre":
        parts.append("\n" + strip_control(element.get_text()) + "\n")
        return
    is_block = element.name in BLOCK_TAGS
    if is_block:
        parts.append("\n")
    if element.name == "li":
        parts.append("- ")
    for child in element.children:
        collect_text(child, parts)
    if is_block:
        parts.append("\n")


def inline_text(element: PageElement) -> str:
    """Return the text of ``element`` on one line."""
    return " ".join(html_to_text(element).split())


def fold(text: str) -> str:
    """Return ``text`` in a form that ignores case, Unicode variants and escapes.

    Backslashes go too: authors escape "\\_" inside code spans, where
    markdown keeps the backslash, and drop the escape in the next revision.
    """
    return unicodedata.normalize("NFKC", text).replace("\\", "").casefold()


def words(text: str) -> tuple[str, ...]:
    """Return the words of ``text``: what a reader compares, not the markup.

    Punctuation, case, escapes, spacing and URLs are ignored, so a list
    turned into a comma-separated sentence, a table re-flowed by an editor
    or a link pointed elsewhere compares equal, while any changed, added or
    removed word does not.
    """
    return tuple(WORD.findall(fold(URL.sub(" ", text))))


def normalize_title(title: str) -> str:
    """Return the identity form of a title: its words, space separated."""
    return " ".join(words(title))
