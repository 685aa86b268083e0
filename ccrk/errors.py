"""Errors that name the culprit: file, line or record, field, and what was expected."""


class CCRKError(Exception):
    """Base class of every error ccrk raises on bad input or configuration."""


class DataError(CCRKError, ValueError):
    """A data file is malformed: the message names the file, the line and the field."""

    def __init__(self, path, line=None, field=None, problem=""):
        where = str(path) if line is None else f"{path}:{line}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {problem}".strip())
        self.path, self.line, self.field = str(path), line, field
