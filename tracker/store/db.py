"""The database engine, sessions and automatic schema migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session, create_engine

from tracker.errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def open_engine(url: str) -> Engine:
    """Connect to the database at ``url`` and bring its schema up to date.

    A SQLite file's folder is created when missing. Raises StoreError with
    what to do when the database cannot be reached.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"bad database url {url!r}; write e.g. 'sqlite:///path/tracker.db' "
            "or 'postgresql+psycopg://user@host/db'"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    ):
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot open the database: cannot create folder {folder}: "
                f"{error.strerror}; check [database] url or [tracker] data_dir"
            ) from None

    try:
        engine = create_engine(url)
    except (ModuleNotFoundError, NoSuchModuleError) as error:
        raise StoreError(
            f"no driver for database url scheme {parsed.drivername!r} ({error}); "
            "install it, e.g. pip install 'psycopg[binary]' for postgresql+psycopg"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", configure_sqlite)
    upgrade_schema(engine)
    return engine


def configure_sqlite(connection: Any, record: Any) -> None:
    """Enforce foreign keys and let readers work while a sync writes."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def alembic_config(engine: Engine) -> AlembicConfig:
    """An Alembic configuration bound to ``engine``'s connection."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade_schema(engine: Engine) -> None:
    """Apply any migrations the database has not seen yet."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.begin() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current == head:
                return
            log.info("database schema upgrade from=%s to=%s", current, head)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as error:
        reason = str(error.orig).splitlines()[0]
        raise StoreError(
            f"cannot open the database: {reason}; check [database] url"
        ) from None
    except SQLAlchemyError as error:
        reason = str(error).splitlines()[0]
        raise StoreError(f"cannot migrate the database: {reason}") from None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
