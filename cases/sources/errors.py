"""One error type for every source file: where (file, line or record) and what (field, reason)."""

from __future__ import annotations


class SourceError(Exception):
    """A file was rejected. The message names the file, the line/record and the field."""

    def __init__(self, reason: str, *, file: str = "", line: int | None = None, record: str = "", field: str = ""):
        self.reason = reason
        self.file = file
        self.line = line
        self.record = record
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = [part for part in (self.file, f"line {self.line}" if self.line else "") if part]
        if self.record:
            where.append(f"record {self.record}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def __reduce__(self):
        # Raised in the import's reader process and re-raised by the importing one: the pipe pickles
        # it, and the default (``cls(*args)``) would turn the located message into the bare reason.
        return _rebuild, (self.reason, self.file, self.line, self.record, self.field)

    def located(self, *, file: str) -> SourceError:
        """The same error with the file named (readers know lines; the service knows the file)."""
        self.file = self.file or file
        self.args = (self.message,)
        return self


def _rebuild(reason: str, file: str, line: int | None, record: str, field: str) -> SourceError:
    return SourceError(reason, file=file, line=line, record=record, field=field)
