"""The reader pipeline with a source that is not BODS: what another importer can rely on."""

import multiprocessing
import os
import subprocess
import sys

import pytest

from cases.bods import BodsError
from cases.bods.pipeline import InProcess, ReaderProcess, SplitReaders, open_batches

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


class Shares(Numbers):
    """``Numbers`` that can be split: share ``index`` of ``count`` yields every ``count``-th batch."""

    def share(self, index: int, count: int):
        whole = self

        class Share(Numbers):
            def batches(self):
                for number, batch in enumerate(Numbers.batches(self)):
                    if number % count == index:
                        yield batch

            def result(self):
                return {"batches": len(range(index, whole.batches_wanted, count)), "pid": os.getpid()}

        return Share(self.batches_wanted, fail_with=self.fail_with, fail_after=self.fail_after)


@pytest.mark.parametrize("batches", [0, 1, 2, 5, 6])
def test_split_readers_deliver_every_batch_in_order(batches):
    stream = open_batches(Shares(batches), in_reader=True, readers=2)
    assert isinstance(stream, SplitReaders)
    received, results = drain(stream)
    assert received == [[number * 10 + item for item in range(3)] for number in range(batches)]
    assert [result["batches"] for result in results] == [(batches + 1) // 2, batches // 2]
    assert len({result["pid"] for result in results} | {os.getpid()}) == 3  # two readers, neither this process
    assert not multiprocessing.active_children()
    unsplittable = open_batches(Numbers(1), in_reader=True, readers=2)
    try:
        assert isinstance(unsplittable, ReaderProcess)
    finally:
        unsplittable.close()  # left open, its reader could still be running when the next case counts children


@pytest.mark.parametrize("fail_after", [2, 3])
def test_split_readers_raise_the_first_error_in_order_whichever_reader_meets_it(fail_after):
    """Every share stops at the failing batch; the error arrives after exactly the batches before it."""
    stream = open_batches(
        Shares(6, fail_with=BodsError("bad", position=fail_after, statement_id="s"), fail_after=fail_after),
        in_reader=True,
        readers=2,
    )
    received = []
    with pytest.raises(BodsError) as error:
        for batch in stream:
            received.append(batch)
    stream.close()
    assert received == [[number * 10 + item for item in range(3)] for number in range(fail_after)]
    assert error.value.position == fail_after
    assert not multiprocessing.active_children()


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
