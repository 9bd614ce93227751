"""The long validator fuzz run: N seeded mutations of the demo specs, counted (default 100,000).

    .venv/bin/python tests/fuzz/run_fuzz.py [--cases 100000] [--seed 14] [--jobs 2] [--start 0]

Case i is the same mutation for a seed on every run, so a long run stopped with Ctrl-C
can go on with --start at the count it printed. Prints the cases run, crashes found (each with its seed and reason; the mutant
is written to tests/fuzz/corpus/new/ for a regression case), the slowest case
and the peak memory. Exit code 1 when anything crashed.
"""
from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutate import Workbench, make_case  # noqa: E402

NEW_CORPUS = Path(__file__).resolve().parent / "corpus" / "new"


def _worker(args: tuple[int, int, int]) -> tuple[int, list[tuple[int, str, str, str]], float]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent reports and stops the pool on Ctrl-C
    seed, start, count = args
    bench = Workbench()
    crashes = []
    slowest = 0.0
    try:
        for index in range(start, start + count):
            rng = random.Random(f"{seed}-{index}")
            name, text = make_case(rng, bench.seeds)
            verdict = bench.run(name, text)
            slowest = max(slowest, verdict.seconds)
            if verdict.crashed:
                crashes.append((index, name, verdict.why, text))
    finally:
        bench.close()
    return count, crashes, slowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--start", type=int, default=0, help="first case index (to go on after a stop)")
    args = parser.parse_args()
    chunk = 100
    end = args.start + args.cases
    work = [(args.seed, start, min(chunk, end - start)) for start in range(args.start, end, chunk)]
    t0 = time.perf_counter()
    done, crashes, slowest = 0, [], 0.0
    stopped = False
    pool = multiprocessing.Pool(args.jobs)
    try:
        for count, found, slow in pool.imap_unordered(_worker, work):
            done += count
            crashes += found
            slowest = max(slowest, slow)
            if done % 1_000 < chunk:
                print(f"  {done:,} cases, {len(crashes)} crashes, {time.perf_counter() - t0:.0f}s", flush=True)
    except KeyboardInterrupt:  # Ctrl-C (or kill -INT): report what ran so far, as an incomplete run
        stopped = True
        pool.terminate()
    finally:
        pool.close()
        pool.join()
    if stopped:
        print(f"stopped before the end: {done:,} of {args.cases:,} cases ran (go on with --start {args.start + done})")
    for index, name, why, text in sorted(crashes):
        print(f"CRASH case {index} ({name}): {why}")
        NEW_CORPUS.mkdir(parents=True, exist_ok=True)
        (NEW_CORPUS / f"case_{args.seed}_{index}__{name}").write_text(text, encoding="utf-8", errors="surrogatepass")
    peak_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"cases run: {done:,}; crashes: {len(crashes)}; slowest case: {slowest:.2f}s of CPU; "
          f"peak memory of a worker: {peak_mb:.0f} MB; {time.perf_counter() - t0:.0f}s in all")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
