"""Connector row hashes: what a feed connector last imported, per instance and row
key, so a re-import sends the hub only rows whose content changed (issue 12)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class FeedRowHash(Base):
    """The content hash of one row (``key``: its SKU) a connector instance imported.
    No foreign key to the instance: the hashes of an instance are dropped when it
    starts afresh (no cursor), which also covers an id SQLite hands out again."""

    __tablename__ = "feed_row_hashes"
    instance_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
