"""Services own every write: admin, API, commands and tasks call these, never the ORM directly."""
