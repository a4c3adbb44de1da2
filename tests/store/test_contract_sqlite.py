"""The store contract on SQLite, with the `store` fixture of tests/conftest.py."""

from __future__ import annotations

from tests.store.contract import StoreContract


class TestSqliteStore(StoreContract):
    pass
