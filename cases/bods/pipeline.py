"""Run an importer's source of prepared batches in a forked reader process, a batch ahead.

An import has work that depends on nothing but the input (reading, parsing,
checking a record on its own, mapping it to column values) and work that
depends on the database (references, existing records, writes). The first kind
can run in a second process while the importing process does the second kind
for the previous batch. Any importer can use this: a *source* is an object
with ``batches()`` (an iterator of lists, each list picklable) and ``result()``
(what the importer needs once the last batch is read, e.g. the file's sha256).

Guarantees, whichever way the source runs:

* Order and errors are those of running the source in the importing process:
  batches arrive in order; an exception raised by the source is raised by the
  iteration, as itself (a ``BodsError`` keeps its position and statementId; any
  other exception carries the reader's traceback as a note).
* Memory stays bounded: the reader sends one pickled batch at a time through a
  pipe and blocks until it is taken, so it is at most one batch ahead.
* The reader never holds the import's transaction open: it lets go of every
  inherited database socket, and it dies with its parent (``PR_SET_PDEATHSIG``
  on Linux, a broken pipe elsewhere). If the reader dies, iteration raises.
* ``close()`` ends the reader whatever state it is in.

Nothing here imports Django: the reader finds the inherited sockets through
``django.db.connections`` only if Django is loaded.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class BatchSource(Protocol):
    def batches(self) -> Iterator[list[Any]]: ...

    def result(self) -> Any: ...


class InProcess:
    """The source run in the importing process: for inputs too small to pay for a fork."""

    def __init__(self, source: BatchSource):
        self._source = source

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self._source.batches())

    def result(self) -> Any:
        return self._source.result()

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


class ReaderProcess:
    """The source run in a forked process; iterate to receive its batches (see the module docstring).

    ``before_sending`` may replace a batch before it is pickled (for instance with
    ``picklable`` when the source knows a batch carries exceptions); it runs in the reader.
    """

    def __init__(
        self,
        source: BatchSource,
        *,
        before_sending: Callable[[list[Any]], list[Any]] | None = None,
        name: str = "import-reader",
        siblings: list[ReaderProcess] = (),
    ):
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        _widen_pipe(send)
        # The child closes what it inherits of readers started before it (their pipes' reading ends), so
        # that a sibling's send fails once the importing process stops reading, as it does for one reader.
        inherited = [sibling._receive for sibling in siblings]
        self._process = context.Process(
            target=reader_main,
            args=(source, before_sending, send, self._receive, os.getpid(), inherited),
            name=name,
            daemon=True,
        )
        self._process.start()
        send.close()  # the child's copy stays open: end of file on the pipe means the child is gone
        self._result: Any = None
        self._finished = False

    def receive(self) -> tuple[str, Any]:
        """The next message: ``("batch", batch)``, ``("end", result)`` or ``("error", exception)``."""
        try:
            kind, value = pickle.loads(receive_bytes(self._receive))  # noqa: S301 - our own child's bytes
        except EOFError:
            self._process.join(5)
            raise RuntimeError(
                f"the import's reader process ended before the end of the file (exit code {self._process.exitcode})"
            ) from None
        if kind == "end":
            self._result, self._finished = value, True
        return kind, value

    def __iter__(self) -> Iterator[list[Any]]:
        while True:
            kind, value = self.receive()
            if kind == "batch":
                yield value
            elif kind == "end":
                return
            else:
                raise value

    def result(self) -> Any:
        assert self._finished, "the result is known once every batch has been read"
        return self._result

    def stop(self) -> None:
        """Ask the reader to end now, so a thread blocked reading from it wakes (end of file) and can be joined
        before ``close``: the process must not be waited for by two threads at once, or one of them may see
        it neither running nor finished (``waitpid`` of an already reaped child) and refuse to close it."""
        if self._process.is_alive():
            self._process.terminate()

    def close(self) -> None:
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - SIGTERM is not blocked in the child
            self._process.kill()
            self._process.join()
        self._process.close()


class SplitReaders:
    """A splittable source run as ``count`` reader processes, each preparing every ``count``-th batch.

    ``source.share(index, count)`` is the source that yields batches ``index``, ``index + count``, …
    of the whole; batch ``i`` is received from reader ``i % count``, so batches arrive in order and
    the first error in file order is the one raised, as with one reader. A reader that has no
    batch left sends its end; the others are at their end then too. ``result()`` is the list of the
    shares' results. Each reader is at most one batch ahead, so memory stays bounded.
    """

    def __init__(
        self,
        source: SplitSource,
        count: int,
        *,
        before_sending: Callable[[list[Any]], list[Any]] | None = None,
        name: str = "import-reader",
    ):
        self._readers: list[ReaderProcess] = []
        try:
            for index in range(count):
                self._readers.append(
                    ReaderProcess(
                        source.share(index, count),
                        before_sending=before_sending,
                        name=f"{name}-{index + 1}",
                        siblings=list(self._readers),
                    )
                )
        except BaseException:
            self.close()
            raise
        self._results: list[Any] | None = None

    def __iter__(self) -> Iterator[list[Any]]:
        position = 0
        while True:
            kind, value = self._readers[position % len(self._readers)].receive()
            if kind == "batch":
                yield value
                position += 1
            elif kind == "end":
                for reader in self._readers:
                    while not reader._finished:
                        kind, value = reader.receive()
                        if kind == "error":
                            raise value
                        if kind == "batch":  # pragma: no cover - a share's batches are every count-th
                            raise RuntimeError("an import reader sent a batch after another one's end")
                self._results = [reader.result() for reader in self._readers]
                return
            else:
                raise value

    def result(self) -> list[Any]:
        assert self._results is not None, "the result is known once every batch has been read"
        return self._results

    def stop(self) -> None:
        for reader in self._readers:
            reader.stop()

    def close(self) -> None:
        for reader in self._readers:
            reader.close()


class SplitSource(BatchSource, Protocol):
    def share(self, index: int, count: int) -> BatchSource: ...


def open_batches(
    source: BatchSource,
    *,
    in_reader: bool,
    before_sending: Callable[[list[Any]], list[Any]] | None = None,
    name: str = "import-reader",
    readers: int = 1,
) -> InProcess | ReaderProcess | SplitReaders:
    """The source in a reader process (called ``name``) when asked and the platform can fork, else in this process.

    With ``readers`` above 1 and a source that can be split (``share``), that many reader processes
    share its batches (``SplitReaders``).
    """
    if in_reader and "fork" in multiprocessing.get_all_start_methods():
        if readers > 1 and callable(getattr(source, "share", None)):
            return SplitReaders(source, readers, before_sending=before_sending, name=name)
        return ReaderProcess(source, before_sending=before_sending, name=name)
    return InProcess(source)


def reader_main(source: BatchSource, before_sending, send, receive, parent_pid: int, inherited=()) -> None:
    """The reader process: the source's batches into ``send``, then its result or the exception it raised."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the importing process, which ends this one
    for connection in inherited:
        connection.close()
    detach_from_parent(receive, parent_pid)
    try:
        for batch in source.batches():
            _send(send, ("batch", batch if before_sending is None else before_sending(batch)))
        message: tuple[str, Any] = ("end", source.result())
    except BrokenPipeError:
        return  # the importing process has stopped reading
    except Exception as exc:
        exc.add_note(f"(raised in the import's reader process)\n{traceback.format_exc()}")
        message = ("error", picklable(exc))
    try:
        _send(send, message)
    except BrokenPipeError:
        return
    finally:
        send.close()


