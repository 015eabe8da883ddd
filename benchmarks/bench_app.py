"""Responsiveness of the workbench app on a 1,000-vertex, 10,000-edge DAN (issues 4 and 11).

Serves the real app from a thread of this process (werkzeug, as in the
browser tests), drives it with headless Chromium (Playwright, Debian's
``/usr/bin/chromium``) at 1280 x 720, and prints these figures:

* **slider preview, server time**: the prune slider is moved step by step;
  for each preview request the server's time is read from the browser's
  resource timing (``responseStart - requestStart``: the whole callback:
  masks from the snapshot, test accuracy, the mask drawn on the graph (its
  codes, or the recoloured picture of a graph this large), the detail plots,
  the output and JSON), and the same work
  (``workbench.app.callbacks.prune.preview_outputs``) is also timed in-process.
  Target: 100 ms.
* **first paint**: from dropping the graph file on the Design panel to
  the graph on screen with two animation frames drawn: the server-drawn
  overview picture that large designs get first (or Cytoscape holding all
  vertices, for a design below the overview size).
  Target: 1 s.
* **curve lag**: while the DAN trains, a watcher thread notes the wall-clock
  time each history record appears in the trainer; the page notes when the
  loss curve grows to include it. Lag = page time - record time. Target: 1 s.

    python benchmarks/bench_app.py            # the issue's sizes
    python benchmarks/bench_app.py --quick    # 200 vertices, 1,000 edges (smoke run)

Timings depend on the machine; ``OMP_NUM_THREADS=1`` and one torch thread,
as everywhere in this repository.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import networkx as nx
import torch

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")

NODE_COUNT = """() => { const root = document.getElementById('design-canvas');
  for (const el of [root, ...root.querySelectorAll('*')])
    if (el._cyreg && el._cyreg.cy) return el._cyreg.cy.nodes().length;
  return -1; }"""
# vertices drawn in the overview that large designs get first (-1 while it is hidden)
OVERVIEW_COUNT = """() => { const box = document.getElementById('design-overview-box');
  const img = document.getElementById('design-overview');
  if (!box || box.style.visibility !== 'visible' || !img || !img.complete || !img.naturalWidth) return -1;
  const m = (document.getElementById('design-overview-text').textContent || '').match(/^([0-9,]+) neurons/);
  return m ? Number(m[1].replace(/,/g, '')) : -1; }"""
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
WATCH_CURVE = """() => { window.__curve = []; let seen = 0;
  window.__curveTimer = setInterval(() => { const g = document.querySelector('#train-curves .js-plotly-plot');
    const n = g && g.data && g.data[0] ? g.data[0].x.length : 0;
    if (n > seen) { for (let k = seen; k < n; k++) window.__curve.push([k, Date.now() / 1000]); seen = n; } }, 10); }"""


def the_graph(n: int, m: int) -> nx.DiGraph:
    """A DAG with exactly ``n`` vertices and ``m`` edges (G(n, m), oriented)."""
    from workbench.graph import to_dag

    return to_dag(nx.gnm_random_graph(n, m, seed=0))


class CallbackClock:
    """WSGI middleware timing every Dash callback inside the server: from the request reaching the app to its
    whole response produced (the callback, its JSON), without the browser, the network or the client's thread.
    ``times[trigger]`` lists the milliseconds of the callbacks whose body names ``trigger``."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.bodies: list[tuple[bytes, float]] = []

    def __call__(self, environ, start_response):
        if "_dash-update-component" not in environ.get("PATH_INFO", ""):
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        began = time.perf_counter()
        chunks = list(self.wsgi_app(environ, start_response))  # the response, produced in full
        self.bodies.append((body, 1000 * (time.perf_counter() - began)))
        return chunks

    def times(self, trigger: str, since: int = 0) -> list[float]:
        return [ms for body, ms in self.bodies[since:] if trigger.encode() in body]


