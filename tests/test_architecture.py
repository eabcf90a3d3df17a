"""The import directions docs/architecture.md draws, checked on the source: no import circle between
the project's files, the packages without Django import none (nor any app), and no app imports one
above it except the few arrows the page names as known.

Reads the files with `ast` (imports inside functions count too: a lazy import is still an arrow),
so it needs no database and imports nothing of the project.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "sequence_site",
    "algo_studio",
    "strategies",
    "backtests",
    "edges",
    "trading",
    "venues",
    "sequence_markets",
)

# sequence_site is two floors: the ground (settings, errors, scope, the ApiKey/Client models, realtime
# helpers) every app stands on, and the roof that gathers the apps (the one NinjaAPI, URL and websocket
# routing, the overview page's selectors, template tags).
SITE_ROOF = (
    "sequence_site.api",
    "sequence_site.urls",
    "sequence_site.dashboard_urls",
    "sequence_site.routing",
    "sequence_site.asgi",
    "sequence_site.overview",
    "sequence_site.views",
    "sequence_site.templatetags",
    "sequence_site.management",
    "sequence_site.devrun",
)

# Floors, lowest first. A module may import its own floor or any below it.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("venues", "sequence_markets"),  # sequence_markets: the SDK and CLI, standing alone
    ("edges.runtime", "edges.core", "edges.dispatch", "edges.replay"),  # the engine: no Django
    ("sequence_site",),  # the ground floor (SITE_ROOF excepted)
    ("algo_studio", "strategies"),
    ("edges",),
    ("trading", "backtests"),
    SITE_ROOF,
)

# Upward arrows that exist today, named in docs/architecture.md ("Known upward arrows"). Remove an
# entry when its arrow is gone; never add one without saying why on that page.
KNOWN_UPWARD = {
    # The edge works the trading app's execution-graph orders (paper or live) and reports them back.
    ("edges.worker", "trading.selectors"),
    ("edges.worker", "trading.services"),
    ("edges.graph_orders", "trading.services"),
    ("edges.live_orders", "trading.credentials"),
    ("edges.live_orders", "trading.models"),
    ("edges.live_orders", "trading.selectors"),
    ("edges.live_orders", "trading.services"),
    ("edges.price_fanout", "trading.stream"),
    # A live edge's algos trade through trading's outbox, risk checks and order reports.
    ("edges.live_algos", "trading.risk"),
    ("edges.live_algos", "trading.selectors"),
    ("edges.live_algos", "trading.services"),
    # Algo Studio shows the edges' status and follows an algo's log group, which the edge writes.
    ("algo_studio.consumers", "edges.services"),
    ("algo_studio.services", "edges.models"),
    ("algo_studio.views", "edges.selectors"),
    # A live deployment goes only to the venues the client connected: the credentials are trading's.
    ("algo_studio.services", "trading.models"),
    # The API-error middleware (ground: ws_auth reads its session helper) renders through the API's one
    # error renderer, imported when a response needs it.
    ("sequence_site.middleware", "sequence_site.api"),
}

# Packages that must not import Django (nor, so, any app): they run in the hot paths and alone.
NO_DJANGO = ("venues", "edges.runtime", "edges.core", "edges.dispatch", "edges.replay", "sequence_markets")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module name `name` imports (absolute, as written; relative imports resolved)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def _project_module(imported: str) -> str | None:
    """The project module an import names (`pkg.mod.Name` -> `pkg.mod`), or None."""
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}
ARROWS: dict[str, set[str]] = defaultdict(set)
for _name, _imported in IMPORTS.items():
    for _target in filter(None, map(_project_module, _imported)):
        # A package's own submodules and its __init__ are one unit (`from edges.runtime import x`).
        if _target != _name and not _name.startswith(_target + "."):
            ARROWS[_name].add(_target)


def _floor(module: str) -> int:
    for prefix in SITE_ROOF:
        if module == prefix or module.startswith(prefix + "."):
            return len(FLOORS) - 1
    best, floor = "", -1
    for index, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, floor = prefix, index
    assert floor >= 0, f"{module} is on no floor: add its package to FLOORS"
    return floor


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(ARROWS[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(ARROWS[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def test_the_check_sees_the_project():
    assert "edges.dispatch.slot" in MODULES and "venues.book" in MODULES
    assert "venues.book" in ARROWS["edges.dispatch.slot"]


def test_no_import_circle_between_files():
    assert _cycles() == []


def test_packages_without_django_import_no_django_and_no_app():
    wrong = []
    for name, imported in IMPORTS.items():
        if not name.startswith(NO_DJANGO):
            continue
        for module in imported:
            top = module.partition(".")[0]
            if top in ("django", "channels", "celery", "ninja", "django_htmx"):
                wrong.append(f"{name} imports {module}")
        for target in ARROWS[name]:
            if _floor(target) > _floor(name):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


# algo_build assembles WAT with wasmtime when it is there (imported inside that one function).
SDK_OPTIONAL = {("sequence_markets.algo_build", "wasmtime")}


def test_the_sdk_uses_only_the_standard_library():
    wrong = sorted(
        f"{name} imports {module}"
        for name, imported in IMPORTS.items()
        if name.startswith("sequence_markets")
        for module in imported
        if module.partition(".")[0] not in sys.stdlib_module_names
        and not module.startswith("sequence_markets")
        and (name, module) not in SDK_OPTIONAL
    )
    assert wrong == []


def test_no_app_imports_one_above_it():
    upward = sorted(
        (name, target)
        for name, targets in ARROWS.items()
        for target in targets
        if _floor(target) > _floor(name) and (name, target) not in KNOWN_UPWARD
    )
    assert upward == []


def test_every_known_upward_arrow_still_exists():
    gone = sorted(arrow for arrow in KNOWN_UPWARD if arrow[1] not in ARROWS[arrow[0]])
    assert gone == [], "remove these from KNOWN_UPWARD and docs/architecture.md"


# Status columns that are observed, not moved: the edge reports what it runs on each heartbeat.
OBSERVED_STATUS_WRITES = {"edges.services"}


def test_only_a_lifecycle_module_updates_a_status():
    """A status changes through its app's lifecycle.py (the table, the conditional update, the
    history row): no other module runs an `.update(status=...)`."""
    wrong = []
    for name, path in MODULES.items():
        if name.endswith(".lifecycle") or name in OBSERVED_STATUS_WRITES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and any(keyword.arg == "status" for keyword in node.keywords)
            ):
                wrong.append(f"{name}:{node.lineno}")
    assert wrong == []
