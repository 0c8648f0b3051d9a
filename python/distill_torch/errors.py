"""Errors that cross module boundaries inside the engine."""


class ConfigError(Exception):
    """The experiment, its data or its models were refused before anything was created.

    `path` is the JSON path of the culprit in the experiment file (e.g. ['knowledge', 0, 'pairs', 1,
    'student']); the worker turns it into a located problem. `message` reads like the TF.js
    engine's for the same mistake (same names, same closest-name hints)."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path = list(path)
        self.message = message
