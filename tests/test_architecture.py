"""docs/architecture.md stays true: every module of v2v/, train/ and app/ sits on a floor of its table, and no
import (top-level or inside a function) runs up a floor; train/ and app/ do not import each other."""
from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def declared_floors() -> list[tuple[int, list[str]]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ((?:`[^`]+` ?)+) \|", text, flags=re.M)
    assert rows, "docs/architecture.md has no floor table"
    return [(int(floor), re.findall(r"`([^`]+)`", names)) for floor, names in rows]


def modules() -> dict[str, Path]:
    out = {}
    for top in ("v2v", "train", "app"):
        for f in sorted((ROOT / top).rglob("*.py")):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
            out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = f
    return out


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The project modules ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known and c != name}
    return found


def test_every_module_has_a_floor_and_imports_go_down_or_level():
    floors = declared_floors()

    def floor_of(module: str) -> int | None:
        hits = [f for f, patterns in floors if any(fnmatch.fnmatchcase(module, p) for p in patterns)]
        return hits[0] if hits else None

    known = modules()
    unplaced = [m for m in known if floor_of(m) is None]
    assert not unplaced, f"modules missing from docs/architecture.md's floor table: {unplaced}"
    upward = [f"{m} (floor {floor_of(m)}) imports {t} (floor {floor_of(t)})"
              for m, path in known.items() for t in sorted(imports(m, path, known)) if floor_of(t) > floor_of(m)]
    assert not upward, "imports that run up a floor:\n" + "\n".join(upward)
    crossing = [f"{m} imports {t}" for m, path in known.items() for t in imports(m, path, known)
                if m.split(".")[0] in ("app", "train") and t.split(".")[0] in ("app", "train")
                and t.split(".")[0] != m.split(".")[0]]
    assert not crossing, crossing


def test_the_floor_check_sees_an_upward_import(tmp_path):
    """The checker itself: a floor-0 module importing the engine is caught."""
    fake = tmp_path / "v2v" / "labels.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from .engine import Engine\n")
    assert imports("v2v.labels", fake, {"v2v.engine": None, "v2v.labels": None}) == {"v2v.engine"}


def declared_app_surface() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    line = re.search(r"^App surface: ((?:`[^`]+` ?)+)$", text, flags=re.M)
    assert line, "docs/architecture.md does not declare the app's surface"
    return set(re.findall(r"`([^`]+)`", line.group(1)))


def test_app_imports_the_library_only_through_its_surface():
    surface = declared_app_surface() | {"v2v"}  # `from v2v import edits` names the package too
    known = modules()
    outside = sorted(f"{m} imports {t}" for m, path in known.items() if m.split(".")[0] == "app"
                     for t in imports(m, path, known) if t.split(".")[0] == "v2v" and t not in surface)
    assert not outside, "app/ reaches past the library's surface:\n" + "\n".join(outside)
