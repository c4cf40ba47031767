from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class ApiKey(Base):
    """An API key. Only the SHA-256 of the token is stored; the token is shown once."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    # After this moment the key is refused (and its open websockets closed).
    expires_at: Mapped[datetime | None] = mapped_column()
    # A key with the "customer" scope acts for this one customer.
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # A key bound to a staff user acts with that user's roles (hub.auth).
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    # A partner key's permissions (hub.auth.PERMISSIONS); the plugin that owns the key
    # declares them. None on other keys.
    permissions: Mapped[list[str] | None] = mapped_column(JSON)
    # The plugin a partner key was made for (``hub apikey create --plugin``): at request
    # time it holds only what that plugin, still active, declares (hub.auth).
    plugin: Mapped[str | None] = mapped_column(String(63))
