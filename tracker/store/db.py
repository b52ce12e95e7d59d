"""The database engine, sessions and automatic schema migrations."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session, create_engine

from tracker.errors import ConfigError, StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


# Serialises schema changes among replicas sharing one PostgreSQL database.
MIGRATION_LOCK = 0x7472_6B01
# The first half of the tracker's two-part advisory lock keys.
LOCK_SPACE = 0x7472


def open_engine(url: str, *, check: bool = True) -> Engine:
    """Connect to the database at ``url``, ready for the tracker's tables.

    A new, empty database gets the current schema; one with an older or newer
    schema is refused (``check=False`` skips that, for ``tracker db``). A
    SQLite file's folder is created when missing. Raises StoreError with what
    to do when the database cannot be used.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The URL may hold a password: never repeat it.
        raise ConfigError(
            "the database url is not a URL; write e.g. 'sqlite:///path/tracker.db' "
            "or 'postgresql+psycopg://user@host/db'"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # Plain postgresql:// means psycopg2 to SQLAlchemy; the tracker ships psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
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
        engine = create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            f"unknown database url scheme {parsed.drivername!r}; the tracker "
            "runs on 'sqlite:///path/tracker.db' or 'postgresql+psycopg://user@host/db'"
        ) from None
    except ModuleNotFoundError as error:
        raise StoreError(
            f"no driver for database url scheme {parsed.drivername!r} ({error}); "
            "install it with pip"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", configure_sqlite)
    if check:
        try:
            prepare_schema(engine)
        except StoreError:
            engine.dispose()
            raise
    return engine


def configure_sqlite(connection: Any, record: Any) -> None:
    """Enforce foreign keys and let readers work while a sync writes."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def alembic_config() -> AlembicConfig:
    """An Alembic configuration for the tracker's migrations."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this version of the tracker works with."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands against the code's."""

    current: str | None
    head: str
    known: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_state(engine: Engine) -> SchemaState:
    """The database's schema revision, read without changing anything."""
    with database_errors("read"), engine.connect() as connection:
        return _state(connection)


def _state(connection: Connection) -> SchemaState:
    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(connection).get_current_revision()
    known = current is None or any(
        step.revision == current for step in script.walk_revisions()
    )
    return SchemaState(current, head_revision(), known)


def prepare_schema(engine: Engine) -> None:
    """Create the schema in a new database; refuse one at another revision."""
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.current is None:
        upgrade_schema(engine, new_only=True)
        return
    raise StoreError(schema_mismatch(state))


def schema_mismatch(state: SchemaState) -> str:
    """What to do about a database whose schema is not the code's."""
    if not state.known:
        return (
            f"the database schema is at revision {state.current}, newer than this "
            f"tracker knows (it needs {state.head}); upgrade the tracker, or run the "
            "version that wrote the database"
        )
    return (
        f"the database schema is at revision {state.current or 'none'} and this "
        f"tracker needs {state.head}; back up the database, then run 'tracker db upgrade'"
    )


def _has_tracker_tables(connection: Connection) -> bool:
    # Other applications' tables may share the database; only ours count.
    return "source" in inspect(connection).get_table_names()


def upgrade_schema(engine: Engine, *, new_only: bool = False) -> SchemaState:
    """Apply any migrations the database has not seen; return where it was.

    With ``new_only``, only a database without the tracker's tables is set
    up; one at an older revision is refused. Processes starting together on
    one database take turns: the first migrates, the others then find the
    schema current.
    """
    config = alembic_config()
    with (
        migration_turn(engine),
        database_errors("migrate"),
        engine.begin() as connection,
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        before = _state(connection)
        if not before.known:
            raise StoreError(schema_mismatch(before))
        if before.up_to_date:
            return before
        if new_only and (before.current is not None or _has_tracker_tables(connection)):
            raise StoreError(schema_mismatch(before))
        log.info("database schema upgrade from=%s to=%s", before.current, before.head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        return before


@contextmanager
def migration_turn(engine: Engine) -> Iterator[None]:
    """Hold a SQLite file's migration lock; PostgreSQL locks in the transaction."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    with FileLock(str(Path(database).expanduser()) + ".migrate.lock"):
        yield


@contextmanager
def exclusive(engine: Engine, name: str, *, wait: bool) -> Iterator[bool]:
    """Hold the lock called ``name`` among the processes sharing a PostgreSQL
    database; yield whether it was taken (always, with ``wait``).

    It is a session advisory lock on a connection kept for the purpose: the
    server releases it when the holder's connection ends, so a replica that
    dies cannot keep it. SQLite serves one daemon at a time (see
    ``tracker.scheduling.instance_lock``), so there the lock is always taken.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = {"space": LOCK_SPACE, "key": zlib.crc32(name.encode("utf-8")) - 2**31}
    take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
    # Only the lock's own statements are the lock's errors: what the caller
    # does while holding it raises as it would without it.
    with database_errors("lock"):
        connection = engine.connect()
        try:
            taken = connection.execute(
                text(f"SELECT {take}(:space, :key)"), key
            ).scalar()
            connection.commit()
        except BaseException:
            connection.close()
            raise
    try:
        yield taken is not False
    finally:
        try:
            if taken is not False:
                with database_errors("unlock"):
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:space, :key)"), key
                    )
                    connection.commit()
        finally:
            connection.close()


@contextmanager
def database_errors(doing: str) -> Iterator[None]:
    """Turn a database failure into a StoreError that says what to check."""
    try:
        yield
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise StoreError(
            f"cannot open the database: {reason}; check [database] url "
            "(or TRACKER_DATABASE_URL)"
        ) from None
    except SQLAlchemyError as error:
        reason = str(error).strip().splitlines()[0]
        raise StoreError(f"cannot {doing} the database: {reason}") from None


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
