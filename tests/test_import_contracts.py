"""The dependency rules of pyproject.toml's [tool.importlinter] hold: crm imports no other app,
and crm's selectors (and the registries they build on) never import its services."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)

    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)

    assert exit_code == 0, capsys.readouterr().out
