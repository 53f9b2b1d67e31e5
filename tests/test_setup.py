"""Set-up: `make run` installs only what serving needs, and waits for another apt instead of failing.

The system-package script is run against stand-in `apt-get` and `dpkg-query` commands (a PATH of
small shell scripts), so these tests change nothing on the machine.
"""
from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = {"pytest", "playwright", "schemathesis", "hypothesis", "pypdf", "requests"}


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_runtime_requirements_hold_no_test_tools_and_test_requirements_add_them():
    runtime = requirement_names(ROOT / "requirements.txt")
    test = requirement_names(ROOT / "requirements-test.txt")
    assert not runtime & TEST_ONLY
    assert {"pytest", "playwright", "schemathesis", "pypdf"} <= test
    assert "-r requirements.txt" in (ROOT / "requirements-test.txt").read_text("utf-8")


def test_what_make_run_serves_imports_no_test_tool():
    """The app, its plugins and regions run on requirements.txt alone."""
    files = [ROOT / "app.py", ROOT / "gunicorn.conf.py"]
    for folder in ("core", "plugins", "regions"):
        files += sorted((ROOT / folder).rglob("*.py"))
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}: {m}" for m in mods if m.split(".")[0] in TEST_ONLY]
    assert offenders == []


def fake_tools(tmp_path: Path, lock_failures: int, missing: set[str]) -> Path:
    """Stand-ins: dpkg-query says `missing` are not installed; apt-get fails on the lock N times."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "dpkg-query": f"""#!/bin/bash
pkg="${{@: -1}}"
case " {' '.join(sorted(missing))} " in *" $pkg "*) [ -f "{tmp_path}/installed" ] && echo -n "install ok installed" || echo -n "unknown ok not-installed";; *) echo -n "install ok installed";; esac
""",
        "apt-get": f"""#!/bin/bash
echo "apt-get $*" >> "{tmp_path}/apt.log"
n=$(cat "{tmp_path}/count" 2>/dev/null || echo 0)
if [ "$n" -lt {lock_failures} ]; then
  echo $((n+1)) > "{tmp_path}/count"
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (unattended-upgr)" >&2
  exit 100
fi
case "$*" in *install*) touch "{tmp_path}/installed";; esac
exit 0
""",
        "sudo": '#!/bin/bash\nexec "$@"\n',
        "systemctl": f'#!/bin/bash\necho "systemctl $*" >> "{tmp_path}/apt.log"\n',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run_setup(tmp_path, profile, lock_failures=0, missing=frozenset(), timeout="60"):
    bin_dir = fake_tools(tmp_path, lock_failures, set(missing))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "APT_LOCK_TIMEOUT": timeout, "APT_LOCK_POLL": "0"}
    env.pop("SKIP_SYSTEM_PACKAGES", None)
    return subprocess.run(["bash", str(ROOT / "scripts/setup-system.sh"), profile], env=env,
                          capture_output=True, text=True, timeout=60)


def apt_calls(tmp_path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_nothing_missing_never_touches_apt(tmp_path):
    done = run_setup(tmp_path, "test")
    assert done.returncode == 0, done.stderr
    assert apt_calls(tmp_path) == []


def test_serving_does_not_ask_for_chromium_but_the_tests_do(tmp_path):
    (tmp_path / "run").mkdir()
    run = run_setup(tmp_path / "run", "run", missing={"chromium", "poppler-utils", "haproxy"})
    assert run.returncode == 0, run.stderr
    assert apt_calls(tmp_path / "run") == []
    (tmp_path / "test").mkdir()
    test = run_setup(tmp_path / "test", "test", missing={"chromium", "poppler-utils", "haproxy"})
    assert test.returncode == 0, test.stderr
    calls = apt_calls(tmp_path / "test")
    assert any("install" in c and "chromium" in c and "poppler-utils" in c and "haproxy" in c for c in calls)


def test_another_apt_holding_the_lock_is_waited_for(tmp_path):
    done = run_setup(tmp_path, "run", lock_failures=2, missing={"fonts-wqy-microhei"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("waiting for another apt/dpkg process") == 2
    calls = apt_calls(tmp_path)
    assert sum("update" in c for c in calls) == 3  # two refused by the lock, the third ran
    assert any("install" in c and "fonts-wqy-microhei" in c for c in calls)


def test_a_lock_held_past_the_timeout_fails_with_a_clear_message(tmp_path):
    done = run_setup(tmp_path, "run", lock_failures=1000, missing={"fonts-wqy-microhei"}, timeout="0")
    assert done.returncode != 0
    assert "另一个 apt/dpkg 进程占用软件包锁" in done.stderr
    assert not any("install" in c for c in apt_calls(tmp_path))


def test_unknown_profile_is_refused(tmp_path):
    done = run_setup(tmp_path, "everything")
    assert done.returncode == 2 and "unknown profile" in done.stderr



def test_every_progress_heading_is_one_make_argument():
    """A comma inside `$(call say,...)` splits the heading and breaks the recipe's shell quoting."""
    calls = re.findall(r"\$\(call say,(.*)\)\s*$", (ROOT / "Makefile").read_text("utf-8"), re.M)
    assert len(calls) >= 6
    assert [c for c in calls if "," in c] == []


def test_set_up_steps_print_their_headings(tmp_path):
    env = {**os.environ, "SKIP_SYSTEM_PACKAGES": "1"}
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "system-deps", "system-deps-test"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "== 1/3 系统软件包 (system packages) ==" in done.stdout
    assert "== 1/3 系统软件包与测试用 Chromium (system packages and test tools) ==" in done.stdout
