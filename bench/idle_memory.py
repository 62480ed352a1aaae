"""Memory at rest of an empty standalone cluster, per process: resident (RSS) and unique (USS).

    python bench/idle_memory.py [--settle 40] [--samples 3]

Starts `quiver standalone` in a temporary folder, waits `--settle` seconds (every role hands its
free heap back to the system every 30 s), then reads each process of the cluster `--samples`
times, 5 s apart, and prints the median per process and the sums. RSS counts the shared
libraries (Python, numpy, pyarrow, ...) once per process, so the RSS sum is above what the
machine gives the cluster; USS, the memory only that process holds, sums to a lower bound of it.
Target: RSS summed <= 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections import defaultdict

import psutil

from common import cluster

TARGET_RSS_MB = 400
ROLES = ("coordinator", "datanode", "indexnode", "ingestnode", "proxy")
SAMPLE_INTERVAL_S = 5.0


def process_name(process: psutil.Process) -> str:
    """The role a process of the standalone runs, or its program (the supervisor, Redis, NATS)."""
    command = process.cmdline()
    if "-m" in command and command[command.index("-m") + 1] in ROLES:
        return command[command.index("-m") + 1]
    if "standalone" in command:
        return "supervisor"
    if any("multiprocessing" in part for part in command):  # e.g. the ingest node's resource tracker
        return f"{process_name(process.parent())} helper"
    program = command[0].rsplit("/", 1)[-1] if command else process.name()
    return program.split()[0]


def sample(supervisor_pid: int) -> dict[str, tuple[int, int]]:
    """(RSS, USS) bytes of each process of the cluster, named; several of one name are numbered."""
    root = psutil.Process(supervisor_pid)
    counts: dict[str, int] = defaultdict(int)
    found = {}
    for process in [root, *root.children(recursive=True)]:
        memory = process.memory_full_info()
        name = process_name(process)
        counts[name] += 1
        found[name if counts[name] == 1 else f"{name}-{counts[name]}"] = (memory.rss, memory.uss)
    return found


async def measure(settle_s: float, samples: int) -> None:
    async with cluster(None, None) as endpoints:
        print(f"empty standalone started; settling {settle_s:.0f} s", flush=True)
        await asyncio.sleep(settle_s)
        readings = []
        for index in range(samples):
            if index:
                await asyncio.sleep(SAMPLE_INTERVAL_S)
            readings.append(sample(endpoints.pid))
    names = sorted(set().union(*readings), key=lambda name: (name not in ROLES, name))
    print(f"{'process':<18} {'RSS MB':>8} {'USS MB':>8}")
    total_rss = total_uss = 0.0
    for name in names:
        rss = statistics.median(r[name][0] for r in readings if name in r) / 1e6
        uss = statistics.median(r[name][1] for r in readings if name in r) / 1e6
        total_rss, total_uss = total_rss + rss, total_uss + uss
        print(f"{name:<18} {rss:8.1f} {uss:8.1f}")
    verdict = "met" if total_rss <= TARGET_RSS_MB else "not met"
    print(f"{'total':<18} {total_rss:8.1f} {total_uss:8.1f}   (target: RSS <= {TARGET_RSS_MB} MB, {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=40.0, help="seconds to wait after start-up")
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.settle, args.samples))


if __name__ == "__main__":
    main()
