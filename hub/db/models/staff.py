"""Staff users, their roles and sign-in tokens (issue 12).

A role is a list of permissions (``hub.auth.PERMISSIONS``) with optional channel and
location restrictions (None: every channel, every location). A staff user holds roles
through ``staff_user_roles``; an API key bound to a staff user (``api_keys.staff_user_id``)
acts with that user's roles. Staff access tokens (prefix ``hubst_``) are stored hashed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # argon2id (hub.domain.accounts.passwords); None: cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffRole(Base):
    __tablename__ = "staff_roles"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    permissions: Mapped[list[str]] = mapped_column(JSON)
    # Channel and location ids the role is restricted to; None: all of them.
    channel_ids: Mapped[list[int] | None] = mapped_column(JSON)
    location_ids: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffUserRole(Base):
    __tablename__ = "staff_user_roles"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[int] = mapped_column(
        ForeignKey("staff_roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class StaffToken(Base):
    """A staff access token (``staffAccessTokenCreate``): only its SHA-256 is kept."""

    __tablename__ = "staff_tokens"
    __table_args__ = (Index("ix_staff_tokens_user", "user_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    # A PIN sign-in at a till (issue 14): the token reaches that till's location only,
    # and only while the till is active.
    till_id: Mapped[int | None] = mapped_column(ForeignKey("tills.id", ondelete="CASCADE"))
