"""Small, domain-free helpers shared by every app: no model, no rule of the trust space.

This package sits below all of `apps/` and imports none of them, nor the project package `mssante_web`
(import-linter contract "Library imports nothing of ours", docs/decisions/0015-layers-and-packages.md).
"""
