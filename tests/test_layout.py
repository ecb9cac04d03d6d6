"""The code location holds the product only: `dagster_project` imports nothing from the dev tooling (the sandbox,
the benchmark) nor from the tests; they import the product, never the reverse."""

import ast
from pathlib import Path

PRODUCT = Path(__file__).resolve().parents[1] / "dagster_project"
DEV_TOOLING = {"sandbox", "bench", "tests"}


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{source}: relative import (the product uses absolute imports)"
            modules.add(node.module)
    return modules


def test_the_product_imports_no_dev_tooling():
    files = sorted(PRODUCT.rglob("*.py"))
    assert {PRODUCT / "definitions.py", PRODUCT / "cli.py", PRODUCT / "defs" / "extract" / "assets.py"} <= set(files)
    offending = {
        f"{file.relative_to(PRODUCT.parent)}: {module}"
        for file in files
        for module in imported_modules(file)
        if module.split(".")[0] in DEV_TOOLING
    }
    assert not offending, sorted(offending)


def test_the_scan_sees_an_import_of_the_tooling(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom sandbox.server import running_server\nimport bench.pipeline as b\n")
    assert imported_modules(probe) == {"json", "sandbox.server", "bench.pipeline"}
