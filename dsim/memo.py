"""A method cache kept on the instance: ``functools.cache`` on a method keeps every instance it
was called on alive for the life of the process (the cache sits on the class, keyed by ``self``);
a per-cluster object's caches must go with it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Concatenate, ParamSpec, TypeVar

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")


def instance_cache(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Cache ``method``'s results per instance and positional arguments (hashable; no keywords)."""
    slot = f"_instance_cache_{method.__name__}"

    @functools.wraps(method)
    def cached(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs:
            raise TypeError(f"{method.__name__}: an instance-cached method takes positional arguments only")
        store: dict[tuple[Hashable, ...], R] = self.__dict__.setdefault(slot, {})
        key: tuple[Hashable, ...] = args
        if key not in store:
            store[key] = method(self, *args, **kwargs)
        return store[key]

    return cached
