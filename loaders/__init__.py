"""Per-request DataLoaders: one per batch function, created on first use.

A `Loaders` registry lives for one request. Each DataLoader binds to the running event
loop when it is made, so the registry is built inside the request's task.
"""

from __future__ import annotations

from asyncio import Future
from collections.abc import Callable, Coroutine, Iterable
from functools import cache, cached_property
from typing import Any

from aiodataloader import DataLoader

from loaders import accounts, catalog, orders, reviews
from loaders.pagination import Children, Slice, Window
from telemetry import tracing
from telemetry.metrics import DATALOADER_BATCH_SIZE

BatchFunction = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]


class Loader(DataLoader[Any, Any]):
    """A DataLoader whose `load_many` awaits each key's future in turn.

    aiodataloader's `load_many` gathers the futures, which adds a callback per key and
    runs it when the batch resolves: a few hundred per listing page (the 100-product
    listing of `benchmarks.run` takes less CPU without them). Here the first await waits
    for the batch; by then every future of the batch is done, and awaiting a done future
    does not suspend.
    """

    def __init__(self, batch_load_fn: BatchFunction, name: str = "", **options: Any) -> None:
        super().__init__(_observed(batch_load_fn, name or batch_load_fn.__name__), **options)

    async def load_many(self, keys: Iterable[Any]) -> list[Any]:  # type: ignore[override]
        futures = [self.load(key) for key in keys]
        try:
            return [await future for future in futures]
        except BaseException:
            for future in futures:  # the others' errors are this one's; mark them seen
                future.add_done_callback(_seen)
            raise


@cache
def _observed(batch: BatchFunction, name: str) -> BatchFunction:
    """`batch` reporting its batch sizes under `name`, and a span per batch when tracing
    is on."""
    sizes = DATALOADER_BATCH_SIZE.labels(name)

    async def observed(keys: list[Any]) -> list[Any]:
        sizes.observe(len(keys))
        if not tracing.active():
            return await batch(keys)
        with tracing.span("dataloader.batch", {"dataloader.name": name, "keys": len(keys)}):
            return await batch(keys)

    return observed


def _seen(future: Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Loaders:
    def clear(self) -> None:
        """Drop every loader and what it cached (the request is over)."""
        vars(self).clear()

    def pages(self, children: Children[Any]) -> DataLoader[tuple[int, Window], Slice]:
        """A page of each parent's `children`, by (parent id, window)."""
        return self._of_children("pages", children, children.load_pages)

    def counts(self, children: Children[Any]) -> DataLoader[int, int]:
        """How many `children` each parent has, by parent id."""
        return self._of_children("counts", children, children.load_counts)

    def _of_children(
        self, what: str, children: Children[Any], batch: BatchFunction
    ) -> DataLoader[Any, Any]:
        found = self._children.get((what, children))
        if found is None:
            found = self._children[what, children] = Loader(batch, f"load_{what}:{children.name}")
        return found

    @cached_property
    def _children(self) -> dict[tuple[str, Children[Any]], DataLoader[Any, Any]]:
        return {}

    @cached_property
    def user_by_id(self) -> DataLoader[int, Any]:
        return Loader(accounts.load_users)

    @cached_property
    def category_by_id(self) -> DataLoader[int, Any]:
        return Loader(catalog.load_categories)

    @cached_property
    def product_by_id(self) -> DataLoader[int, Any]:
        return Loader(catalog.load_products)

    @cached_property
    def product_by_sku(self) -> DataLoader[str, Any]:
        return Loader(catalog.load_products_by_sku)

    @cached_property
    def review_by_id(self) -> DataLoader[int, Any]:
        return Loader(reviews.load_reviews)

    @cached_property
    def has_reviewed(self) -> DataLoader[int, bool]:
        return Loader(reviews.load_have_reviewed)

    @cached_property
    def order_by_public_id(self) -> DataLoader[str, Any]:
        return Loader(orders.load_orders)

    @cached_property
    def items_by_order(self) -> DataLoader[int, Any]:
        return Loader(orders.load_items)
