"""Track vendors' change calendars and tell people before the dates arrive."""

__version__ = "0.1.0"
