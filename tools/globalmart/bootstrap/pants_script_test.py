"""The `./pants` bootstrap script, run for real in throwaway build roots.

The warm case reuses the repository's own bootstrap folder (so no download), the missing-Python
case needs no network at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(os.environ.get("GLOBALMART_REPO_ROOT", Path.cwd()))
SCRIPT = Path("pants")  # the repository's script, brought into the sandbox as a file dependency


def _make_buildroot(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(SCRIPT, root / "pants")
    (root / "pants").chmod(0o755)
    (root / "pants.toml").write_text('[GLOBAL]\npants_version = "2.17.1"\nbackend_packages = []\n')
    return root


def _run(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "pants"), "--no-pantsd", "--version"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_warm_bootstrap_is_quiet_and_idempotent(tmp_path: Path) -> None:
    root = _make_buildroot(tmp_path)
    # Share the already-installed Pants venv and pex so this run must not download anything.
    (root / ".pants.bootstrap").symlink_to(REPO / ".pants.bootstrap")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTS_")}

    first = _run(root, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "2.17.1"
    rc = (root / ".pants.rc").read_text()
    match = re.search(r'url_template = "file://(.+?)"', rc)
    assert match and Path(match.group(1)).is_file(), rc
    sha = re.search(r"v2\.1\.137\|linux_x86_64\|([0-9a-f]{64})\|(\d+)", rc)
    assert sha, rc
    pex = Path(match.group(1))
    assert hashlib.sha256(pex.read_bytes()).hexdigest() == sha.group(1)
    assert pex.stat().st_size == int(sha.group(2))

    second = _run(root, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "2.17.1"
    assert "pants bootstrap:" not in second.stderr  # quiet when warm
    assert (root / ".pants.rc").read_text() == rc


def test_missing_python39_is_explained(tmp_path: Path) -> None:
    root = _make_buildroot(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    # A PATH with the basic tools but no python3.9, and a pyenv root without versions.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "sha256sum", "cut", "stat", "touch", "rm", "env"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(empty), "PYENV_ROOT": str(empty)}
    result = subprocess.run(
        [str(root / "pants"), "--version"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "needs CPython 3.9" in result.stderr
    assert "PANTS_PYTHON" in result.stderr
    assert not (root / ".pants.rc").exists()
