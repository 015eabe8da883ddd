"""A class on one server (issue 12): 100 sessions, 30 concurrent trainings, a heavy request beside trivial ones.

Starts ``python -m workbench`` on a free loopback port (or uses ``--url``, which
must be a loopback address) and plays tabs over HTTP, as the browser does: every
callback is a POST to ``/_dash-update-component`` whose body names the
callback's output, inputs and state. The bodies are built from the served
callback map (``/_dash-dependencies``, the same map as ``app.callback_map``)
and the values of the served layout (``/_dash-layout``); only the few triggers
below name component ids, through the constants of :mod:`workbench.app.ids`
(see ``Tab``), so renaming an id or moving a callback needs no change here.

Phases, each bounded in count and time:

1. *idle*: 30 trivial requests (the header counts) on an idle server: the baseline; then the
   heaviest request (``--heavy``, a generator at the limits) three times, alone.
2. *page loads*: ``--sessions`` tabs load the page and fire every initial callback.
3. *work*: each tab adds one vertex (so that a lost session shows).
4. *start*: ``--trainings`` tabs press Start at once.
5. *mixed*, ``--duration`` seconds: the training tabs poll every 0.5 s, 8 threads
   send trivial requests to the other tabs, and one more tab sends the heaviest
   request again and again.
6. *stop* the trainings, then *check* every tab's vertex count: sessions kept.

The server's resident memory is read from ``/proc/<pid>/status`` every 0.5 s.
Timings are wall-clock latencies seen by the client, which shares the machine's
cores with the server: on a loaded machine they are noisy, so the table also
gives each row's p50 against the idle baseline measured in the same run.

    python benchmarks/bench_load.py                               # the issue's sizes
    python benchmarks/bench_load.py --sessions 10 --trainings 3 --duration 5    # a quick run
    python benchmarks/bench_load.py --server-args "--training-slots 2 --memory-budget 1G"
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from workbench.app import ids
from workbench.app.requests import AppMap, id_key

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
HARD_TIMEOUT = 900.0  # seconds: no phase runs past this, whatever the sizes
#: The header text that starts with the design's vertex count ("30 vertices · 60 edges · depth 7").
COUNTS = getattr(ids, "COUNT_DESIGN", None) or ids.COUNT_VERTICES


# ---------------------------------------------------------------------------- HTTP


class Client:
    """Keep-alive HTTP connections to one loopback server, one per thread; records every latency by kind."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK:
            raise SystemExit(f"bench_load: only a loopback server may be loaded, not {parts.hostname!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._local = threading.local()
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def request(self, kind: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):  # a keep-alive connection the server closed is opened again once
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            start = time.perf_counter()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.HTTPException, OSError) as err:
                conn.close()
                self._local.conn = None
                if attempt:
                    self._record(kind, time.perf_counter() - start, f"{type(err).__name__}: {err}")
                    return 0, b""
                continue
            error = None if response.status in (200, 204) else f"HTTP {response.status}: {payload[:200]!r}"
            self._record(kind, time.perf_counter() - start, error)
            return response.status, payload
        raise AssertionError("unreachable")

    def _record(self, kind: str, seconds: float, error: str | None) -> None:
        with self._lock:
            self.latencies[kind].append(seconds)
            if error is not None:
                self.errors[kind].append(error)

    def get_json(self, path: str):
        status, payload = self.request("setup", "GET", path)
        if status != 200:
            raise SystemExit(f"bench_load: GET {path} answered {status}")
        return json.loads(payload)


# ---------------------------------------------------------------------------- the app's callbacks


