"""Regenerates the console's screenshots in docs/console/ (Chromium from Debian, Playwright).

    .venv/bin/python scripts/screenshots.py

Builds the demo (the shop example) and the signups example in a temporary folder, runs them
(the signups in six batches, so that the job page has history to chart), starts `headwater ui`
on each and photographs the main pages.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

import headwater as hw  # noqa: E402
from headwater.demo import run_demo  # noqa: E402
from tests.services.console import console, signups_project  # noqa: E402

OUT = ROOT / "docs" / "console"
CHROMIUM = "/usr/bin/chromium"
PLANS = ["free", "pro", "team", "pro", "enterprise", "free", "team", "pro"]


def signups_batches(folder: Path, batches: int) -> None:
    """More sign-ups, one file per run: some for test accounts, without a country, on a plan
    that is not sold."""
    landing = folder / "data" / "landing"
    for b in range(batches):
        rows = []
        for i in range(40 + 15 * b):
            n = 10_000 * (b + 1) + i
            rows.append(
                {
                    "signup_id": n,
                    "signed_up_at": f"2026-11-{10 + b:02d}T{i % 24:02d}:00:00Z",
                    "email": f"p{n}@{'test' if i % 17 == 0 else 'mail'}.example",
                    "plan": PLANS[(i * 7 + b) % len(PLANS)] if i % 11 else "enterprise",
                    "monthly_fee": "12.00",
                    **({"country": "DE"} if i % (5 + b) else {}),
                }
            )
        (landing / f"signups-batch{b}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        assert hw.Project(folder).run(once=True).ok


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(600)
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"wrote docs/console/{name}.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="headwater-shots-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page = context.new_page()

        shop = Path(tmp) / "shop"
        run_demo(shop)
        with console(shop) as ui:
            page.goto(ui.url)
            page.wait_for_selector("body[data-graph-loaded]")
            shoot(page, "pipeline")
            page.goto(f"{ui.base}/tables/bronze.orders")
            shoot(page, "table")
            page.goto(f"{ui.base}/worksheet")
            page.fill(
                "#sql",
                "SELECT day, orders, revenue_eur, avg_order_eur, cancelled\nFROM gold.daily_revenue ORDER BY day",
            )
            page.click("#run")
            page.wait_for_selector("#result-count")
            shoot(page, "worksheet")

        signups = signups_project(Path(tmp) / "signups")
        assert hw.Project(signups).run(once=True).ok
        signups_batches(signups, 5)
        with console(signups) as ui:
            page.goto(ui.url)
            page.goto(f"{ui.base}/jobs/load_signups")
            page.wait_for_selector(".chart canvas")
            shoot(page, "job")
            page.goto(f"{ui.base}/quarantine?job=load_signups")
            shoot(page, "quarantine")
            first = page.locator("table.records tbody tr a").first.inner_text()
            page.goto(f"{ui.base}/quarantine/{first}")
            page.once("dialog", lambda d: d.accept())
            page.click("#open-sealed")
            page.wait_for_selector("#raw-text")
            shoot(page, "record")
        browser.close()


if __name__ == "__main__":
    main()
