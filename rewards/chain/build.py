"""Load the compiled contracts from rewards/contracts/build/, refusing a missing or stale build.

ABI and bytecode are build outputs (git-ignored), written at setup by
`node rewards/contracts/compile.mjs` (`make contracts`). Each artifact carries a `sourceHash`;
`source_hash()` recomputes it here the same way compile.mjs does — sha256 over the compiler
settings, the solc version and every source unit solc compiled (ours and OpenZeppelin's, found by
following imports) — so an edited contract, an upgraded OpenZeppelin or solc, or changed settings
is caught before stale bytecode is ever deployed.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from rewards.chain.errors import ContractBuildError

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
NODE_MODULES = CONTRACTS_DIR.parent.parent / "node_modules"
REBUILD_HINT = "run `node rewards/contracts/compile.mjs` (or `make contracts`)"

# Solidity import forms: `import "x";`, `import "x" as y;`, `import {a, b} from "x";`,
# `import * as y from "x";`. Comments are stripped first so commented-out imports do not count.
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_IMPORT = re.compile(r'\bimport\s+(?:[^;"\']*?\bfrom\s+)?["\']([^"\']+)["\']', re.S)


def _source_path(unit: str) -> Path:
    return NODE_MODULES / unit if unit.startswith("@") else CONTRACTS_DIR / unit


def _resolve(importer: str, target: str) -> str:
    """The source unit name solc gives `target` imported from `importer` (relative imports
    resolve against the importer's directory; anything else is already a unit name)."""
    if not target.startswith("."):
        return target
    parts: list[str] = list(PurePosixPath(importer).parent.parts)
    for part in PurePosixPath(target).parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def source_units() -> dict[str, str]:
    """Every source unit the compiler sees: our .sol files and, transitively, their imports."""
    todo = sorted(p.name for p in CONTRACTS_DIR.glob("*.sol"))
    units: dict[str, str] = {}
    while todo:
        unit = todo.pop()
        if unit in units:
            continue
        try:
            text = _source_path(unit).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ContractBuildError(
                f"Contract source {unit} not found (are node_modules installed? `npm ci`).",
                unit=unit) from exc
        units[unit] = text
        todo.extend(_resolve(unit, t) for t in _IMPORT.findall(_COMMENTS.sub("", text)))
    return units


def source_hash() -> str:
    """The sourceHash compile.mjs would write for the sources on disk now."""
    settings = (CONTRACTS_DIR / "settings.json").read_text(encoding="utf-8")
    try:
        solc = json.loads((NODE_MODULES / "solc" / "package.json").read_text())["version"]
    except FileNotFoundError as exc:
        raise ContractBuildError("npm package solc is not installed: run `npm ci`.") from exc
    h = hashlib.sha256(f"settings\0{settings}\0solc\0{solc}\0".encode())
    for unit, text in sorted(source_units().items()):
        h.update(f"{unit}\0{text}\0".encode())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _current_hash() -> str:
    # Sources do not change under a running process; hashing ~35 files once is enough.
    return source_hash()


def load_artifact(name: str, *, check_fresh: bool = True) -> dict[str, Any]:
    """The artifact `{abi, bytecode, deployedBytecode, sourceHash, ...}` of contract `name`.

    Raises ContractBuildError when the build is missing or does not match the sources."""
    path = BUILD_DIR / f"{name}.json"
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ContractBuildError(
            f"No compiled contract {name} at {path}: {REBUILD_HINT}.", name=name) from exc
    if check_fresh and artifact.get("sourceHash") != _current_hash():
        raise ContractBuildError(
            f"The compiled {name} is stale (its sources, OpenZeppelin, solc or settings changed): "
            f"{REBUILD_HINT}.", name=name, built=artifact.get("sourceHash"), sources=_current_hash())
    return artifact
