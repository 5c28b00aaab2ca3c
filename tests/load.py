"""Load a module of the repository by its path (a tool, course.py, the root conftest.py, a
benchmark helper): these are scripts, not packages, and "import conftest" may find another
conftest.py that pytest loaded first."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_from_path(name, relative_path):
    """The module at ROOT / relative_path, registered in sys.modules as ``name`` (dataclasses
    look their module up there while a class is made)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
