"""Connector row hashes: what a feed connector last imported, per instance and row
key, so a re-import sends the hub only rows whose content changed (issue 12)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId


class FeedRowHash(Base):
    """The content hash of one row (``key``: its SKU, or ``stock@<sku>``) a connector
    instance imported. Deleted with the instance; dropped too when the instance starts
    afresh (no cursor)."""

    __tablename__ = "feed_row_hashes"
    instance_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
