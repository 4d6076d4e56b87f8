"""The real-Docker test bench: a private daemon (scripts/test-dockerd), images built with no registry
(images.py), and the pytest fixtures that use them (fixtures.py)."""
