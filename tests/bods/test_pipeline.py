"""The reader pipeline with a source that is not BODS: what another importer can rely on."""

import multiprocessing
import os
import subprocess
import sys

import pytest

from cases.bods import BodsError
from cases.bods.pipeline import InProcess, ReaderProcess, open_batches

MODES = pytest.mark.parametrize("in_reader", [False, True], ids=["in process", "reader process"])


class Numbers:
    """Batches of numbers, then their count; optionally an exception after ``fail_after`` batches."""

    def __init__(self, batches: int, *, fail_with: BaseException | None = None, fail_after: int = 0):
        self.batches_wanted, self.fail_with, self.fail_after = batches, fail_with, fail_after
        self.sent = 0

    def batches(self):
        for number in range(self.batches_wanted):
            if self.fail_with is not None and number == self.fail_after:
                raise self.fail_with
            self.sent += 1
            yield [number * 10 + item for item in range(3)]

    def result(self):
        return {"batches": self.sent, "pid": os.getpid()}


def drain(stream):
    try:
        return list(stream), stream.result()
    finally:
        stream.close()


@MODES
def test_batches_arrive_in_order_then_the_result(in_reader):
    stream = open_batches(Numbers(4), in_reader=in_reader)
    assert isinstance(stream, ReaderProcess if in_reader else InProcess)
    batches, result = drain(stream)
    assert batches == [[0, 1, 2], [10, 11, 12], [20, 21, 22], [30, 31, 32]]
    assert result["batches"] == 4
    assert (result["pid"] != os.getpid()) is in_reader  # the source really ran in the reader
    assert not multiprocessing.active_children()


@MODES
def test_a_source_error_is_raised_as_itself_after_the_batches_before_it(in_reader):
    stream = open_batches(
        Numbers(4, fail_with=BodsError("bad", position=7, statement_id="s7"), fail_after=2), in_reader=in_reader
    )
    received = []
    with pytest.raises(BodsError) as error:
        for batch in stream:
            received.append(batch)
    stream.close()
    assert received == [[0, 1, 2], [10, 11, 12]]
    assert (error.value.reason, error.value.position, error.value.statement_id) == ("bad", 7, "s7")
    assert str(error.value) == "statement 7 (statementId s7): bad"


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def test_an_exception_that_cannot_cross_the_pipe_arrives_as_a_runtime_error_naming_it():
    stream = open_batches(Numbers(2, fail_with=Unpicklable(1, 2)), in_reader=True)
    with pytest.raises(RuntimeError, match=r"Unpicklable: 1/2"):
        drain(stream)


def test_the_mapping_and_the_pipeline_import_nothing_of_django():
    """The reader process must be able to run them without touching the database."""
    code = (
        "import sys, cases.bods.mapping, cases.bods.pipeline; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
