"""Server defaults, importable without loading the server (the CLI's ``--help`` reads them)."""

DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_BATCH = 16
DEFAULT_BATCH_WINDOW_MS = 5.0
