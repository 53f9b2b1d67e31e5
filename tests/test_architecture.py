"""The layout's promises, checked on the source: one rule in one place only stays true if a test says so.

- Services take their context explicitly: no module that queries the database reads Flask's
  request globals (request, g, session, current_user), and the rules of a feature import no Flask at all.
- No import cycles in core (function-level imports count: they were how cycles used to be hidden).
- No module in core over 400 lines.
- Every hook call goes through the one plugin facade (core/regions.py); plugins only decide and
  never call back into services or write to the database.
- Region plugins are registered as instances and read their data when the plugin manager is built.
"""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
MAX_LINES = 400
REQUEST_GLOBALS = {("flask", "request"), ("flask", "g"), ("flask", "session"), ("flask_login", "current_user")}
# Pages, the JSON API, the CLI and the web/API plumbing may use Flask; everything else is the service
# layer and must run the same in a request, a CLI command and a job.
WEB_LAYER = {"web.py", "api.py", "cli.py", "window.py", "forms.py"}
WEB_PACKAGES = {"web", "api"}
FLASK_ALLOWED = {
    "core/extensions.py",  # creates the Flask extensions
    "core/models/people.py",  # Flask-Login's user protocol and the session stamp
    "core/cli.py",  # registers the commands
    "core/queue/commit.py",  # after a commit on the shared session: the committing app's queue (current_app)
}


def modules():
    for path in sorted(CORE.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path


def module_name(rel: str) -> str:
    name = rel[:-3].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) of every import in the file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, a.name, node.lineno) for a in node.names]
    return found


QUERY = re.compile(r"db\.session\.(get|scalar|scalars|execute|query|refresh)\(|(?<![\w.])(select|insert|update|delete)\(")


def queries_database(source: str) -> bool:
    return QUERY.search(source) is not None


def is_web_layer(rel: str) -> bool:
    parts = rel.split("/")
    return parts[-1] in WEB_LAYER or (len(parts) > 2 and parts[1] in WEB_PACKAGES)


def test_no_module_that_queries_the_database_reads_request_globals():
    offenders = []
    for rel, path in modules():
        if not queries_database(path.read_text("utf-8")):
            continue
        offenders += [f"{rel}:{line} imports {mod}.{name}" for mod, name, line in imports(path)
                      if (mod, name) in REQUEST_GLOBALS]
    assert offenders == [], "a module that queries the database must take its context, not read Flask globals"


def test_the_service_layer_imports_no_flask():
    offenders = []
    for rel, path in modules():
        if is_web_layer(rel) or rel in FLASK_ALLOWED:
            continue
        offenders += [f"{rel}:{line} imports {mod}" for mod, _, line in imports(path)
                      if mod.split(".")[0] in ("flask", "flask_login", "flask_wtf", "jinja2_fragments", "htmx_flask")]
    assert offenders == []


def test_pages_and_api_handlers_do_not_query_the_database_themselves():
    """Views and API handlers parse, call a service, render: reading rows is a service's job."""
    offenders = [rel for rel, path in modules() if is_web_layer(rel) and not rel.endswith("cli.py")
                 and queries_database(path.read_text("utf-8")) and rel != "core/api/openapi.py"]
    assert offenders == []


def test_no_import_cycles_in_core():
    graph: dict[str, set[str]] = {}
    names = {module_name(rel) for rel, _ in modules()}
    for rel, path in modules():
        deps = set()
        for mod, name, _ in imports(path):
            if not mod.startswith("core"):
                continue
            candidate = f"{mod}.{name}" if name and f"{mod}.{name}" in names else mod
            deps.add(candidate)
        graph[module_name(rel)] = {d for d in deps if d in names}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    # A package's __init__ importing its own submodules is not a cycle of rules; none does here.
    assert cycles == []


def test_no_module_in_core_is_over_400_lines():
    long = {rel: n for rel, path in modules() if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_only_the_facade_calls_the_plugin_manager():
    offenders = []
    for rel, path in list(modules()) + [(p.relative_to(ROOT).as_posix(), p) for p in (ROOT / "plugins").glob("*.py")]:
        if rel in ("core/regions.py", "core/plugins.py"):
            continue
        text = path.read_text("utf-8")
        if ".hook." in text or 'extensions["mtkit_pm"]' in text:
            offenders.append(rel)
    assert offenders == []


def test_plugins_only_decide():
    """Notification and gateway plugins answer hooks; they do not write rows or call services."""
    offenders = []
    for path in (ROOT / "plugins").glob("*.py"):
        for mod, _, line in imports(path):
            if mod.startswith(("core.extensions", "core.models")) or (mod.startswith("core.") and mod.endswith("service")):
                offenders.append(f"plugins/{path.name}:{line} imports {mod}")
    assert offenders == []


def test_region_plugins_are_instances_that_read_their_data_when_the_manager_is_built(monkeypatch):
    from core.plugins import make_plugin_manager
    from regions import _plugin
    from regions._plugin import DataRegion

    reads = []
    real = _plugin.RegionData.__init__

    def counting(self, data_dir):
        reads.append(Path(data_dir).parent.name)
        real(self, data_dir)

    monkeypatch.setattr(_plugin.RegionData, "__init__", counting)
    for name in ("regions.neimenggu", "regions.fangchenggang"):
        importlib.reload(importlib.import_module(name))
    assert reads == []  # importing a region reads nothing
    pm = make_plugin_manager()
    assert sorted(reads) == ["fangchenggang", "neimenggu"]
    regions = [p for p in pm.get_plugins() if isinstance(p, DataRegion)]
    assert sorted(r.code for r in regions) == ["150000", "450600"]
    make_plugin_manager()
    assert len(reads) == 4  # each app gets its own, freshly read


@pytest.mark.parametrize("rel", ["core/applications/rules.py", "core/benefits/calculation.py", "core/recognitions/rules.py",
                                 "core/kernel/time.py"])
def test_pure_rules_touch_no_database(rel):
    """The state machine, the benefit calculation, the recognition rules and the date rules are pure."""
    path = ROOT / rel
    assert not queries_database(path.read_text("utf-8"))
    assert not [mod for mod, _, _ in imports(path) if mod in ("core.extensions", "sqlalchemy") or mod.startswith("sqlalchemy.")]


def test_the_kernel_stands_on_nothing_else_of_core():
    offenders = []
    for rel, path in modules():
        if not rel.startswith("core/kernel/"):
            continue
        offenders += [f"{rel}:{line} imports {mod}" for mod, _, line in imports(path)
                      if (mod.startswith("core") and not mod.startswith("core.kernel")) or mod.split(".")[0] in ("flask", "sqlalchemy")]
    assert offenders == []