def detach_from_parent(receive, parent_pid: int) -> None:
    """Let go of what the importing process's transaction depends on, and die with that process.

    A forked child inherits the parent's database socket. Were the parent killed, the
    child's copy would keep the connection open, so PostgreSQL would never see the client
    go and the import's transaction would stay open, holding its locks, for as long as the
    child lived. The child therefore points every inherited database socket at /dev/null
    (closing the connection instead would send the server a Terminate and end the parent's
    session), closes its copy of the pipe's reading end (so a send after the parent is gone
    fails with ``BrokenPipeError``), and on Linux asks to be killed when the parent dies.
    """
    receive.close()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in _database_socket_fds():
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    _kill_me_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _database_socket_fds() -> list[int]:
    db = sys.modules.get("django.db")
    if db is None:
        return []
    fds = []
    for alias in db.connections:
        raw = getattr(db.connections[alias], "connection", None)
        pgconn = getattr(raw, "pgconn", None)  # psycopg 3; SQLite holds no server session
        if pgconn is not None and pgconn.status == 0:  # CONNECTION_OK
            fds.append(pgconn.socket)
    return fds


def _kill_me_with_parent() -> None:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` where the C library has it (Linux).

    Elsewhere the broken pipe ends the child at its next send."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


#: Pipe buffer asked for (Linux ``F_SETPIPE_SZ``; the default is 64 KiB): a batch of several MB then
#: crosses in a few writes and reads instead of a hundred, each a switch between the two processes.
PIPE_BYTES = 1 << 20


def _widen_pipe(connection) -> None:
    try:
        import fcntl

        fcntl.fcntl(connection.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default buffer
        pass


def receive_bytes(connection) -> bytes | bytearray:
    """``connection.recv_bytes()``, read straight into one buffer of the message's size.

    ``Connection.recv_bytes`` gathers a message's chunks in a ``BytesIO`` and copies them out again:
    for the importing process, two copies of every multi-megabyte batch (~60 ms of CPU per 100 000
    GLEIF records). The framing is ``Connection.send_bytes``'s: a signed 4-byte big-endian length,
    -1 followed by an 8-byte one for a message above 2 GiB. Raises ``EOFError`` at the end of the
    pipe, as ``recv_bytes`` does.
    """
    fd = connection.fileno()
    size = int.from_bytes(_read_exactly(fd, 4, at_start=True), "big", signed=True)
    if size == -1:
        size = int.from_bytes(_read_exactly(fd, 8), "big")
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int, *, at_start: bool = False) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = os.readv(fd, [view[got:]])
        if count == 0:
            if at_start and got == 0:
                raise EOFError
            raise OSError("got end of file during message")
        got += count
    return buffer


def _send(send, message: tuple[str, Any]) -> None:
    send.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def picklable(value: Any) -> Any:
    """``value`` with every exception in it that does not survive pickling replaced by a ``RuntimeError`` naming it.

    Walks tuples (named ones included) and lists; costs a round trip per exception, so
    a source calls it only for a batch it knows holds exceptions.
    """
    if isinstance(value, BaseException):
        try:
            pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes
        except Exception:
            return RuntimeError(f"{value.__class__.__name__}: {value}")
        return value
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(picklable(item) for item in value))
    if isinstance(value, tuple | list):
        return type(value)(picklable(item) for item in value)
    return value
