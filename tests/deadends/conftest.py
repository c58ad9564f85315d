"""The annuaire samples, shared with tests/annuaire (directory results, recipient search)."""

from tests.annuaire.conftest import imported_directory  # noqa: F401
