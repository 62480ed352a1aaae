"""Generated gRPC stubs for Quiver. Do not edit: run scripts/generate_protos.py."""
