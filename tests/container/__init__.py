"""nslab's container image (Dockerfile.host), built and run with podman: see podman.py."""
