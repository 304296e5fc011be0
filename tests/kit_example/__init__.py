"""A service built from the kit and nothing else: the worked example of
``docs/adding-a-service.md``, run by ``tests/service/test_kit_tiny_service.py``."""
