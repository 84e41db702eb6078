"""Prometheus metrics observed below `server` (the rest are defined in `server.metrics`).

prometheus-client's default registry is global: a metric is defined once, at import, in
the lowest layer that observes it. With several workers the values live in files under
`PROMETHEUS_MULTIPROC_DIR` (set by `storefront serve`), summed at scrape time.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

GRAPHQL_ERRORS = Counter(
    "storefront_graphql_errors_total",
    "GraphQL errors sent to clients, by extensions.code",
    ["code"],
)
DATALOADER_BATCH_SIZE = Histogram(
    "storefront_dataloader_batch_size",
    "Keys per DataLoader batch, by batch function",
    ["loader"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
