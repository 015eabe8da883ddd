"""Every Python example in README.md runs as written.

A block whose first line is ``# not run in tests`` is skipped (for examples
that need a long computation or a server).
"""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    code = BLOCKS[index]
    if code.startswith("# not run in tests"):
        pytest.skip("marked as not run in tests")
    exec(compile(code, f"README.md block {index}", "exec"), {"__name__": "readme_example"})
