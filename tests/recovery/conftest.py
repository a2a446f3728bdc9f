import pytest


@pytest.fixture(autouse=True)
def fast_hashing(fast_hashing):
    """Every test here hashes passwords and answers fast (tests/conftest.py's fast_hashing);
    test_registration.py puts the real slow hasher back where it checks it."""
    return fast_hashing
