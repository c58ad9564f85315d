"""The REST API of applicative BALs (docs/decisions/0013-applicative-api.md), mounted at /api/v1/."""
