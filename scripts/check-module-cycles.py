#!/usr/bin/env python3
"""Fails when modules of a crate depend on each other in a cycle.

For every crate of the workspace, each module's subtree (its file and the files of its
submodules) is a node, and siblings — modules with the same parent — are compared: `a` depends
on `b` when code anywhere under `a` names `crate::b`, or (from a sibling file) `super::b`. The
siblings of every parent must form a DAG; a child using its parent's items, or a parent its
children's, is containment, not a dependency. Test modules (`#[cfg(test)] mod tests`, `tests.rs`)
are left out: they may use anything.

Usage: scripts/check-module-cycles.py [CRATE_DIR ...]   (default: every workspace member)
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;')
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)")
CRATE_REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
SUPER_REF = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")
USE_CRATE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
USE_SUPER_GROUP = re.compile(r"\buse\s+super::\{([^;]*)\};", re.S)


def strip_tests_and_comments(text):
    """The code without comments and without `#[cfg(test)]` inline modules."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in CFG_TEST.finditer(text):
        start = m.start()
        brace = text.find("{", m.end())
        semi = text.find(";", m.end())
        if brace == -1 or (semi != -1 and semi < brace):
            continue  # `mod tests;`: a file, skipped by the walker
        depth, j = 0, brace
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out.append(text[i:start])
        i = j + 1
    out.append(text[i:])
    return "".join(out)


def test_modules(text):
    return set(CFG_TEST.findall(text))


def walk(crate_src):
    """{module path (tuple): [source texts of its own file]} for every non-test module."""
    modules = {}

    def visit(path, file):
        text = file.read_text()
        modules[path] = strip_tests_and_comments(text)
        skip = test_modules(text)
        renamed = {name: file.parent / rel for rel, name in PATH_ATTR.findall(text)}
        for name in MOD_DECL.findall(strip_tests_and_comments(text)):
            if name in skip or name == "tests":
                continue
            if name in renamed:
                child = renamed[name]
            else:
                base = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
                child = base / f"{name}.rs"
                if not child.exists():
                    child = base / name / "mod.rs"
            if child.exists():
                visit(path + (name,), child)

    for entry in ("lib.rs", "main.rs"):
        if (crate_src / entry).exists():
            visit((), crate_src / entry)
    return modules


def cycles(modules):
    problems = []
    parents = {}
    for path in modules:
        if path:
            parents.setdefault(path[:-1], set()).add(path[-1])
    for parent, children in parents.items():
        edges = {c: set() for c in children}
        for path, text in modules.items():
            if len(path) <= len(parent) or path[: len(parent)] != parent:
                continue
            owner = path[len(parent)]
            names = set()
            if parent == ():
                names |= set(CRATE_REF.findall(text))
                for group in USE_CRATE_GROUP.findall(text):
                    names |= set(re.findall(r"(?:^|[{,])\s*([a-z_][a-z0-9_]*)", group))
            else:
                # `crate::a::b::c` names `c` when `a::b` is this parent.
                prefix = "crate::" + "::".join(parent) + "::"
                names |= set(re.findall(re.escape(prefix) + r"([a-z_][a-z0-9_]*)", text))
            if len(path) == len(parent) + 1:
                names |= set(SUPER_REF.findall(text))
                for group in USE_SUPER_GROUP.findall(text):
                    names |= set(re.findall(r"(?:^|[{,])\s*([a-z_][a-z0-9_]*)", group))
            for name in names:
                if name in children and name != owner:
                    edges[owner].add(name)
        # Depth-first search for a cycle among the siblings.
        state = {}

        def dfs(node, stack):
            state[node] = "open"
            stack.append(node)
            for nxt in sorted(edges[node]):
                if state.get(nxt) == "open":
                    loop = stack[stack.index(nxt):] + [nxt]
                    problems.append(("::".join(parent) or "crate", loop))
                elif nxt not in state:
                    dfs(nxt, stack)
            stack.pop()
            state[node] = "done"

        for child in sorted(children):
            if child not in state:
                dfs(child, [])
    return problems


def members():
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    dirs = [ROOT] + [ROOT / m for m in manifest["workspace"]["members"]]
    return [d for d in dirs if (d / "src").is_dir()]


def main():
    dirs = [Path(a).resolve() for a in sys.argv[1:]] or members()
    failed = False
    count = 0
    for crate in dirs:
        modules = walk(crate / "src")
        count += len(modules)
        for parent, loop in cycles(modules):
            failed = True
            name = crate.relative_to(ROOT) if crate.is_relative_to(ROOT) and crate != ROOT else crate
            print(f"{name}: modules of {parent} depend on each other: {' -> '.join(loop)}")
    if failed:
        sys.exit(1)
    print(f"no module cycles ({len(dirs)} crates, {count} modules)")


if __name__ == "__main__":
    main()
