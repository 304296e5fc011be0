"""The consumer's bounded cache of last applied versions per source stream."""

from infra.bus.subscriber import AppliedVersions


def test_the_least_recently_used_stream_is_forgotten_first():
    cache = AppliedVersions(2)
    cache["a"] = 1
    cache["b"] = 4
    assert cache["a"] == 1  # a is now the most recently used
    cache["c"] = 7
    assert "b" not in cache
    assert ("a" in cache, "c" in cache, len(cache)) == (True, True, 2)


def test_writing_a_stream_refreshes_it():
    cache = AppliedVersions(2)
    cache["a"] = 1
    cache["b"] = 1
    cache["a"] = 2
    cache["c"] = 1
    assert "b" not in cache and cache.get("a") == 2


def test_get_and_pop_of_a_forgotten_stream():
    cache = AppliedVersions(1)
    cache["a"] = 3
    assert cache.get("zzz") == 0
    assert cache.pop("a") == 3
    assert cache.pop("a") is None
    assert len(cache) == 0
