"""Reads wrk outputs and prints the table `make bench` reports, with ratios to the baselines."""
import pathlib
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse(path: pathlib.Path) -> dict:
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        latency[pct] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    failures = int(errors.group(1)) if errors else 0
    if socket:
        failures += sum(int(x) for x in socket.groups())
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"], "errors": failures}


def main() -> int:
    work = pathlib.Path(sys.argv[1])
    names = ["baseline-pay", "before-pay", "intentmesh-pay", "baseline-search", "before-search",
             "intentmesh-search", "intentmesh-search-uncached"]
    rows = {name: parse(work / f"{name}.txt") for name in names if (work / f"{name}.txt").exists()}
    with_before = "before-pay" in rows
    print()
    header = f"{'scenario':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs baseline':>14}"
    print(header + (f"{'vs before':>12}" if with_before else ""))
    print("-" * (92 if with_before else 80))
    failed = False
    for path in ["pay", "search"]:
        base = rows[f"baseline-{path}"]
        before = rows.get(f"before-{path}")
        for name in [n for n in names if n in rows and (n.endswith(f"-{path}") or f"-{path}-" in n)]:
            row = rows[name]
            ratio = f"{row['rps'] / base['rps']:.2f}x" if not name.startswith("baseline") else ""
            line = f"{name:<28}{row['rps']:>10.0f}{row['p50']:>10.2f}{row['p99']:>10.2f}{row['errors']:>8}{ratio:>14}"
            if with_before:
                line += f"{row['rps'] / before['rps']:>11.2f}x" if name.startswith("intentmesh") else ""
            print(line)
            failed |= row["errors"] > 0
    print()
    print("goal: each IntentMesh path at least 0.50x its baseline's req/s (same machine, same run);")
    print("intentmesh-search-uncached has the search cache off: every request queries SQLite FTS5")
    if failed:
        print("some requests failed: the numbers above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
