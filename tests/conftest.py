"""Fixtures shared by every test: pages, the real vendor history, rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tracker.parsing import PageRules

DATA = Path(__file__).parent / "data"
PAGES = DATA / "pages"
BUNDLE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "fixtures"
    / "clarifai-upcoming-history.bundle"
)


def make_rules(
    zone: str = "America/New_York", reference: datetime | None = None
) -> PageRules:
    """Rules with the default heading patterns."""
    return PageRules.build(
        ZoneInfo(zone), reference or datetime(2030, 6, 1, tzinfo=UTC)
    )


@pytest.fixture
def rules() -> PageRules:
    """Rules for the sample pages: US Eastern, read as of 2030-06-01."""
    return make_rules()


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The real 31-revision history of a vendor's change page."""
    if not BUNDLE.exists():
        pytest.skip(
            f"vendor history bundle not found at {BUNDLE}; place "
            "clarifai-upcoming-history.bundle in ../shared/fixtures next to the repository"
        )
    return BUNDLE
