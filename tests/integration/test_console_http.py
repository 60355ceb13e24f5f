"""`headwater ui` over plain HTTP: who may talk to it, /metrics, and where it may listen."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import headwater as hw
from tests.services.console import Console, console, signups_project


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Console]]:
    folder = signups_project(tmp_path_factory.mktemp("console") / "signups")
    assert hw.Project(folder).run(once=True).ok
    with console(folder) as ui:
        yield folder, ui


def cookie(ui: Console) -> dict[str, str]:
    return {"Cookie": f"headwater_{ui.port}={ui.token}"}


def test_the_token_in_the_url_becomes_an_httponly_strict_cookie(served: tuple[Path, Console]) -> None:
    _, ui = served
    status, _, headers = ui.request("GET", f"/?token={ui.token}")
    assert status == 303 and headers["location"] == "/"
    set_cookie = headers["set-cookie"]
    assert set_cookie.startswith(f"headwater_{ui.port}={ui.token};")
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    status, page, _ = ui.request("GET", "/", headers=cookie(ui))
    assert status == 200 and "Pipeline" in page


def test_requests_without_the_token_are_refused(served: tuple[Path, Console]) -> None:
    _, ui = served
    for path in ("/", "/api/graph", "/metrics", "/static/console.css", "/quarantine/100000000"):
        status, text, _ = ui.request("GET", path)
        assert status == 401, path
        assert "token" in text
    status, _, headers = ui.request("GET", "/?token=not-the-token")
    assert status == 401 and "set-cookie" not in headers
    status, _, _ = ui.request("GET", "/", headers={"Cookie": f"headwater_{ui.port}=guess"})
    assert status == 401


def test_a_change_without_the_csrf_header_is_refused_and_changes_nothing(
    served: tuple[Path, Console],
) -> None:
    folder, ui = served
    status, text, _ = ui.request("POST", "/jobs/load_signups/pause", headers=cookie(ui))
    assert status == 403 and "x-headwater-csrf" in text
    status, _, _ = ui.request(
        "POST", "/jobs/load_signups/pause", headers={**cookie(ui), "X-Headwater-CSRF": "guess"}
    )
    assert status == 403
    assert {r["name"]: r["status"] for r in hw.Project(folder).status()}["load_signups"] == "idle"


def test_a_foreign_host_or_origin_is_refused(served: tuple[Path, Console]) -> None:
    _, ui = served
    status, text, _ = ui.request("GET", "/", headers={**cookie(ui), "Host": f"rebound.example:{ui.port}"})
    assert status == 421 and "rebound.example" in text
    status, _, _ = ui.request("GET", "/", headers={**cookie(ui), "Host": f"localhost:{ui.port}"})
    assert status == 200
    status, _, _ = ui.request(
        "GET", "/api/graph", headers={**cookie(ui), "Origin": "http://attacker.example"}
    )
    assert status == 403


def test_metrics_in_prometheus_text_format(served: tuple[Path, Console]) -> None:
    _, ui = served
    status, text, headers = ui.request("GET", "/metrics", headers={"Authorization": f"Bearer {ui.token}"})
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.splitlines()
    # The signups example: 65 records read, 57 written, 3 re-sends, 2 test accounts, 3 quarantined.
    for expected in (
        'headwater_job_rows_total{job="load_signups",outcome="read"} 65',
        'headwater_job_rows_total{job="load_signups",outcome="written"} 57',
        'headwater_job_rows_total{job="load_signups",outcome="deduplicated"} 3',
        'headwater_job_rows_total{job="load_signups",outcome="dropped"} 2',
        'headwater_job_rows_total{job="load_signups",outcome="quarantined"} 3',
        'headwater_job_failures_total{job="load_signups"} 0',
        'headwater_job_commit_seconds_count{job="load_signups"} 1',
        'headwater_job_up{job="load_signups",status="idle"} 1',
    ):
        assert expected in lines, expected
    assert "# TYPE headwater_job_lag_seconds gauge" in lines
    for line in lines:
        assert line.startswith("#") or len(line.split()) == 2, line


def test_it_refuses_to_listen_on_another_address_without_allow_remote(tmp_path: Path) -> None:
    folder = signups_project(tmp_path / "signups")
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "ui", "-p", str(folder), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr and "--allow-remote" in done.stderr


def test_a_fixed_token_from_the_environment(tmp_path: Path) -> None:
    folder = signups_project(tmp_path / "signups")
    fixed = "a-scrapers-token-0123456789"
    with console(folder, env={"HEADWATER_UI_TOKEN": fixed}) as ui:
        assert ui.token == fixed
        status, text, _ = ui.request("GET", "/metrics", headers={"Authorization": f"Bearer {fixed}"})
        assert status == 200 and "headwater_job_up" in text
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "ui", "-p", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HEADWATER_UI_TOKEN": "short"},
    )
    assert done.returncode == 2 and "HEADWATER_UI_TOKEN is too short" in done.stderr
