"""tools/brownie_view.py: a directory brownie can import from, for checkouts whose path it cannot."""

from __future__ import annotations

from pathlib import Path

from tools.brownie_view import importable, project_dir


def _project(root: Path) -> Path:
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / "A.sol").write_text("// SPDX-License-Identifier: MIT\n")
    (root / "scripts").mkdir()
    (root / "scripts" / "deploy.py").write_text("def main():\n    return 1\n")
    (root / "brownie-config.yaml").write_text("dotenv: .env\n")
    (root / ".env").write_text("")
    return root


def test_an_importable_checkout_is_used_as_it_is(tmp_path):
    root = _project(tmp_path / "plain_checkout")
    assert project_dir(root, base=tmp_path) == root.resolve()


def test_a_checkout_with_a_dot_and_a_space_gets_an_importable_view_of_its_sources(tmp_path):
    root = _project(tmp_path / "a.b c" / "hedger")
    assert not importable(root)

    view = project_dir(root, base=tmp_path)

    assert importable(view) and view != root
    assert (view / "scripts" / "deploy.py").read_text() == (root / "scripts" / "deploy.py").read_text()
    assert not (view / "scripts").is_symlink()  # brownie resolves symlinks back to the dotted path
    assert (view / "contracts" / "A.sol").exists() and (view / "brownie-config.yaml").exists()
    assert (view / "build").resolve() == (root / "build").resolve()  # artifacts land in the checkout


def test_the_view_follows_the_checkout(tmp_path):
    root = _project(tmp_path / "v1.2" / "hedger")
    view = project_dir(root, base=tmp_path)
    (root / "scripts" / "deploy.py").write_text("def main():\n    return 2\n")
    (root / "scripts" / "new.py").write_text("")
    (root / "contracts" / "A.sol").unlink()

    assert project_dir(root, base=tmp_path) == view
    assert "return 2" in (view / "scripts" / "deploy.py").read_text()
    assert (view / "scripts" / "new.py").exists()
    assert not (view / "contracts" / "A.sol").exists()
