"""Reads the wrk and async-bench outputs of `bench/run.sh` and prints the tables `make bench`
reports, with ratios to the baselines (and to an earlier IntentMesh with BENCH_BEFORE).

Each scenario may have run several rounds (`<name>.<round>.txt`, BENCH_ROUNDS): a row shows the
round with the median req/s, and with an earlier IntentMesh, the lowest and highest of the
per-round ratios to it (before and this tree ran back to back in each round)."""
import pathlib
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SYNC = ["baseline-pay", "before-pay", "intentmesh-pay", "baseline-search", "baseline-search-3hop",
        "before-search", "intentmesh-search", "intentmesh-search-uncached"]
ASYNC_ROW = re.compile(r"^(baseline-lapin-confirm-ack|intentmesh-async-search)\s+(\d+)\s+([\d.]+)\s+([\d.]+)",
                       re.M)


def parse_wrk(path: pathlib.Path) -> dict:
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


def parse_async(path: pathlib.Path) -> dict:
    """The async bench's table: {scenario: row}."""
    return {name: {"rps": float(rps), "p50": float(p50), "p99": float(p99), "errors": 0}
            for name, rps, p50, p99 in ASYNC_ROW.findall(path.read_text())}


def rounds(work: pathlib.Path, name: str, parse) -> dict:
    """{round: row} for every round the scenario ran."""
    found = {}
    for path in work.glob(f"{name}.*.txt"):
        round_ = path.name[len(name) + 1:-len(".txt")]
        if round_.isdigit():
            found[int(round_)] = parse(path)
    return found


def median_row(by_round: dict) -> dict:
    ordered = sorted(by_round.values(), key=lambda r: r["rps"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["rps"] = statistics.median(r["rps"] for r in ordered)
    row["errors"] = sum(r["errors"] for r in ordered)
    return row


def spread(ours: dict, before: dict) -> str:
    """The lowest and highest per-round ratio of `ours` to `before`."""
    ratios = [ours[r]["rps"] / before[r]["rps"] for r in ours if r in before]
    if len(ratios) < 2:
        return ""
    return f"{min(ratios):.2f}–{max(ratios):.2f}"


def table(title: str, unit: str, groups: list, with_before: bool) -> bool:
    """Prints one table; `groups` is [(baseline, before, [(name, by_round)])]; the ratio to before
    is given for the `intentmesh-…` row that `before-…` is the same scenario of. True when a
    request failed."""
    header = f"{title:<28}{unit:>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs baseline':>14}"
    if with_before:
        header += f"{'vs before':>12}{'per round':>12}"
    print(header)
    print("-" * len(header))
    failed = False
    for base_rounds, before_rounds, named in groups:
        base = median_row(base_rounds)
        before = median_row(before_rounds) if before_rounds else None
        for name, by_round in named:
            row = median_row(by_round)
            ours = name.startswith("intentmesh-") and any(
                n == "before-" + name.removeprefix("intentmesh-") for n, _ in named)
            ratio = f"{row['rps'] / base['rps']:.2f}x" if by_round is not base_rounds else ""
            line = (f"{name:<28}{row['rps']:>10.0f}{row['p50']:>10.2f}{row['p99']:>10.2f}"
                    f"{row['errors']:>8}{ratio:>14}")
            if with_before and before and ours:
                line += f"{row['rps'] / before['rps']:>11.2f}x{spread(by_round, before_rounds):>12}"
            print(line)
            failed |= row["errors"] > 0
    return failed


def main() -> int:
    work = pathlib.Path(sys.argv[1])
    sync = {name: rounds(work, name, parse_wrk) for name in SYNC}
    sync = {name: r for name, r in sync.items() if r}
    with_before = "before-pay" in sync
    n = max(len(r) for r in sync.values())
    print()
    if n > 1:
        print(f"{n} rounds; each row is the scenario's median round")
    groups = []
    for path in ["pay", "search"]:
        named = [(name, sync[name]) for name in SYNC
                 if name in sync and (name.endswith(f"-{path}") or f"-{path}-" in name)]
        groups.append((sync[f"baseline-{path}"], sync.get(f"before-{path}"), named))
    failed = table("scenario", "req/s", groups, with_before)
    print()
    print("baseline-search-3hop is the bare axum → tonic → tonic chain (gateway → root → worker's shape)")
    print("intentmesh-search-uncached has the search cache off: every request queries SQLite FTS5")
    if "intentmesh-search" in sync:
        search = median_row(sync["intentmesh-search"])["rps"]
        if "baseline-search-3hop" in sync:
            chain = median_row(sync["baseline-search-3hop"])["rps"]
            print(f"goal: search at least 0.80x the three-hop chain: {search / chain:.2f}x")
        if "intentmesh-pay" in sync:
            pay = median_row(sync["intentmesh-pay"])["rps"]
            print(f"goal: payment at least 0.80x the search path: {pay / search:.2f}x")

    ours = rounds(work, "async", parse_async)
    if ours:
        before = rounds(work, "async-before", parse_async)
        pick = lambda by_round, name: {r: rows[name] for r, rows in by_round.items() if name in rows}
        baseline = pick(ours, "baseline-lapin-confirm-ack")
        named = [("baseline-lapin-confirm-ack", baseline)]
        if before:
            named.append(("before-async-search", pick(before, "intentmesh-async-search")))
        named.append(("intentmesh-async-search", pick(ours, "intentmesh-async-search")))
        print()
        table("async scenario", "tasks/s",
              [(baseline, pick(before, "intentmesh-async-search") if before else None, named)],
              bool(before))
        print()
        print("async: queued searches, from the first POST /process (202) to the last result stored")
        print("(root → RabbitMQ, confirmed → search worker → Redis); baseline: bare lapin")
        print("publish-with-confirm → consume → ack of messages the size of this tree's")
    if failed:
        print("some requests failed: the numbers above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
