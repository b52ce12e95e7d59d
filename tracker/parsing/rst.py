"""reStructuredText pages, rendered to HTML by docutils.

The page is untrusted, so docutils is told not to read any file or URL
(``include``, ``csv-table :file:``/``:url:``, ``raw :file:``), not to pass
``raw`` HTML through, to read no configuration file, and to keep its
complaints about bad markup out of the page and out of stderr: the tracker
reports what it finds, not what docutils thinks of the markup.
Each block docutils knows the line of is marked with ``data-line`` so that
entries point at the page's lines.
"""

from __future__ import annotations

import io
from typing import Any

from bs4 import BeautifulSoup
from docutils import nodes
from docutils.core import publish_doctree, publish_from_doctree

from tracker.parsing.markdown import LINE_ATTRIBUTE
from tracker.parsing.text import make_soup

# Class docutils writes on a block, turned into ``data-line`` after rendering.
LINE_CLASS = "tracker-line-"
SETTINGS: dict[str, Any] = {
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "_disable_config": True,
    # 5 is above "severe": no message reaches the page or stops the reading.
    "report_level": 5,
    "halt_level": 5,
    "traceback": True,
    "input_encoding": "unicode",
    "output_encoding": "unicode",
    "doctitle_xform": False,
    "sectsubtitle_xform": False,
    "embed_stylesheet": False,
    "stylesheet_path": "",
    "syntax_highlight": "none",
    "math_output": "HTML",
}


def parse_rst(text: str) -> BeautifulSoup:
    """Render ``text`` to an HTML tree whose blocks know their page lines."""
    settings = {**SETTINGS, "warning_stream": io.StringIO()}
    document = publish_doctree(text, settings_overrides=settings)
    for node in list(document.findall(nodes.Element)):
        if isinstance(node, nodes.system_message):
            node.parent.remove(node)
        elif node.line:
            # docutils gives a section title the line of its underline.
            line = node.line - 1 if isinstance(node, nodes.title) else node.line
            node["classes"].append(f"{LINE_CLASS}{max(line, 1)}")
    html = publish_from_doctree(document, writer="html5", settings_overrides=settings)
    soup = make_soup(str(html))
    mark_lines(soup)
    return soup


def mark_lines(soup: BeautifulSoup) -> None:
    """Move the line classes written above into ``data-line`` attributes."""
    for element in soup.find_all(True):
        classes = [str(name) for name in element.get_attribute_list("class")]
        lines = [name for name in classes if name.startswith(LINE_CLASS)]
        if lines:
            element["class"] = " ".join(name for name in classes if name not in lines)
            element[LINE_ATTRIBUTE] = lines[0].removeprefix(LINE_CLASS)
    # docutils knows the lines of a row's cells, not of the row.
    for row in soup.find_all("tr"):
        marked = next(
            (cell for cell in row.find_all(True) if cell.has_attr(LINE_ATTRIBUTE)), None
        )
        if marked is not None and not row.has_attr(LINE_ATTRIBUTE):
            row[LINE_ATTRIBUTE] = marked[LINE_ATTRIBUTE]
