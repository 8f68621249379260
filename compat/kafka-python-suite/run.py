"""Run kafka-python's own integration tests against kafkaish.

    python compat/kafka-python-suite/run.py            # the allow-listed tests
    python compat/kafka-python-suite/run.py --all      # every collected test (to update FINDINGS.md)
    python compat/kafka-python-suite/run.py -k delete  # the allow-listed tests matching a pytest -k

Steps: download the source distribution of the *installed* kafka-python version
from PyPI into compat/.cache/ (kept, gitignored), extract ``test/integration`` and
``test/testutil.py`` into a fresh work directory there (removed afterwards unless
``--keep``), add our shim (shim/:
``test/__init__.py``, ``test/service.py``, a fallback ``testutil.py`` and a
reporting plugin), start kafkaish (unless compat/run.py already did: it sets
COMPAT_BOOTSTRAP) and run pytest with ``KAFKA_URI`` pointing at it.

Prints ``VERSION kafka-python-suite x.y.z`` then ``PASS|FAIL|SKIP <test id>[: reason]``
per test. The allow-list is allowlist.txt; FINDINGS.md says why each other test is
left out.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version as dist_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPAT = HERE.parent
CACHE = COMPAT / ".cache"
SHIM = HERE / "shim"
ALLOWLIST = HERE / "allowlist.txt"
# kafka-python infers broker version 4.0 from kafkaish's ApiVersions answer; the tests
# gate features on KAFKA_VERSION, so it tells them the same.
KAFKA_VERSION = "4.0"
TEST_TIMEOUT_S = 60


def fetch_sdist(version: str) -> Path:
    """The sdist of kafka-python ``version``, downloaded once into the cache."""
    target = CACHE / f"kafka-python-{version}"
    found = sorted(target.glob("kafka*python-*.tar.gz")) if target.exists() else []
    if found:
        return found[0]
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                    "--disable-pip-version-check", "-q", "-d", str(target), f"kafka-python=={version}"],
                   check=True, timeout=300, stdout=sys.stderr)
    found = sorted(target.glob("kafka*python-*.tar.gz"))
    if not found:
        raise SystemExit(f"pip download left no kafka-python sdist in {target}")
    return found[0]


def prepare_workdir(sdist: Path, version: str) -> Path:
    """A fresh work dir (one per run) holding test/integration from the sdist plus our shim."""
    work = Path(tempfile.mkdtemp(prefix=f"kafka-python-suite-{version}-", dir=CACHE))
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4 / 3.10.12
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts  # kafka_python-3.0.12/test/...
            inside = Path(*parts[1:]) if len(parts) > 1 else None
            if inside is None or not member.isfile():
                continue
            if inside.parts[:2] == ("test", "integration") or inside == Path("test/testutil.py"):
                member.name = str(inside)
                tar.extract(member, work, **safe)
    test_dir = work / "test"
    if not (test_dir / "integration").is_dir():
        raise SystemExit(f"{sdist.name} has no test/integration")
    for shim_file in ("__init__.py", "service.py"):
        shutil.copy(SHIM / shim_file, test_dir / shim_file)
    if not (test_dir / "testutil.py").exists():
        shutil.copy(SHIM / "testutil.py", test_dir / "testutil.py")
    shutil.copy(SHIM / "compat_report.py", work / "compat_report.py")
    # INFO logs are captured and shown for a failing test only
    (work / "pytest.ini").write_text(f"[pytest]\ntimeout = {TEST_TIMEOUT_S}\nlog_level = INFO\n")
    return work


def allowlist() -> list[str]:
    return [line.split("#", 1)[0].strip() for line in ALLOWLIST.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def run_pytest(work: Path, bootstrap: str, tests: list[str], keyword: str) -> dict[str, dict]:
    report = work / "report.jsonl"
    report.unlink(missing_ok=True)
    host, port = bootstrap.rsplit(":", 1)
    env = dict(os.environ, KAFKA_URI=f"kafka://{host}:{port}", KAFKA_VERSION=KAFKA_VERSION,
               KAFKA_ROOT=str(work), PYTHONPATH=str(work), COMPAT_SUITE_REPORT=str(report))
    cmd = [sys.executable, "-m", "pytest", "-c", str(work / "pytest.ini"), "--rootdir", str(work),
           "-p", "compat_report", "-p", "no:cacheprovider", "-q", "-o", "console_output_style=classic",
           *(["-k", keyword] if keyword else []), *tests]
    subprocess.run(cmd, cwd=work, env=env, stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL)
    outcomes: dict[str, dict] = {}
    if report.exists():
        for line in report.read_text().splitlines():
            entry = json.loads(line)
            current = outcomes.setdefault(entry["test"], {"status": "PASS", "reason": ""})
            if entry["outcome"] == "failed" and current["status"] != "FAIL":
                current.update(status="FAIL", reason=entry["reason"])
            elif entry["outcome"] == "skipped" and current["status"] == "PASS":
                current.update(status="SKIP", reason=entry["reason"])
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description="kafka-python's integration tests against kafkaish")
    parser.add_argument("--all", action="store_true", help="run every test, not only the allow-list")
    parser.add_argument("-k", dest="keyword", default="", help="pytest -k expression")
    parser.add_argument("--keep", action="store_true", help="keep the work directory under compat/.cache/")
    args = parser.parse_args()

    version = dist_version("kafka-python")
    work = prepare_workdir(fetch_sdist(version), version)
    tests = ["test/integration"] if args.all else allowlist()
    print(f"VERSION kafka-python-suite {version}", flush=True)

    servers = []
    bootstrap = os.environ.get("COMPAT_BOOTSTRAP")
    if not bootstrap:
        sys.path.insert(0, str(COMPAT))
        from servers import SUITE_ENV, SUITE_FLAGS, start_pair
        servers = list(start_pair(COMPAT / "results" / "logs", "kafka-python-suite-manual", SUITE_FLAGS, SUITE_ENV))
        bootstrap = servers[0].bootstrap
    try:
        outcomes = run_pytest(work, bootstrap, tests, args.keyword)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not args.all and not args.keyword:
        for test in tests:
            outcomes.setdefault(test, {"status": "FAIL",
                                       "reason": "allow-listed but not run (renamed or not collected?)"})
    for test, result in outcomes.items():
        print(f"{result['status']} {test}" + (f": {result['reason']}" if result["reason"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
