"""Session-wide test configuration.

Transactional tests (``django_db(transaction=True)``: live servers, real
threads) end by emptying every table, including the reference data the
migrations seed (jurisdictions, the default policy, role groups). Making them
all use serialized rollback restores that data before each one, whatever ran
before it.
"""

import uuid

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        if not marker.kwargs.get("serialized_rollback"):
            serialized = pytest.mark.django_db(*marker.args, **marker.kwargs, serialized_rollback=True)
            item.add_marker(serialized, append=False)


@pytest.fixture(autouse=True)
def _audit_checkpoint_dir(settings, tmp_path_factory, monkeypatch):
    """Each test its own (not yet created) checkpoint directory: files outlive the test's database rollback,
    so a checkpoint left by one test would look like a rollback to the next. The environment carries it
    too, so the subprocesses a test starts (manage.py, workers, benchmarks) anchor to the same place and
    never to another test's database."""
    directory = str(tmp_path_factory.getbasetemp() / "audit-checkpoints" / uuid.uuid4().hex)
    settings.AUDIT_CHECKPOINT_DIR = directory
    monkeypatch.setenv("AUDIT_CHECKPOINT_DIR", directory)
