from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class PersistedQuery(Base):
    """A registered GraphQL operation (persisted queries, see ``hub.persisted``): the
    document's text under its id, the SHA-256 of the text in hex (or the id a
    manifest gave it)."""

    __tablename__ = "persisted_queries"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    operation_name: Mapped[str | None] = mapped_column(String(255))
    # "client": registered by a client's request (APQ); "manifest": `hub persisted-queries load`.
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
