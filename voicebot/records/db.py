"""The SQL database: one engine per process, sessions per unit of work.

SQLite by default, PostgreSQL (or anything SQLAlchemy speaks) via DATABASE_URL.
Access is synchronous and short; async code calls it through
``asyncio.to_thread`` so the event loop never waits on the database.
"""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from voicebot.config import reveal
from voicebot.records.models import Base


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """An engine and its session factory.

    The URL may hold a password: it is revealed only here, and SQLAlchemy's own
    repr of the engine hides it.
    """

    def __init__(self, url: SecretStr | str) -> None:
        self.engine: Engine = create_engine(normalize_url(reveal(url)), pool_pre_ping=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        """Create missing tables (idempotent)."""
        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return self.sessions()