class Tab:
    """One browser tab: its session id, the values it holds, and the requests it sends."""

    def __init__(self, app: AppMap, client: Client) -> None:
        self.app, self.client = app, client
        self.sid = uuid.uuid4().hex
        self.values = {(ids.SESSION, "data"): self.sid, (ids.PAGE, "data"): uuid.uuid4().hex}
        self.clicks: dict[str, int] = defaultdict(int)
        self.seen = 0  # training records drawn
        self.ticks = 0
        self.status = ""
        self.components: dict | None = None  # the tab's components, where they differ from the layout

    def use_generator(self, name: str, params: dict[str, object]) -> dict:
        """Choose generator ``name`` with ``params`` in this tab's form; returns the values to click Generate with."""
        self.components = {
            k: v for k, v in self.app.components.items() if not (isinstance(v, dict) and v.get("type") == ids.GEN_PARAM)
        }
        values = {(ids.GENERATOR, "value"): name}
        for key, value in params.items():
            cid = {"type": ids.GEN_PARAM, "name": key}
            self.components[id_key(cid)] = cid
            values[(id_key(cid), "value")] = value
        return values

    def send(self, kind: str, cb: dict, trigger: tuple[str, str] | None = None) -> dict | None:
        status, payload = self.client.request(
            kind, "POST", "/_dash-update-component", self.app.body(cb, self.values, trigger, self.components)
        )
        return json.loads(payload).get("response") if status == 200 and payload else None

    def click(self, kind: str, button: str, values: dict | None = None) -> dict | None:
        """Click ``button`` with ``values`` (``(id key, property) -> value``) set in the form first."""
        self.clicks[button] += 1
        self.values[(button, "n_clicks")] = self.clicks[button]
        self.values.update(values or {})
        return self.send(kind, self.app.find(input=(button, "n_clicks")), (button, "n_clicks"))

    def open(self) -> None:
        self.client.request("page load", "GET", "/")
        self.client.request("page load", "GET", "/_dash-layout")
        for cb in self.app.initial():
            self.send("page load", cb)

    def counts(self, kind: str = "trivial") -> int | None:
        """The header's vertex count (a trivial request); None if the answer has none."""
        response = self.send(kind, self.app.find(output=(COUNTS, "children")))
        try:
            return int(re.match(r"\s*([\d,]+)", response[COUNTS]["children"])[1].replace(",", ""))
        except (TypeError, KeyError, ValueError):
            return None

    def poll(self) -> None:
        self.ticks += 1
        self.values[(ids.POLL, "n_intervals")] = self.ticks
        self.values[(ids.SEEN, "data")] = self.seen
        response = self.send(
            "poll while training", self.app.find(input=(ids.POLL, "n_intervals")), (ids.POLL, "n_intervals")
        )
        if response:
            self.seen = response.get(ids.SEEN, {}).get("data", self.seen)
            status = response.get(ids.STATUS, {}).get("children")
            self.status = status if isinstance(status, str) else self.status


# ---------------------------------------------------------------------------- the server


