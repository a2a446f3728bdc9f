"""A Celery worker in a thread of the test process (it sees the test database: use
transaction=True), and the broker moved to another Redis for outage tests."""

import threading
import time
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections

from portal.celery import app as celery_app


def _close_worker_connections(**kwargs):
    # Worker threads end with the test; their database connections must not outlive it.
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


@contextmanager
def worker():
    celery_app.control.purge()  # messages left by earlier runs on this Redis database
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False,
                          shutdown_timeout=30, loglevel="WARNING"):
            yield
    finally:
        task_postrun.disconnect(_close_worker_connections)


@contextmanager
def broker(url):
    """Celery publishes to and consumes from `url` meanwhile."""
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = url
    celery_app._after_fork()  # drop the connection pools bound to the previous broker
    try:
        yield
    finally:
        celery_app.conf.broker_url = previous
        celery_app._after_fork()


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
