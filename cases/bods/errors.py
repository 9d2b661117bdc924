"""The one exception the BODS reader and validator raise.

Every problem found in a file is reported with the same shape (1-based
position, statementId when known, a specific reason) so an operator can find
the offending statement without re-reading the file.
"""

from __future__ import annotations


class BodsError(Exception):
    """A BODS file that cannot be imported, pinned to the statement at fault."""

    def __init__(self, reason: str, *, position: int | None = None, statement_id: str | None = None):
        self.reason = reason
        self.position = position
        self.statement_id = statement_id
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.position is None:
            return self.reason
        where = f"statement {self.position}"
        if self.statement_id:
            where += f" (statementId {self.statement_id})"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        """Pickled with its keyword arguments (and notes), so it crosses from the import's reader process intact."""
        return (_rebuild, (type(self), self.reason, self.position, self.statement_id), self.__dict__)


def _rebuild(cls: type[BodsError], reason: str, position: int | None, statement_id: str | None) -> BodsError:
    return cls(reason, position=position, statement_id=statement_id)
