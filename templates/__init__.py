"""The default message templates, installed as the package tracker.templates."""
