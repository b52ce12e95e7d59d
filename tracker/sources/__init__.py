"""Where pages come from: one class per kind of source, listed by kind."""

from tracker.sources.base import PageRevision, Source
from tracker.sources.git import GitSource

SOURCE_KINDS = {"git": GitSource}

__all__ = ["SOURCE_KINDS", "GitSource", "PageRevision", "Source"]
