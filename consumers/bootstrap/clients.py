"""What the wiring builds adapters on: boto3 clients by service name, and the local backend.

One client factory for every wiring function (stream, engagement, API, hooks): a client is built once per
service and container, with botocore's connection pool sized to the worker pool (``PUE_MAX_WORKERS``) so
concurrent users do not queue for a connection. Tests and benchmarks inject clients by service name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from destinations.ports import Recommender

if TYPE_CHECKING:
    # The local backend (SQLite) is imported where it is opened: an aws cold start never loads it.
    from destinations.local import LocalBackend

ClientFactory = Callable[[str], Any]


def client_factory(clients: dict[str, Any], settings: Settings) -> ClientFactory:
    """boto3 clients by service name: the injected one, else one built (once, kept in ``clients``)."""

    def client(service: str) -> Any:
        if service not in clients:
            from destinations.aws.clients import make_client

            clients[service] = make_client(service, max_pool_connections=settings.max_workers)
        return clients[service]

    return client


def open_local(state_dir: Path, event_map: EventMap | None = None) -> LocalBackend:
    """The local backend under ``state_dir``; the event map says which event types are purchases."""
    from destinations.local import LocalBackend

    purchases = (event_map or EventMap.default()).purchase_event_types
    return LocalBackend.open(state_dir, purchase_event_types=purchases)


def local_recommender(
    state_dir: Path, event_map: EventMap | None = None, cache_kib: int | None = None
) -> Recommender:
    """The local recommender over ``state_dir``'s store, as ``open_local`` builds it for the pipeline, for a
    process of its own (``pue replay``'s refresh workers, ``consumers.runners.refresh_pool``); ``cache_kib``
    caps its connection's page cache (several readers must fit the replay's memory budget)."""
    backend = open_local(state_dir, event_map)
    if cache_kib is not None:
        with backend.store.transaction(write=False) as conn:
            conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    return backend.recommender
