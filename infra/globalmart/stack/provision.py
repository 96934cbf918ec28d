"""Provisioning helpers shared by the components: JDKs, Debian packages, Maven, downloads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from globalmart.stack.base import Progress, StackError, run_checked

_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/usr/local/lib/jvm"), Path("/opt/java"))


def java_major(java: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java_home(component: str, minimum: int, maximum: int | None = None) -> Path:
    """A JDK home with minimum <= major <= maximum: JAVA_HOME first, then the system JVM folders."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    for folder in _JVM_DIRS:
        if folder.is_dir():
            candidates.extend(
                sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            )
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    for home in candidates:
        java = home / "bin" / "java"
        if not java.exists():
            continue
        major = java_major(java)
        if major is not None and major >= minimum and (maximum is None or major <= maximum):
            return home
    wanted = f"{minimum}" if maximum is None else f"{minimum}-{maximum}"
    raise StackError(
        component,
        f"needs a Java {wanted} JDK; none in JAVA_HOME, {', '.join(map(str, _JVM_DIRS))} or PATH",
        f"install one (Debian: apt-get install openjdk-{minimum}-jdk-headless) or set JAVA_HOME",
    )


_apt_updated = False


def ensure_debian_packages(component: str, packages: list[str], progress: Progress) -> None:
    """Install Debian packages when running as root; otherwise say exactly what to run."""
    global _apt_updated
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    command = "apt-get install -y --no-install-recommends " + " ".join(missing)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            component,
            f"needs the Debian packages {', '.join(missing)}",
            f"run: sudo apt-get update && sudo {command}",
        )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        progress(f"{component}: apt-get update")
        run_checked(
            ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"],
            component,
            "apt-get update",
            env=env,
            timeout=600,
        )
        _apt_updated = True
    progress(f"{component}: installing {', '.join(missing)} (Debian)")
    run_checked(
        [
            "apt-get",
            "-o",
            "DPkg::Lock::Timeout=300",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            *missing,
        ],
        component,
        "apt-get install",
        env=env,
        timeout=1200,
    )


def _dpkg_installed(package: str) -> bool:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        ).stdout
    except OSError:
        return False
    return "install ok installed" in out


def maven_copy_dependencies(component: str, pom: Path, dest: Path, progress: Progress) -> None:
    """Resolve a pinned pom's runtime dependencies from Maven Central into `dest`."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(component, "Maven (mvn) is not installed", "apt-get install maven")
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    progress(f"{component}: resolving jars from Maven Central ({pom.name})")
    run_checked(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        component,
        "mvn dependency:copy-dependencies",
        timeout=1800,
    )
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def install_quietly(
    component: str, packages: list[str], services: list[str], progress: Progress
) -> None:
    """Install Debian packages, then stop any of their services the install itself started.

    Where invoke-rc.d may start services (no policy-rc.d), installing redis-server or prometheus
    launches the system daemon on our port. Only services that were not running before the install
    are stopped (and disabled at boot); anything the user already ran is left alone.
    """
    before = {service: _service_running(service) for service in services}
    ensure_debian_packages(component, packages, progress)
    for service in services:
        if not before[service] and _service_running(service):
            progress(
                f"{component}: the Debian install started the system `{service}` service; "
                "stopping and disabling it (the stack runs its own server)"
            )
            _stop_and_disable(service)


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _service_running(service: str) -> bool:
    if _systemd():
        argv = ["systemctl", "is-active", "--quiet", service]
    elif Path(f"/etc/init.d/{service}").exists() and shutil.which("service"):
        argv = ["service", service, "status"]
    else:
        return False
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _stop_and_disable(service: str) -> None:
    argvs = (
        [["systemctl", "disable", "--now", service]]
        if _systemd()
        else [["service", service, "stop"], ["update-rc.d", service, "disable"]]
    )
    for argv in argvs:
        try:
            subprocess.run(argv, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            pass
