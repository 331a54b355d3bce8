"""Chain tests are a package so their conftest does not shadow tests/conftest.py (both would be
imported as the module `conftest`)."""
