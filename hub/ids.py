"""Global IDs: ``gid://hub/<Type>/<pk>``. Stable, opaque to clients, readable in logs."""

from __future__ import annotations

from hub.bounds import MAX_ID_DIGITS, ascii_digits

PREFIX = "gid://hub/"


class InvalidId(ValueError):
    pass


def encode(type_name: str, pk: int) -> str:
    return f"{PREFIX}{type_name}/{pk}"


def decode(gid: str, expected: str | tuple[str, ...] | None = None) -> tuple[str, int]:
    """Split a global id into (type, pk); raise InvalidId for anything malformed."""
    if not isinstance(gid, str) or not gid.startswith(PREFIX):
        raise InvalidId(f"{gid!r} is not a hub global id (gid://hub/<Type>/<id>)")
    type_name, _, raw = gid[len(PREFIX) :].partition("/")
    pk = parse_pk(raw)
    if not type_name or pk is None:
        raise InvalidId(f"{gid!r} is not a hub global id (gid://hub/<Type>/<id>)")
    if expected is not None:
        allowed = (expected,) if isinstance(expected, str) else expected
        if type_name not in allowed:
            raise InvalidId(f"{gid!r} is not a {' or '.join(allowed)} id")
    return type_name, pk


def parse_pk(raw: str) -> int | None:
    """The primary key in a global id's last part: 1 to 18 ASCII digits (so it fits
    the 64-bit id columns), else None."""
    return ascii_digits(raw, MAX_ID_DIGITS)


def decode_pk(gid: str, expected: str) -> int:
    return decode(gid, expected)[1]
