"""consensus is a leaf: it must import with flask and sqlalchemy made unimportable."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BLOCKER = r"""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        root = name.split(".")[0]
        if root in {"flask", "sqlalchemy", "flask_sqlalchemy", "app", "annotation", "rewards"}:
            raise ImportError(f"consensus must not import {name}")
        return None

sys.meta_path.insert(0, Block())
for mod in list(sys.modules):
    if mod.split(".")[0] in {"flask", "sqlalchemy"}:
        del sys.modules[mod]

import consensus
import pkgutil, importlib
for info in pkgutil.walk_packages(consensus.__path__, "consensus."):
    importlib.import_module(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {"flask", "sqlalchemy", "app", "annotation", "rewards"})
assert not bad, bad
print("ok", len(consensus.AGGREGATORS))
"""


def test_consensus_imports_without_flask_or_sqlalchemy():
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_blocker_really_blocks():
    # guard against a test that cannot fail: the same blocker rejects flask itself
    code = BLOCKER.replace("import consensus\n", "import flask\nimport consensus\n", 1)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "must not import flask" in proc.stderr
