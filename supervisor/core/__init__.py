"""Pure decisions over plain data: ports, naming, engine environment, choice, capacity, health, scaling.

Nothing here imports docker, litestar or an HTTP client (an import-linter contract enforces it), so every
decision is tested in milliseconds on a fake clock.
"""
