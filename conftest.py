"""Test order: unit tests, then every notebook (nbval), then the unit tests marked
``after_notebooks`` (they use lesson 12's trained weights, which lesson 12 saves: run earlier on a
fresh clone, they would train the network a second time), then the browser tests, which also
reuse what the notebooks left behind and are the slowest.

nbval 0.11 waits at most 5 s (``output_timeout``, fixed in its code, no command-line option)
for each output message of a cell after the kernel has replied that the cell is done. On a slow
phase of a shared machine that wait was once too short after lesson 08's 40 s training cell
("Timeout of 5 seconds exceeded waiting for output", the weights already saved), so every
notebook cell gets ``OUTPUT_TIMEOUT`` instead. A cell that really hangs is still stopped by
``--nbval-cell-timeout`` (pyproject.toml)."""

OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(session, config, items):
    def phase(item):
        if "tests/browser/" in item.nodeid.replace("\\", "/"):
            return 3
        if item.get_closest_marker("after_notebooks"):
            return 2
        return 1 if hasattr(item, "output_timeout") else 0     # nbval cells have output_timeout
    items.sort(key=phase)
    for item in items:
        if hasattr(item, "output_timeout"):      # an nbval cell
            item.output_timeout = max(item.output_timeout, OUTPUT_TIMEOUT)
