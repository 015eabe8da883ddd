"""The production server: ServerConfig, waitress from a thread, the access log, and `python -m workbench` itself."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.app import create_app
from workbench.app.server import AccessLog, ServerConfig, default_data_dir, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app():
    return create_app()


def post_json(url: str, body: dict, timeout: float = 60) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


# ---------------------------------------------------------------------------- ServerConfig


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"threads": 0}, "server's threads must be a positive int, not 0"),
        ({"memory_budget": "2G"}, "server's memory_budget must be a positive int, not '2G'"),
        ({"training_slots": -1}, "server's training_slots must be a positive int, not -1"),
        ({"connection_limit": True}, "server's connection_limit must be a positive int, not True"),
        ({"max_request_bytes": 0}, "server's max_request_bytes must be a positive int, not 0"),
        ({"port": 70000}, "port must be an int from 0 to 65535, not 70000"),
    ],
)
def test_server_config_refuses_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        ServerConfig(**changes)


def test_server_config_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    config = ServerConfig(data_dir="~/x")
    assert (config.host, config.port, config.threads, config.training_slots) == ("127.0.0.1", 8050, 16, 6)
    assert config.data_dir == Path.home() / "x" and not config.access_log and not config.debug
    assert config.replace(port=9000).port == 9000 and config.port == 8050


def test_request_body_limit_follows_the_upload_limit():
    @dataclass(frozen=True)
    class Limits:
        max_upload_bytes: int = 3 * 2**20

    assert ServerConfig(limits=Limits()).request_bytes == 4 * 2**20 + 2**20  # base64 of 3 MiB, plus 1 MiB
    assert ServerConfig().request_bytes == 16 * 2**20 * 4 // 3 + 2**20
    assert ServerConfig(max_request_bytes=1234, limits=Limits()).request_bytes == 1234


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "workbench"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "workbench"


def test_create_app_keeps_the_config_and_a_slot_pool():
    app = create_app(config=ServerConfig(training_slots=3))
    assert app.workbench_config.training_slots == 3 and app.workbench_slots.capacity == 3


# ---------------------------------------------------------------------------- waitress


def test_waitress_serves_the_page_and_callbacks_from_a_thread(app):
    with serve_in_thread(app) as url:
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200 and response.headers["Server"] == "workbench"
        with urllib.request.urlopen(url + "_dash-dependencies", timeout=60) as response:
            assert json.loads(response.read())
        port = int(url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the listening socket is closed on leaving the block


def test_a_request_body_over_the_limit_gets_413_before_the_app(app):
    with serve_in_thread(app, max_request_bytes=1000) as url:
        status, body = post_json(url + "_dash-update-component", {"output": "x", "pad": "a" * 5000})
    assert status == 413 and "Request Entity Too Large" in body


def test_access_log_is_off_unless_asked_for(app, caplog):
    with caplog.at_level(logging.INFO, logger="workbench.access"):
        with serve_in_thread(app) as url, urllib.request.urlopen(url + "_dash-layout", timeout=60):
            pass
        assert caplog.records == []
        with serve_in_thread(app, access_log=True) as url, urllib.request.urlopen(url + "_dash-layout", timeout=60):
            pass
    (record,) = caplog.records
    assert record.name == "workbench.access" and " GET /_dash-layout 200 " in record.getMessage()


def test_access_log_writes_one_line_per_request(caplog):
    def hello(environ, start_response):
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"hi"]

    logged = AccessLog(hello)
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "PATH_INFO": "/x"}
    with caplog.at_level(logging.INFO, logger="workbench.access"):
        assert logged(environ, lambda status, headers, *exc: None) == [b"hi"]
    (record,) = caplog.records
    assert record.getMessage().startswith("127.0.0.1 POST /x 201 ") and record.getMessage().endswith(" ms")


@pytest.mark.slow
def test_python_m_workbench_serves_with_waitress_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench", "--port", "0", "--threads", "4", "--training-slots", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = server.stdout.readline()
        assert "workbench: serving on http://127.0.0.1:" in line and "4 threads and 2 training slots" in line
        url = line.split("serving on ", 1)[1].split("/ ", 1)[0] + "/"
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err[-2000:]
    assert "development server" not in err and "GET /" not in err + out  # no dev-server warning, no access log


def test_a_server_collects_cyclic_garbage_less_often():
    """In a process of its own: freezing and unfreezing this process's collector would finalise garbage of
    earlier tests' servers late, closing file descriptors that a later server has been given again."""
    code = (
        "import gc\n"
        "from workbench.app.server import GC_YOUNG, tune_gc\n"
        "assert gc.get_threshold()[0] == 700 and gc.get_freeze_count() == 0\n"
        "tune_gc()\n"
        "assert gc.get_threshold()[0] == GC_YOUNG > 700, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 0  # what existed at start-up is left out of the passes\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_run_server_tunes_the_collector_of_its_process_and_serve_in_thread_does_not(app, monkeypatch):
    import workbench.app.server as server_module
    from workbench.app import run_server

    calls = []
    monkeypatch.setattr(server_module, "tune_gc", lambda: calls.append("tuned"))
    with serve_in_thread(app) as url, urllib.request.urlopen(url + "_dash-layout", timeout=60):
        pass
    assert calls == []

    def refuse(app, config):
        raise OSError("address in use")

    monkeypatch.setattr(server_module, "make_server", refuse)
    with pytest.raises(SystemExit, match="cannot listen"):
        run_server(port=0)
    assert calls == ["tuned"]
