"""The one registry type behind every extension point (DESIGN.md §1b, STYLE.md 21).

crm's segment rules, timeline sources, profile cards and member hooks are each a `Registry` of
small frozen dataclasses; other apps add theirs from AppConfig.ready() without a line changed
in crm. A name is registered once: a second registration raises `AlreadyRegistered` naming
both, because two apps choosing the same name would otherwise silently replace each other's
rule or card (and the segments saved with it would change meaning).

    TIMELINE_SOURCES = Registry("timeline source", key=lambda source: source.kind)
    TIMELINE_SOURCES.register(TimelineSource(kind="points", fetch=points_entries))

Tests that register something wrap it in `with REGISTRY.scoped():`, which puts the registry
back as it was.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class AlreadyRegistered(ValueError):
    pass


class Registry(Generic[T]):
    """Named items in registration order; a name may be registered once."""

    def __init__(self, what: str, *, key: Callable[[T], str]):
        self.what = what
        self._key = key
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        """Add an item; raises AlreadyRegistered when its name is taken."""
        name = self._key(item)
        if name in self._items:
            raise AlreadyRegistered(
                f"{self.what} {name!r} is already registered ({self._items[name]!r}); "
                f"choose another name for {item!r}"
            )
        self._items[name] = item
        return item

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def all(self) -> list[T]:
        return list(self._items.values())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    @contextmanager
    def scoped(self) -> Iterator["Registry[T]"]:
        """Registrations made inside the block are undone at its end (for tests)."""
        saved = dict(self._items)
        try:
            yield self
        finally:
            self._items = saved
