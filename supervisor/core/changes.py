"""One count of the changes to the records the read routes show, so that an answer encoded once can be
served until the count moves (supervisor/api/read_cache.py).

Counting is automatic, not a call at each place that changes something: a record class that inherits
`Counted` (an engine, a VPN, the stack state, the breaker) counts every assignment to its attributes, and
`CountedSet` / `CountedDict`, the containers those records change in place (an engine's streams, the
engines by id, the port pool's slots), count every in-place change. New code that changes a record is
counted without knowing about it.

The count is one per process: a change to any record moves it. It can only make an answer be built again
when nothing it shows changed, never leave a changed one unbuilt. What time alone changes (a breaker
turning half-open, an ETA counting down) is not a change of a record: the status answer is checked again
at least every `read_cache.STATUS_RECHECK_S` for that.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import TYPE_CHECKING, Any, Self, TypeVar


class _Count:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


_COUNT = _Count()

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


def changes() -> int:
    """The changes counted so far: two equal readings mean no record changed in between."""
    return _COUNT.value


def changed() -> None:
    """Count one change (what `Counted` and the counted containers call)."""
    _COUNT.value += 1


class Counted:
    """A record whose every attribute assignment (or deletion) counts as a change."""

    __slots__ = ()

    # Hidden from mypy: a class defining __setattr__ lets mypy accept an assignment to any attribute name,
    # so a misspelt field would no longer be an error.
    if not TYPE_CHECKING:

        def __setattr__(self, name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # about twice as fast as super()'s, on the hot paths
            _COUNT.value += 1

        def __delattr__(self, name: str) -> None:
            object.__delattr__(self, name)
            _COUNT.value += 1


class CountedSet(set[T]):
    """A set whose every in-place change counts (reads cost what a set's do)."""

    def add(self, element: T) -> None:
        super().add(element)
        _COUNT.value += 1

    def discard(self, element: object) -> None:
        super().discard(element)
        _COUNT.value += 1

    def remove(self, element: T) -> None:
        super().remove(element)
        _COUNT.value += 1

    def pop(self) -> T:
        element = super().pop()
        _COUNT.value += 1
        return element

    def clear(self) -> None:
        super().clear()
        _COUNT.value += 1

    def update(self, *others: Iterable[T]) -> None:
        super().update(*others)
        _COUNT.value += 1

    def difference_update(self, *others: Iterable[Any]) -> None:
        super().difference_update(*others)
        _COUNT.value += 1

    def intersection_update(self, *others: Iterable[Any]) -> None:
        super().intersection_update(*others)
        _COUNT.value += 1

    def symmetric_difference_update(self, other: Iterable[T]) -> None:
        super().symmetric_difference_update(other)
        _COUNT.value += 1

    # The in-place operators (|=, &=, -=, ^=) of a set subclass do not go through the methods above. Their
    # signatures are typeshed's for set, which it too marks as overriding `|` and `^` incompatibly.
    def __ior__(self, other: Set[T], /) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __iand__(self, other: Set[object], /) -> Self:
        self.intersection_update(other)
        return self

    def __isub__(self, other: Set[object], /) -> Self:
        self.difference_update(other)
        return self

    def __ixor__(self, other: Set[T], /) -> Self:  # type: ignore[override,misc]
        self.symmetric_difference_update(other)
        return self


class CountedDict(dict[K, V]):
    """A dict whose every in-place change counts (lookups and iteration cost what a dict's do)."""

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        _COUNT.value += 1

    def __delitem__(self, key: K) -> None:
        super().__delitem__(key)
        _COUNT.value += 1

    def pop(self, key: K, *default: Any) -> Any:
        value = super().pop(key, *default)
        _COUNT.value += 1
        return value

    def popitem(self) -> tuple[K, V]:
        item = super().popitem()
        _COUNT.value += 1
        return item

    def clear(self) -> None:
        super().clear()
        _COUNT.value += 1

    def update(self, *others: Any, **pairs: V) -> None:
        super().update(*others, **pairs)
        _COUNT.value += 1

    def setdefault(self, key: K, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        _COUNT.value += 1
        return value

    def __ior__(self, other: Any, /) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self