def start_server(server_args: list[str], data_dir: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "workbench", "--port", "0", "--data-dir", data_dir, *server_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    line = proc.stdout.readline()
    match = re.search(r"serving on (http://\S+?/)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"bench_load: the server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipes from filling up
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, match[1]


class Memory:
    """The resident memory of process ``pid``, sampled every 0.5 s in a thread."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.samples = pid, []
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def rss(self) -> float | None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except (OSError, TypeError):
            return None
        return int(re.search(r"VmRSS:\s+(\d+) kB", text)[1]) / 1024

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            mb = self.rss()
            if mb is not None:
                self.samples.append(mb)

    def stop(self) -> None:
        self._stop.set()


# ---------------------------------------------------------------------------- the run


def parse_heavy(text: str) -> tuple[str, dict[str, object]]:
    name, _, params = text.partition(":")
    values = {}
    for item in filter(None, params.split(",")):
        key, _, value = item.partition("=")
        values[key] = float(value) if "." in value else int(value)
    return name, values


def run(args: argparse.Namespace, client: Client, deadline: float) -> dict:
    app = AppMap(client.get_json("_dash-dependencies"), client.get_json("_dash-layout"))
    report: dict = {"initial callbacks": len(app.initial())}

    # 1. idle baseline, and the heavy request on the idle server
    probe = Tab(app, client)
    probe.open()
    for _ in range(30):
        probe.counts("trivial, idle server")
    heavy_tab = Tab(app, client)
    heavy_tab.open()
    heavy_values = heavy_tab.use_generator(*parse_heavy(args.heavy))
    for _ in range(3):
        heavy_tab.click(f"heavy alone: generate {args.heavy}", ids.GENERATE, heavy_values)

    # 2. page loads and 3. one edit per tab
    tabs = [Tab(app, client) for _ in range(args.sessions)]
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(lambda t: t.open() if time.monotonic() < deadline else None, tabs))
        base = probe.counts("setup")
        list(pool.map(lambda t: t.click("add vertex", ids.ADD_VERTEX), tabs))
    report["base vertices"] = base

    # 4. trainings start together
    training = tabs[: args.trainings]
    barrier = threading.Barrier(len(training)) if training else None

    def press_start(tab: Tab) -> None:
        barrier.wait()
        tab.click("start training", ids.START, {(ids.EPOCHS, "value"): args.epochs})

    with ThreadPoolExecutor(max(1, len(training))) as pool:
        list(pool.map(press_start, training))

    # 5. mixed load
    end = min(time.monotonic() + args.duration, deadline)
    others = tabs[args.trainings :] or tabs
    rng = random.Random(0)

    def poller(tab: Tab) -> None:
        while time.monotonic() < end:
            tab.poll()
            time.sleep(0.5)

    def trivial() -> None:
        while time.monotonic() < end:
            rng.choice(others).counts("trivial beside training and heavy")
            time.sleep(0.05)

    def heavy() -> None:
        while time.monotonic() < end:
            heavy_tab.click(f"heavy beside training: generate {args.heavy}", ids.GENERATE, heavy_values)
            time.sleep(0.2)

    workers = [threading.Thread(target=poller, args=(t,)) for t in training]
    workers += [threading.Thread(target=trivial) for _ in range(8)]
    workers += [threading.Thread(target=heavy)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    report["training states"] = _states(t.status for t in training)

    # 6. stop, then check every tab
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(lambda t: t.click("stop training", ids.STOP), training))
        counts = list(pool.map(lambda t: t.counts("check counts"), tabs))
    report["kept"] = sum(c == base + 1 for c in counts) if base is not None else None
    return report


def _states(statuses) -> str:
    words = [(s.split(" ", 1)[0] if s else "unknown") for s in statuses]
    return ", ".join(f"{words.count(w)} {w}" for w in sorted(set(words))) or "none"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


TARGETS = {"trivial beside training and heavy": 1.0, "poll while training": 1.0}


def table(client: Client, heavy: str) -> str:
    idle = client.latencies.get("trivial, idle server")
    idle_p50 = statistics.median(idle) if idle else None
    targets = {**TARGETS, f"heavy alone: generate {heavy}": 2.0}
    lines = [
        "| request | count | errors | p50 ms | p95 ms | max ms | p50 vs idle | target p95 | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, values in client.latencies.items():
        if kind == "setup" or not values:
            continue
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        ratio = f"{p50 / idle_p50:.1f}x" if idle_p50 else "-"
        target = targets.get(kind)
        met = "-" if target is None else ("yes" if p95 <= target else "no")
        lines.append(
            f"| {kind} | {len(values)} | {len(client.errors.get(kind, []))} | {p50 * 1000:.0f} | {p95 * 1000:.0f} "
            f"| {max(values) * 1000:.0f} | {ratio} | {f'{target * 1000:.0f} ms' if target else '-'} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--trainings", type=int, default=30)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of mixed load (default 30)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each training (default 20)")
    parser.add_argument(
        "--heavy",
        default="watts_strogatz:n=10000,k=5,p=0.1",  # at the default limits: 10,000 vertices, 25,000 edges checked
        help="generator:param=value,...",
    )
    parser.add_argument("--workers", type=int, default=16, help="client threads for page loads (default 16)")
    parser.add_argument("--url", default=None, help="a running loopback server instead of starting one")
    parser.add_argument("--pid", type=int, default=None, help="the process id of --url's server (for its memory)")
    parser.add_argument("--server-args", default="", help="flags for `python -m workbench`, quoted")
    args = parser.parse_args(argv)
    if args.trainings > args.sessions:
        parser.error("--trainings cannot exceed --sessions")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workbench-load-") as data_dir:
        proc = None
        if args.url is None:
            proc, url = start_server(shlex.split(args.server_args), data_dir)
            pid = proc.pid
        else:
            url, pid = args.url, args.pid
        client = Client(url)
        memory = Memory(pid)
        rss_start = memory.rss()
        try:
            report = run(args, client, started + HARD_TIMEOUT)
        finally:
            memory.stop()
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
    load = os.getloadavg()
    print(f"Server: {url} ({'started here' if proc else 'given'}) {args.server_args}".rstrip())
    print(
        f"Sizes: {args.sessions} sessions, {args.trainings} trainings of {args.epochs} epochs, {args.duration:g} s of "
        f"mixed load, heavy request {args.heavy}; {report['initial callbacks']} callbacks per page load"
    )
    print(f"Machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
    print()
    print(table(client, args.heavy))
    print()
    peak = max(memory.samples, default=None)
    print(
        f"Server memory (RSS): {rss_start or 0:.0f} MB at start, {peak or 0:.0f} MB peak, "
        f"{memory.samples[-1] if memory.samples else 0:.0f} MB at the end"
    )
    print(f"Sessions kept: {report['kept']}/{args.sessions} (vertex count {report['base vertices']} + 1 at the end)")
    print(f"Trainings when the mixed load ended: {report['training states']}")
    print(f"Wall time: {time.monotonic() - started:.0f} s")
    for kind, errors in client.errors.items():
        print(f"errors of {kind}: {len(errors)}, first: {errors[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
