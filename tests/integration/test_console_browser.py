"""The web console in a real browser (Debian's Chromium driven by Playwright), on the signups
example: the graph, a job (pause, resume), a table, the quarantine (open a sealed record,
replay it after a fix), the worksheet, and pages that follow a `headwater run` in another
process. The tests run in order on one page."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import headwater as hw
from tests.conftest import write_jsonl
from tests.services.console import Console, console, signups_project

CHROMIUM = "/usr/bin/chromium"  # installed by scripts/ensure-services.sh
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Console]]:
    folder = signups_project(tmp_path_factory.mktemp("browser") / "signups")
    assert hw.Project(folder).run(once=True).ok
    with console(folder) as ui:
        yield folder, ui


@pytest.fixture(scope="module")
def page(browser: Browser, served: tuple[Path, Console]) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(served[1].url)
    yield page
    context.close()


def status_of(folder: Path, job: str) -> str:
    return {r["name"]: r["status"] for r in hw.Project(folder).status()}[job]


def test_the_graph_shows_the_pipeline_left_to_right_coloured_by_status(
    page: Page, served: tuple[Path, Console]
) -> None:
    assert "token=" not in page.url  # exchanged for the cookie
    expect(page.locator("body")).to_have_attribute("data-graph-loaded", "6")
    graph: dict[str, Any] = page.evaluate(
        """() => { const {cy} = window.headwaterGraph();
           return Object.fromEntries(cy.nodes().map(n => [n.id(), {x: n.position().x, status: n.data('status'),
                                                               color: n.style('background-color')}])); }"""
    )
    # connection -> ingestion job -> table -> transformation job -> table -> view
    chain = [
        "connection:landing",
        "job:load_signups",
        "table:bronze.signups",
        "job:plan_revenue",
        "table:silver.plan_days",
        "table:gold.plans",
    ]
    xs = [graph[n]["x"] for n in chain]
    assert xs == sorted(xs) and len(set(xs)) == len(xs), xs
    assert graph["job:load_signups"]["status"] == "idle"
    assert graph["job:load_signups"]["color"] == "rgb(87,96,106)"  # idle grey
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(3)  # two jobs and the view
    page.fill("#filter", "plan")
    expect(page.locator("#graph-count")).to_have_text("3 match · 4 of 6 nodes")
    expect(page.locator("#jobs tbody tr:visible")).to_have_count(2)
    page.fill("#filter", "")
    page.select_option("#layer", "gold")
    expect(page.locator("#jobs tbody tr:visible")).to_have_count(1)
    page.select_option("#layer", "")


def test_a_job_page_shows_definition_runs_and_charts_and_pauses_and_resumes(
    page: Page, served: tuple[Path, Console]
) -> None:
    folder, _ = served
    page.locator("#jobs tbody tr[data-name='load_signups']").click()
    expect(page).to_have_url(f"{served[1].base}/jobs/load_signups")
    expect(page.locator("pre.sql .sql-keyword").first).to_have_text("CREATE")
    expect(page.locator("pre.sql")).to_contain_text("EXPECTATION known_plan")
    run = page.locator("table.runs tbody tr").first
    expect(run).to_contain_text("succeeded")
    cells = run.locator("td").all_inner_texts()
    # read, written, deduplicated, dropped, quarantined, late
    assert cells[3:9] == ["65", "57", "3", "2", "3", "0"], cells
    # rows/s, passed and violations per expectation; an ingestion job has no windows to lag
    expect(page.locator(".chart canvas")).to_have_count(3)
    expect(page.locator(".chart[data-series='lag_seconds']")).to_contain_text("no windowed runs")
    expect(page.locator(".chart[data-series='violations'] .u-legend")).to_contain_text("known_plan")

    page.click("#pause")
    expect(page.locator("#job-status")).to_have_text("paused")
    assert status_of(folder, "load_signups") == "paused"
    page.click("#resume")
    expect(page.locator("#job-status")).to_have_text("idle")
    assert status_of(folder, "load_signups") == "idle"


def test_a_table_page_shows_columns_rows_preview_jobs_and_snapshots(
    page: Page, served: tuple[Path, Console]
) -> None:
    page.goto(f"{served[1].base}/tables/bronze.signups")
    expect(page.locator("#row-count")).to_have_text("57 rows")
    system = page.locator("table.columns tr.system td:first-child").all_inner_texts()
    assert [s.split()[0] for s in system] == ["$event_time", "$commit_time", "$source", "$run_id"]
    expect(page.locator("table.preview tbody tr")).to_have_count(50)
    expect(page.locator("a[href='/jobs/load_signups']")).to_be_visible()
    expect(page.locator("a[href='/jobs/plan_revenue']")).to_be_visible()
    assert page.locator("text=Snapshots").count() == 1


def test_the_quarantine_filters_opens_a_sealed_record_and_replays_it_after_a_fix(
    page: Page, served: tuple[Path, Console]
) -> None:
    folder, ui = served
    page.goto(f"{ui.base}/quarantine")
    records = page.locator("table.records tbody tr")
    expect(records).to_have_count(3)
    page.fill("input[name=reason]", "known_plan")
    page.click("button[type=submit]")
    expect(records).to_have_count(1)
    expect(records.first).to_contain_text("sealed")
    records.first.locator("a").first.click()
    expect(page.locator("#source")).to_contain_text("signups-1.jsonl:23")
    expect(page.locator("#raw-text")).to_have_count(0)  # sealed until opened
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#open-sealed")
    expect(page.locator("#raw-text")).to_contain_text('"plan": "enterprise"')
    audit = hw.Project(folder).query("SELECT actor, action, detail FROM system.audit").rows()
    assert audit and audit[-1]["action"] == "quarantine.decrypt" and "(headwater ui)" in audit[-1]["actor"]

    # The fix: the plan is one we sell after all. Then replay the record through it.
    sql = folder / "pipeline.sql"
    sql.write_text(
        sql.read_text().replace("('free', 'pro', 'team')", "('free', 'pro', 'team', 'enterprise')")
    )
    page.click("#replay")
    expect(page.locator("#replay-result")).to_contain_text("replayed 1 record: 1 row written")
    found = hw.Project(folder).query("SELECT plan FROM bronze.signups WHERE signup_id = 1021").fetchall()
    assert found == [("enterprise",)]


def test_the_worksheet_runs_sql_refuses_writes_downloads_and_plans(
    page: Page, served: tuple[Path, Console]
) -> None:
    folder, ui = served
    page.goto(f"{ui.base}/worksheet")
    page.fill("#sql", "SELECT plan, count(*) AS n FROM bronze.signups GROUP BY plan ORDER BY plan")
    page.click("#run")
    expect(page.locator("#result-count")).to_have_text("4 rows")
    expect(page.locator("table.result tbody tr").first).to_contain_text("enterprise")
    with page.expect_download() as download:
        page.click("button.download[data-format=csv]")
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0] == "plan,n" and "enterprise,1" in text.splitlines()
    with page.expect_download() as download:
        page.click("button.download[data-format=json]")
    assert '"plan": "enterprise"' in Path(download.value.path()).read_text()

    page.fill("#sql", "DELETE FROM bronze.signups")
    page.click("#run")
    expect(page.locator("#result .error")).to_contain_text("read-only")
    assert hw.Project(folder).query("SELECT count(*) FROM bronze.signups").fetchall() == [(58,)]

    page.click("#plan")
    expect(page.locator("#plan-text")).to_contain_text("~ ingest job load_signups")


@pytest.fixture
def running(served: tuple[Path, Console]) -> Iterator[subprocess.Popen[bytes]]:
    """`headwater run` in another process, until the test ends."""
    folder, _ = served
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "-p", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_pages_follow_a_run_in_another_process_without_locking_it_out(
    page: Page, served: tuple[Path, Console], running: subprocess.Popen[bytes]
) -> None:
    folder, ui = served
    page.goto(f"{ui.base}/")
    expect(page.locator("#jobs tbody tr[data-name='load_signups']")).to_have_attribute(
        "data-status", "running"
    )
    table = page.context.new_page()
    table.goto(f"{ui.base}/tables/bronze.signups")
    expect(table.locator("#row-count")).to_have_text("58 rows")
    page.goto(f"{ui.base}/jobs/load_signups")
    before = page.locator("table.runs tbody tr").count()
    write_jsonl(
        folder / "data" / "landing" / "signups-3.jsonl",
        [
            {
                "signup_id": 5000 + i,
                "signed_up_at": "2026-11-20T10:00:00Z",
                "email": f"new{i}@mail.example",
                "plan": "pro",
                "monthly_fee": "12.00",
                "country": "DE",
            }
            for i in range(7)
        ],
    )
    # The page refreshes itself: a new run with the 7 new rows appears without a reload.
    expect(page.locator("table.runs tbody tr")).to_have_count(before + 1, timeout=45_000)
    expect(page.locator("table.runs tbody tr").first.locator("td").nth(4)).to_have_text("7")
    expect(table.locator("#row-count")).to_have_text("65 rows")
    table.close()

    # Pausing and resuming work while the run holds the lake, and the run goes on.
    page.click("#pause")
    expect(page.locator("#job-status")).to_have_text("paused")
    page.click("#resume")
    expect(page.locator("#job-status")).to_have_text("running")
    assert running.poll() is None
    started = time.monotonic()
    assert hw.Project(folder).query("SELECT count(*) FROM bronze.signups").fetchall() == [(65,)]
    assert time.monotonic() - started < 10


def test_a_failed_job_is_red_with_its_error_and_resumes(page: Page, served: tuple[Path, Console]) -> None:
    folder, ui = served
    write_jsonl(
        folder / "data" / "landing" / "signups-4.jsonl",
        [{"signup_id": 9001, "signed_up_at": "2031-01-01T00:00:00Z", "email": "late@mail.example",
          "plan": "pro", "monthly_fee": "12.00", "country": "DE"}],
    )  # fmt: skip
    assert not hw.Project(folder).run(once=True).ok  # not_in_future: ON VIOLATION ABORT
    page.goto(f"{ui.base}/")
    expect(page.locator("#jobs tbody tr[data-name='load_signups']")).to_have_attribute(
        "data-status", "failed"
    )
    red = page.evaluate("() => window.headwaterGraph().cy.$id('job:load_signups').style('background-color')")
    assert red == "rgb(207,34,46)"
    page.goto(f"{ui.base}/jobs/load_signups")
    expect(page.locator("#job-status")).to_have_text("failed")
    expect(page.locator("#last-error")).to_contain_text("not_in_future")
    expect(page.locator("#last-error .hint")).to_contain_text("Resume")
    page.click("#resume")
    expect(page.locator("#job-status")).to_have_text("idle")
    expect(page.locator("#last-error")).to_have_count(0)


def test_the_graph_stays_usable_at_a_few_hundred_nodes(browser: Browser, tmp_path: Path) -> None:
    # 100 ingestion jobs, 100 transformation jobs, 200 tables and a connection: 401 nodes.
    lines = ["CREATE FILES CONNECTION landing PATH = 'data/landing';"]
    for i in range(100):
        lines += [
            f"CREATE TABLE bronze.t{i} (id BIGINT, v VARCHAR);",
            f"CREATE JOB load_{i} AS COPY FROM landing PATTERN = 't{i}/*.jsonl' INTO bronze.t{i};",
            f"CREATE JOB clean_{i} RUN_INTERVAL = 1 MINUTE AS INSERT INTO silver.t{i} SELECT id, upper(v) AS v "
            f"FROM bronze.t{i} WHERE $commit_time BETWEEN run_start_time() AND run_end_time();",
        ]
    (tmp_path / "pipeline.sql").write_text("\n".join(lines))
    (tmp_path / "data" / "landing").mkdir(parents=True)
    with console(tmp_path) as ui:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        started = time.monotonic()
        page.goto(ui.url)
        expect(page.locator("body")).to_have_attribute("data-graph-loaded", "401", timeout=60_000)
        took = time.monotonic() - started
        assert took < 20, f"the graph of 401 nodes took {took:.1f}s to show"  # 2.9 s measured
        expect(page.locator("#jobs tbody tr")).to_have_count(200)
        page.fill("#filter", "load_42")
        # The match and its neighbours (its connection and its table), laid out on their own.
        expect(page.locator("#graph-count")).to_have_text("1 match · 3 of 401 nodes")
        shown = page.evaluate(
            "() => window.headwaterGraph().cy.nodes().filter(n => !n.hasClass('hidden')).map(n => n.id()).sort()"
        )
        assert shown == ["connection:landing", "job:load_42", "table:bronze.t42"]
        expect(page.locator("#jobs tbody tr:visible")).to_have_count(1)
        page.select_option("#layer", "silver")
        page.fill("#filter", "")
        expect(page.locator("#graph-count")).to_have_text("200 match · 200 of 401 nodes")
        context.close()
