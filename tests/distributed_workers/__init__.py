"""Code that tests/test_distributed.py runs in child processes (one per rank, or one with several JAX devices)."""
