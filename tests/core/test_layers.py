"""The import rule of the architecture: an app imports only apps on lower layers (or its
own), and nothing imports `hub` but `hub` itself."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "core": 0,
    "providers": 1,
    "registry": 2,
    "groups": 3,
    "recipes": 3,
    "inference": 4,
    "monitoring": 5,
    "training": 6,
    "rollouts": 6,
    "hub": 7,
    "governance": 7,
}


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def _violations() -> list[str]:
    found = []
    for app, layer in LAYERS.items():
        folder = ROOT / app
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            if "migrations" in path.parts and app != "hub":
                continue
            for imported in _imported_apps(path) - {app}:
                if imported == "hub" or LAYERS[imported] >= layer:
                    found.append(f"{path.relative_to(ROOT)} imports {imported}")
    return sorted(found)


def test_no_app_imports_upwards_or_imports_hub():
    assert _violations() == []
