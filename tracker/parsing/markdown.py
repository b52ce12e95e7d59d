"""Markdown pages: GFM tables, raw HTML, and the MyST and MDX flavours.

The page is rendered to HTML with markdown-it-py and handed to the HTML
extractor, so pipe tables and raw ``<table>`` blocks are read by one code
path. Each rendered block carries ``data-line`` (1-based line in the page)
so that errors and entries can point at the page's own lines.

MDX import and export statements, MyST comments ("% note") and targets
("(label)=") are blanked before rendering, line for line, so they never
become text; MyST roles ("{ref}`guide`") keep only their text. MyST
directives (a fence such as ```{note}) render as code blocks, which are
never read as entries; JSX components are HTML to the renderer, whose
attributes are never text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bs4 import BeautifulSoup, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from tracker.parsing.text import make_soup

LINE_ATTRIBUTE = "data-line"
LINE_MARKER = "tracker-line"
ANY_CONTAINER = "admonition"


def build_renderer() -> MarkdownIt:
    """Return a markdown-it parser for vendor docs pages."""
    md = MarkdownIt("commonmark", {"html": True})
    md.enable(["table", "strikethrough"])
    front_matter_plugin(md)
    # ":::tip", ":::note Title" and friends (Docusaurus/MDX admonitions).
    container_plugin(md, ANY_CONTAINER, validate=lambda params, markup: True)
    md.add_render_rule("html_block", render_html_block)
    md.add_render_rule("front_matter", lambda *args: "")
    return md


def render_html_block(
    self: Any, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    """Render a raw HTML block after a marker holding its page line.

    The block's lines are copied as they are, so an element inside it lies
    as many lines below the block's first page line as it lies below the
    marker in the rendered HTML.
    """
    token = tokens[index]
    line = token.map[0] + 1 if token.map else 1
    return f'<{LINE_MARKER} {LINE_ATTRIBUTE}="{line}"></{LINE_MARKER}>{token.content}'


RENDERER = build_renderer()
# An MDX statement starts a line with "import" or "export" and runs to the
# next blank line (https://mdxjs.com/docs/what-is-mdx/#esm).
MDX_STATEMENT = re.compile(
    r"^(?:import\s+(?:[\w*{][^\n]*\bfrom\s*)?['\"]|export\s+(?:const|let|var|function|default|async|class|\{|\*))"
)
MYST_LINE = re.compile(r"^(?:%.*|\(\s*[\w.:-]+\s*\)=\s*)$")
MYST_ROLE = re.compile(r"\{[\w:+.-]+\}(?=`)")
# TODO: MyST "{list-table}" directives stay code blocks; no sample page uses one.
FENCE = re.compile(r"^\s*(```|~~~)")


def blank_extensions(text: str) -> str:
    """Blank MDX statements and MyST comments and targets, keeping line numbers.

    Lines inside fenced code blocks are kept as they are.
    """
    lines = text.split("\n")
    in_fence = in_statement = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if in_statement or MDX_STATEMENT.match(line):
            in_statement = bool(line.strip())
            lines[index] = ""
        elif MYST_LINE.match(line):
            lines[index] = ""
        else:
            lines[index] = MYST_ROLE.sub("", line)
    return "\n".join(lines)


def parse_markdown(text: str) -> BeautifulSoup:
    """Render ``text`` to an HTML tree whose blocks know their page lines."""
    text = blank_extensions(text)
    tokens = RENDERER.parse(text)
    for token in tokens:
        if token.map and token.nesting == 1:
            token.attrSet(LINE_ATTRIBUTE, str(token.map[0] + 1))
    html = RENDERER.renderer.render(tokens, RENDERER.options, {})
    soup = make_soup(html)
    attach_spilled_rows(soup, text.splitlines())
    return soup


def attach_spilled_rows(soup: BeautifulSoup, lines: list[str]) -> None:
    """Put blocks that spill out of a pipe-table row back into its last cell.

    Some vendors write a fenced code block inside a table row: the row's line
    does not end with "|", the code follows on its own lines, and a lone "|"
    (or a line ending in "|") closes the row further down. Markdown ends the
    table at the fence; this moves the spilled blocks back into the row so
    that the entry keeps its whole text.
    """
    for table in soup.find_all("table"):
        last_row = table.find_all("tr")[-1] if table.find_all("tr") else None
        if last_row is None or not is_open_row(last_row, lines):
            continue
        cells = last_row.find_all(["td", "th"], recursive=False)
        if not cells:
            continue
        cell = cells[-1]
        for block in list(spilled_blocks(table)):
            closing = block.get_text().rstrip().endswith("|")
            if block.get_text().strip() != "|":
                cell.append(block.extract())
            else:
                block.extract()
            if closing:
                trim_closing_pipe(cell)
                break


def is_open_row(row: Tag, lines: list[str]) -> bool:
    """Tell whether a pipe-table row's page line lacks its closing "|"."""
    line = row.get(LINE_ATTRIBUTE)
    if not isinstance(line, str) or not line.isdigit():
        return False
    number = int(line)
    if number > len(lines):
        return False
    source = lines[number - 1].rstrip()
    return source.startswith("|") and not source.endswith("|")


def spilled_blocks(table: Tag) -> list[Tag]:
    """The blocks after ``table`` up to the next heading or table."""
    blocks: list[Tag] = []
    for sibling in table.find_next_siblings():
        if sibling.name in {"h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}:
            break
        blocks.append(sibling)
        if sibling.get_text().rstrip().endswith("|"):
            break
    return blocks


def trim_closing_pipe(cell: Tag) -> None:
    """Remove the row-closing "|" from the end of the cell's last text."""
    for text in reversed(list(cell.find_all(string=True))):
        stripped = text.rstrip()
        if not stripped:
            continue
        if stripped.endswith("|"):
            text.replace_with(stripped[:-1])
        return
