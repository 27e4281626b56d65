"""The production server: gunicorn, one worker process per core, each with two threads.

Searches are Python and numpy work; threads of one process take turns on the interpreter lock,
so a second process is what lets a 2-core machine answer two searches at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from threadpoolctl import threadpool_limits

from indexer.embeddings import THREADS_ENV


def one_thread_each() -> threadpool_limits:
    """Keeps this process's numeric libraries to one thread each, as in a server worker (the workers are
    the parallelism), and returns the limits (a context manager that lifts them again).

    With OpenBLAS's own threads, 8 concurrent searches (each encoding its query) fought over 2 cores: HTTP
    p50 2.5 s at 1,000 items. Idle, its threads spin waiting for work: one process searching four Xapian
    shards at 1M items used 97 ms of CPU a search with them and 43 ms without, CPU the shards then lacked."""
    limits = threadpool_limits(1)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault(THREADS_ENV, "1")  # ONNX Runtime's own pool, as for BLAS above
    return limits


class SearchServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn run from Python: each worker builds its own app after the fork (no shared index handles)."""

    def __init__(self, make_app: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.make_app = make_app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        one_thread_each()
        app = self.make_app()
        # Before the worker takes requests: at 100,000 items the columns take about 2 s to read, and
        # searches arriving meanwhile would all wait for them.
        app.extensions["search_index"].warm()
        return app


# Threads per worker process. Two, not four: under 8 clients on 2 cores (100,000 items, 7 or 8 interleaved
# runs each) HTTP p95 was 155 ms (132-190) with two, 179 ms (162-214) with four and 147 ms (125-160) with one.
# More threads share one interpreter lock, so every search in a worker slows while another runs; one thread
# would queue searches best, but then one slow request or client holds the whole worker.
THREADS = 2


def serve(make_app: Callable[[], Flask], host: str, port: int, workers: int, threads: int = THREADS) -> None:
    """Serves the app until interrupted."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # A worker takes no more connections than it has threads, and closes each after its answer:
        # requests then go to whichever worker is free. With keep-alive, a client's connection stayed
        # with one worker while the other idled (8 benchmark clients: p95 120-290 ms by chance).
        "worker_connections": threads,
        "keepalive": 0,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "proc_name": "cpsearch",
        "control_socket_disable": True,  # no runtime control needed, and it would write to $HOME
    }
    SearchServer(make_app, options).run()
