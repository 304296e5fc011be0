"""Benchmarks that print each figure next to a limit or peer measured in the same run.

Run with ``python -m bench`` (``make bench``). Each contender runs in its own subprocess, so
one contender's imports (and eventlet's monkey-patching, where a row needs it) never leak
into another's. This package deliberately imports nothing at import time: the driver
measurement's child process must monkey-patch before anything else is loaded.
"""
