"""The demo: a month of a web shop's data, run through the example project ``examples/shop``.

``run_demo`` is what ``headwater demo [DIR]`` calls: it puts the example project in DIR (or
uses it in place), generates the raw files once, runs the pipeline once and returns the
answers. Running it again reads nothing new and gives the same answers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from headwater.api import Project, Result
from headwater.demo.data import generate
from headwater.errors import JobFailed, UserError
from headwater.observe.events import Console

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"
LANDING = Path("data") / "landing"

# (title, query) for each answer the demo shows, in order.
ANSWERS: tuple[tuple[str, str], ...] = (
    (
        "Revenue per day (EUR, completed and shipped orders)",
        "SELECT day, orders, revenue_eur, avg_order_eur, cancelled FROM gold.daily_revenue ORDER BY day",
    ),
    (
        "Top 10 customers by revenue",
        "SELECT customer_id, name, country, lifetime_orders, revenue_eur, last_order_at "
        "FROM gold.top_customers ORDER BY revenue_eur DESC, customer_id",
    ),
    (
        "Top 10 products by revenue",
        "SELECT sku, units, orders, revenue_eur FROM gold.top_products ORDER BY revenue_eur DESC, sku",
    ),
    (
        "Minutes to pay, by payment method (SYNC join)",
        "SELECT method, count(*) AS payments, count(*) FILTER (WHERE ordered_at IS NULL) AS without_order, "
        "CAST(median(seconds_to_pay) / 60 AS DECIMAL(8, 1)) AS median_minutes, "
        "CAST(quantile_cont(seconds_to_pay, 0.9) / 60 AS DECIMAL(8, 1)) AS p90_minutes "
        "FROM silver.order_payments GROUP BY method ORDER BY payments DESC, method",
    ),
    (
        "Billed orders whose payments do not add up",
        "SELECT issue, count(*) AS orders, sum(difference_eur) AS paid_minus_billed_eur "
        "FROM gold.payment_issues GROUP BY issue ORDER BY orders DESC, issue",
    ),
)


def example_project() -> Path:
    """The folder of the example project shipped with Headwater's sources."""
    if not (EXAMPLE / "gold.sql").is_file():
        raise UserError(
            f"the example project is not at {EXAMPLE}",
            hint="run the demo from a checkout of Headwater's repository",
        )
    return EXAMPLE


def install_example(target: Path) -> Path:
    """Copy the example project's files into ``target`` (not its lake nor its data)."""
    source = example_project()
    target = target.resolve()
    if target != source:
        shutil.copytree(
            source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".headwater", "data")
        )
    return target


def landing_is_empty(landing: Path) -> bool:
    return not landing.is_dir() or not any(p.is_file() for p in landing.rglob("*"))


def run_demo(target: Path, console: Console | None = None) -> list[tuple[str, Result]]:
    """Set up the shop example in ``target``, run it once, and return the answers."""
    project_dir = install_example(Path(target))
    landing = project_dir / LANDING
    if landing_is_empty(landing):
        generate(landing)
    project = Project(project_dir, console=console)
    result = project.run(once=True)
    if not result.ok:
        failures = "; ".join(f"{job}: {error}" for job, error in sorted(result.failed_jobs.items()))
        raise JobFailed(
            f"the demo pipeline failed: {failures}",
            hint=f"see `headwater status -p {project_dir}`",
        )
    return [(title, project.query(sql)) for title, sql in ANSWERS]


__all__ = ["ANSWERS", "generate", "run_demo"]
