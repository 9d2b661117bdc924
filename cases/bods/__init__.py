"""Reading and validating BODS 0.4 files. Nothing in this package writes to the database.

``BodsFile`` streams statements from a JSON array or JSON Lines file (gzipped
or not); ``StatementValidator`` checks them against the BODS 0.4 schema and the
rules a schema cannot express; ``mapping`` turns them into column values and
``pipeline`` runs that work in a reader process. ``cases.services.bods_import``
writes them.
"""

from .errors import BodsError
from .reader import BodsFile
from .validation import StatementValidator, is_bods_04, jurisdiction_code_problem

__all__ = ["BodsError", "BodsFile", "StatementValidator", "is_bods_04", "jurisdiction_code_problem"]
