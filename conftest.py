"""Test order: unit tests, then every notebook (nbval), then the browser tests, which reuse what
the notebooks left behind (lesson 07's saved weights) and are the slowest."""


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
