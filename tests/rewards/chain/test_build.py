"""The compiled contracts match their sources, and a stale or missing build is refused clearly."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from rewards.chain import build
from rewards.chain.errors import ChainError, ContractBuildError

NAMES = ["FairlabelToken", "CumulativeMerkleDistributor"]


def test_build_matches_sources():
    """Fails when a .sol file, OpenZeppelin, solc or settings.json changed since the last
    `node rewards/contracts/compile.mjs`: rebuild and rerun."""
    expected = build.source_hash()
    stamp = (build.BUILD_DIR / ".stamp").read_text().strip()
    assert stamp == expected, "contracts changed since the build: run `make contracts`"
    for name in NAMES:
        artifact = build.load_artifact(name)
        assert artifact["sourceHash"] == expected
        assert artifact["bytecode"].startswith("0x") and len(artifact["deployedBytecode"]) > 2000
        assert {i.get("name") for i in artifact["abi"]} >= {"owner", "pendingOwner"}


def test_hash_covers_openzeppelin_sources():
    units = build.source_units()
    assert "CumulativeMerkleDistributor.sol" in units
    assert "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol" in units
    assert "@openzeppelin/contracts/utils/cryptography/Hashes.sol" in units  # a relative import


def _copy_contracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "contracts"
    shutil.copytree(build.CONTRACTS_DIR, copy)
    monkeypatch.setattr(build, "CONTRACTS_DIR", copy)
    monkeypatch.setattr(build, "BUILD_DIR", copy / "build")
    build._current_hash.cache_clear()
    return copy


@pytest.fixture
def _restore_hash_cache():
    yield
    build._current_hash.cache_clear()


@pytest.mark.usefixtures("_restore_hash_cache")
def test_edited_source_is_stale(tmp_path, monkeypatch):
    copy = _copy_contracts(tmp_path, monkeypatch)
    sol = copy / "CumulativeMerkleDistributor.sol"
    sol.write_text(sol.read_text() + "\n// edited\n")
    with pytest.raises(ContractBuildError, match="stale.*compile.mjs"):
        build.load_artifact("CumulativeMerkleDistributor")


@pytest.mark.usefixtures("_restore_hash_cache")
def test_changed_settings_are_stale(tmp_path, monkeypatch):
    copy = _copy_contracts(tmp_path, monkeypatch)
    settings = json.loads((copy / "settings.json").read_text())
    settings["optimizer"]["runs"] = 1000
    (copy / "settings.json").write_text(json.dumps(settings))
    with pytest.raises(ContractBuildError, match="stale"):
        build.load_artifact("FairlabelToken")


@pytest.mark.usefixtures("_restore_hash_cache")
def test_missing_build_says_how_to_build(tmp_path, monkeypatch):
    copy = _copy_contracts(tmp_path, monkeypatch)
    shutil.rmtree(copy / "build")
    with pytest.raises(ContractBuildError, match="make contracts") as info:
        build.load_artifact("FairlabelToken")
    assert isinstance(info.value, ChainError) and isinstance(info.value, RuntimeError)


def test_chain_package_imports_no_web_or_database_layer():
    """rewards.chain is called by the payout engine, the CLI and scripts alike: it must not
    import Flask, SQLAlchemy or the app/annotation packages."""
    banned = {"flask", "sqlalchemy", "flask_sqlalchemy", "app", "annotation"}
    package = Path(build.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"
            for name in names:
                if name.startswith("rewards.") and not name.startswith("rewards.chain"):
                    pytest.fail(f"{path.name} imports {name} (outside rewards.chain)")
