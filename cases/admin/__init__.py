"""The investigators' workplace: one admin module per topic (see docs/investigator-guide.md)."""

from . import api, audit, casework, decisions, ownership, parties, policy, sources  # noqa: F401
