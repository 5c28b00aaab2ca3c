"""Test order: unit tests, then every notebook (nbval), then the browser tests, which reuse what
the notebooks left behind (lesson 07's saved weights) and are the slowest.

nbval 0.11 waits at most 5 s (``output_timeout``, fixed in its code, no command-line option)
for each output message of a cell after the kernel has replied that the cell is done. On a slow
phase of a shared machine that wait was once too short after lesson 08's 40 s training cell
("Timeout of 5 seconds exceeded waiting for output", the weights already saved), so every
notebook cell gets ``OUTPUT_TIMEOUT`` instead. A cell that really hangs is still stopped by
``--nbval-cell-timeout`` (pyproject.toml)."""

OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
    for item in items:
        if hasattr(item, "output_timeout"):      # an nbval cell
            item.output_timeout = max(item.output_timeout, OUTPUT_TIMEOUT)
