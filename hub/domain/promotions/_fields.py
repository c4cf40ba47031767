"""Validation shared by the model's constructors and the JSON reader.

Constructors coerce the forgiving cases (a ``set`` or ``list`` where a ``frozenset``
is wanted, an ``int`` percent) and raise ``ValueError`` for the rest. ``Fields`` reads
one JSON object, says which path was wrong, and refuses keys it does not know (a typo
such as ``"precent"`` must not silently become the default)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Generic, Self, TypeVar

T = TypeVar("T")

_MISSING: Any = object()


def check_int(value: object, name: str, *, minimum: int | None = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_opt_int(value: object, name: str, *, minimum: int | None = 0) -> int | None:
    return None if value is None else check_int(value, name, minimum=minimum)


def check_str(value: object, name: str, *, blank: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    if not blank and not value.strip():
        raise ValueError(f"{name} must not be blank")
    return value


def frozen_ints(value: object, name: str) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a set of integers, got {value!r}")
    return frozenset(check_int(v, f"{name} item", minimum=None) for v in value)


def frozen_strs(value: object, name: str) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a set of strings, got {value!r}")
    return frozenset(check_str(v, f"{name} item") for v in value)


def check_percent(value: object, name: str) -> Decimal:
    """A percentage in (0, 100]; ``Decimal`` or ``int``, never a float."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"{name} must be a Decimal (or int) percentage, got {value!r}")
    pct = Decimal(value)
    if not pct.is_finite() or not Decimal(0) < pct <= Decimal(100):
        raise ValueError(f"{name} must be more than 0 and at most 100, got {value}")
    return pct


def check_aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. UTC), got naive {value}")
    return value


def percent_text(value: Decimal) -> str:
    """``Decimal("12.50")`` -> ``"12.5"``, ``Decimal("1E+1")`` -> ``"10"``."""
    return format(value.normalize(), "f")


class Fields:
    """Reads one JSON object field by field; ``done()`` rejects unknown keys."""

    __slots__ = ("_data", "_seen", "path")

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{path}: expected an object, got {type(data).__name__}")
        self._data: Mapping[str, Any] = data
        self._seen: set[str] = set()
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> ValueError:
        return ValueError(f"{self.at(key)}: {message}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._seen.add(key)
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise self.fail(key, "is required")
        return default

    def _check(self, key: str, default: Any, check: Callable[[Any, str], T]) -> T:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        try:
            return check(value, "value")
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = 0) -> Any:
        return self._check(key, default, lambda v, n: check_opt_int(v, n, minimum=minimum))

    def text(self, key: str, default: Any = _MISSING, *, blank: bool = False) -> Any:
        return self._check(
            key, default, lambda v, n: None if v is None else check_str(v, n, blank=blank)
        )

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def decimal(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        return self.to_decimal(value, self.at(key))

    @staticmethod
    def to_decimal(value: object, path: str) -> Decimal:
        if isinstance(value, float):
            raise ValueError(f'{path}: write decimals as strings (e.g. "12.5"), not floats')
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{path}: expected a decimal string, got {value!r}")
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{path}: not a decimal number: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"{path}: not a finite number: {value!r}")
        return result

    def ints(self, key: str) -> frozenset[int]:
        return self._check(key, frozenset(), frozen_ints)

    def strs(self, key: str) -> frozenset[str]:
        return self._check(key, frozenset(), frozen_strs)

    def moment(self, key: str) -> datetime | None:
        value = self.raw(key, None)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"expected an ISO 8601 string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(key, f"not an ISO 8601 date-time: {value!r}") from None
        try:
            return check_aware(parsed, "value")
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def items(self, key: str, default: Any = _MISSING) -> list[Any]:
        value = self.raw(key, default)
        if not isinstance(value, list | tuple):
            raise self.fail(key, f"expected a list, got {type(value).__name__}")
        return list(value)

    def nested(self, key: str) -> Fields:
        return Fields(self.raw(key), self.at(key))

    def build(self, factory: Callable[..., T], **kwargs: Any) -> T:
        """Construct with the read values; a constructor's ValueError gets our path."""
        self.done()
        try:
            return factory(**kwargs)
        except ValueError as exc:
            raise ValueError(f"{self.path or 'promotion'}: {exc}") from None

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise ValueError(f"{self.path or 'promotion'}: unknown field(s) {names}")


class Part(ABC):
    """What conditions and actions share: a ``kind`` and a JSON form."""

    __slots__ = ()

    kind: ClassVar[str]  # the "type" in JSON

    @property
    def uses_money(self) -> bool:
        """True when it holds an amount (so the promotion needs a currency)."""
        return False

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_json(cls, f: Fields) -> Self: ...


P = TypeVar("P", bound=Part)
K = TypeVar("K", bound=type[Part])


class Kinds(Generic[P]):
    """The classes (conditions or actions, ``P``) readable from JSON, by their ``kind``.
    A module hands out its bound methods: ``register`` is the class decorator that makes
    a class readable under its ``kind``, ``read`` and ``write`` the JSON readers."""

    def __init__(self, noun: str) -> None:
        self.noun = noun
        self.classes: dict[str, Any] = {}

    def register(self, cls: K) -> K:
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"{cls.__name__} needs a non-empty 'kind'")
        if self.classes.get(kind, cls) is not cls:
            raise ValueError(f"{self.noun} kind {kind!r} is already registered")
        self.classes[kind] = cls
        return cls

    def unregister(self, cls: type[Part]) -> None:
        """Forget ``cls`` (a plugin that failed after registering it)."""
        if self.classes.get(getattr(cls, "kind", None) or "") is cls:
            del self.classes[cls.kind]

    def read(self, data: object, path: str) -> P:
        f = Fields(data, path)
        kind = f.text("type")
        cls = self.classes.get(kind)
        if cls is None:
            known = ", ".join(sorted(self.classes))
            raise f.fail("type", f"unknown {self.noun} {kind!r}; known: {known}")
        return cls.from_json(f)

    @staticmethod
    def write(obj: P) -> dict[str, Any]:
        return {"type": obj.kind, **obj.to_json()}