def server_times(trigger: str, into: list[float]):
    """A Playwright response handler that appends the server time (ms) of callbacks naming ``trigger`` to ``into``."""

    def on_response(response):
        if "_dash-update-component" in response.url and trigger in (response.request.post_data or ""):
            t = response.request.timing
            into.append(t["responseStart"] - t["requestStart"])

    return on_response


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {statistics.median(values):.0f} ms, p95 {p95:.0f} ms, max {values[-1]:.0f} ms (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small graph (smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, m = (200, 1000) if args.quick else (1000, 10000)
    from playwright.sync_api import sync_playwright

    from workbench import io as wbio
    from workbench.app import create_app
    from workbench.app.callbacks.prune import preview_outputs
    from workbench.app.server import CHROMIUM_ARGS, serve_in_thread
    from workbench.app.state.workspace import PruneSetting

    graph = the_graph(n, m)
    path = Path(tempfile.mkdtemp()) / f"dan_{n}_{m}.json"
    path.write_bytes(wbio.graph_to_bytes(graph, "json"))
    app = create_app()
    clock = app.server.wsgi_app = CallbackClock(app.server.wsgi_app)
    results = {}
    with serve_in_thread(app) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#design-canvas canvas') !== null", timeout=30_000)
        page.wait_for_timeout(2000)

        # ---- first paint of the graph, from the file drop
        before_drop = len(clock.bodies)
        start = page.evaluate("() => performance.now()")
        page.set_input_files("#design-upload input[type=file]", str(path))
        # the canvas draws the design with the model's inputs and outputs (2 + 2 on moons)
        drawn = f"() => ({NODE_COUNT})() >= {n} || ({OVERVIEW_COUNT})() >= {n}"
        page.wait_for_function(drawn, timeout=60_000, polling="raf")
        painted = page.evaluate(TWO_FRAMES)
        how = "a picture drawn on the server" if page.evaluate(OVERVIEW_COUNT) >= n else "Cytoscape canvas"
        results["first paint"] = f"{painted - start:.0f} ms (drop of the file to {n:,} vertices drawn, {how})"
        drop = clock.times("design-upload", before_drop)
        results["file drop callback, server (inside the WSGI app)"] = summary(drop) + " (reads, lays out and draws)"

        # ---- build the DAN (on the default data set)
        page.click("#train-build")
        page.wait_for_selector("#train-alert .alert-success", timeout=60_000)
        # the page's session, by the id its dcc.Store keeps in sessionStorage (JSON)
        session_id = page.evaluate("() => JSON.parse(sessionStorage.getItem('session-id'))")
        session, _ = app.workbench_sessions.get(session_id)
        ws = session.workspace
        edges = sum(layer.weight.numel() for layer in ws.model.layers)
        results["model"] = (
            f"DAN of {n:,} vertices, {edges:,} edges, {sum(p.numel() for p in ws.model.parameters()):,} parameters"
        )

        # ---- slider previews: server time from resource timing
        timings: list[float] = []
        on_response = server_times("prune-density", timings)
        page.on("response", on_response)
        page.wait_for_function(
            "() => document.querySelector('#prune-summary')?.innerText.includes('connections')", timeout=60_000
        )
        first_move = len(clock.bodies)
        page.locator("#prune-slider [role=slider]").focus()
        for _ in range(20):
            page.keyboard.press("PageUp")
            page.wait_for_timeout(250)
        page.wait_for_timeout(1000)
        page.remove_listener("response", on_response)
        results["slider preview, server (inside the WSGI app)"] = summary(clock.times("prune-density", first_move)[1:])
        results["slider preview, seen by the browser (request to first byte)"] = summary(timings[1:])

        compute = []
        for k in range(1, 21):
            t0 = time.perf_counter()
            with session.lock:
                preview_outputs(session, PruneSetting("percent", "global", 2.5 * k))
            compute.append(1000 * (time.perf_counter() - t0))
        results["slider preview, in process"] = summary(compute)
        page.keyboard.press("Home")
        page.wait_for_timeout(1000)

        # ---- training curve lag
        page.wait_for_selector("#train-curves .js-plotly-plot", timeout=30_000)
        page.evaluate(WATCH_CURVE)
        page.fill("#train-epochs", "4")
        appeared: dict[int, float] = {}
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                trainer = ws.trainer
                if trainer is not None and ws.history_base is not None:
                    for k in range(len(appeared), len(trainer.history_since(0))):
                        appeared[k] = time.time()
                time.sleep(0.005)

        polls: list[float] = []
        page.on("response", server_times("train-poll", polls))
        ws.history_base = None
        page.click("#train-start")
        page.wait_for_function(
            "() => document.querySelector('#status-pill').innerText.includes('running')", timeout=30_000
        )
        ws.history_base = len(ws.history)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        page.wait_for_function(
            "() => !document.querySelector('#status-pill').innerText.includes('running')", timeout=300_000
        )
        page.wait_for_timeout(1500)
        stop.set()
        drawn = dict(page.evaluate("() => window.__curve"))
        base = ws.history_base
        lags = [1000 * (drawn[base + k] - t) for k, t in appeared.items() if base + k in drawn]
        results["curve lag"] = summary(lags)
        results["poll request, server (HTTP) while training"] = summary(polls)
        browser.close()
    print(f"\n## App responsiveness ({n:,} vertices, {m:,} edges)\n")
    print("| measure | result | target |")
    print("| --- | --- | --- |")
    targets = {
        "first paint": "1 s",
        "slider preview, server (inside the WSGI app)": "100 ms",
        "slider preview, in process": "100 ms",
        "curve lag": "1 s",
        "model": "",
    }
    for key, value in results.items():
        print(f"| {key} | {value} | {targets.get(key, '')} |")


if __name__ == "__main__":
    main()
