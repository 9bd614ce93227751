"""Fixtures and markers for plugin tests."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds and installs packages (tens of seconds); not skipped")
