"""A web shop's raw data: customers (CSV), orders (JSON lines, nested), payments (CSV).

Everything is generated column by column with numpy and written with pyarrow and polars (no
loop over rows), so 300,000 orders take a few seconds. The same seed and ``now`` give the same
bytes. The data has the flaws real exports have: status and email spellings vary, some paid
orders have no payment, some payments are short, split in two or taken twice.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_FIRST = (
    "Ada Alan Amira Anna Ben Bruno Carla Chen Chloe Dara Elena Emil Eva Farid Grace Hana Ines Ivan "
    "Jonas Julia Kenji Lars Lea Liam Lina Luca Maya Mila Noah Nora Omar Paula Priya Rosa Sam Sara "
    "Theo Tom Vera Yusuf Zoe"
)
_LAST = (
    "Adams Berg Costa Dubois Eriksen Fischer Garcia Hansen Ito Jansen Kowalski Lambert Meyer Novak "
    "Okafor Petrov Quinn Rossi Schmidt Silva Tanaka Usman Vogel Weber Xu Young Zimmermann Brown "
    "Martin Moreau Nielsen Ortiz Park Rey Sato"
)
FIRST_NAMES, LAST_NAMES = tuple(_FIRST.split()), tuple(_LAST.split())
DOMAINS = ("example.com", "mail.example.org", "post.example.net", "inbox.example.io")
# country, share of customers, currency
COUNTRIES = (
    ("DE", 0.24, "EUR"),
    ("FR", 0.16, "EUR"),
    ("NL", 0.10, "EUR"),
    ("ES", 0.09, "EUR"),
    ("IT", 0.08, "EUR"),
    ("GB", 0.15, "GBP"),
    ("US", 0.18, "USD"),
)
# Value of one unit of each currency in euros; the example project's silver layer uses the same.
EUR_PER_UNIT = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92}
STATUSES = ("completed", "shipped", "pending", "cancelled", "refunded")
STATUS_SHARES = (0.72, 0.14, 0.04, 0.06, 0.04)
METHODS = ("card", "paypal", "bank_transfer", "gift_card")
METHOD_SHARES = (0.55, 0.25, 0.15, 0.05)
PRODUCTS = 80
CATALOGUE_SEED = 1
ORDER_FILES = 4
DAYS = 30


def default_now() -> datetime:
    """Midnight UTC today: orders then cover the last ``DAYS`` whole days."""
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def pick(rng: np.random.Generator, values: tuple[str, ...], shares: tuple[float, ...], n: int) -> pa.Array:
    index = rng.choice(len(values), size=n, p=np.array(shares) / sum(shares))
    return pa.array(np.array(values, dtype=object)[index], pa.string())


def iso_utc(seconds: np.ndarray) -> pa.Array:
    """Unix seconds -> '2026-11-24T17:03:12Z'."""
    ts = pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s"))
    return pc.strftime(ts, format="%Y-%m-%dT%H:%M:%SZ")


def _vary_case(rng: np.random.Generator, text: pa.Array, share: float) -> pa.Array:
    """Upper-case a share of the values, and pad a few with spaces, as hand-typed data is."""
    upper = pa.array(rng.random(len(text)) < share)
    padded = pa.array(rng.random(len(text)) < share / 2)
    out = pc.if_else(upper, pc.utf8_upper(text), text)
    return pc.if_else(padded, pc.binary_join_element_wise(" ", out, " ", ""), out)


def customers_table(rng: np.random.Generator, n: int, now: datetime) -> pa.Table:
    ids = np.arange(1, n + 1, dtype=np.int64)
    first = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    last = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    domain = np.array(DOMAINS, dtype=object)[rng.integers(0, len(DOMAINS), n)]
    first_a, last_a = pa.array(first, pa.string()), pa.array(last, pa.string())
    name = pc.binary_join_element_wise(first_a, last_a, " ")
    local = pc.utf8_lower(pc.binary_join_element_wise(first_a, last_a, "."))
    email = pc.binary_join_element_wise(
        pc.binary_join_element_wise(local, pa.array(ids.astype(str), pa.string()), ""),
        pa.array(domain, pa.string()),
        "@",
    )
    countries = tuple(c for c, _, _ in COUNTRIES)
    country = pick(rng, countries, tuple(s for _, s, _ in COUNTRIES), n)
    # Everyone signed up in the two years before the orders start.
    first_order_day = (now - timedelta(days=DAYS)).date()
    signup_days = np.datetime64(first_order_day) - rng.integers(1, 730, n).astype("timedelta64[D]")
    return pa.table(
        {
            "id": ids,
            "name": name,
            "email": email,
            "country": country,
            "signup_date": pa.array(signup_days, pa.date32()),
        }
    )


def _items(rng: np.random.Generator, n_orders: int, eur_per_unit: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A list of {sku, qty, price} per order, and each order's total in cents."""
    counts = np.minimum(rng.poisson(1.4, n_orders) + 1, 6)
    total = int(counts.sum())
    owner = np.repeat(np.arange(n_orders), counts)
    # A few products sell far more than the rest.
    popularity = 1.0 / np.arange(1, PRODUCTS + 1) ** 0.8
    product = rng.choice(PRODUCTS, size=total, p=popularity / popularity.sum())
    # The catalogue is the same whatever the seed: prices between 4 and 180 euros.
    catalogue = np.random.default_rng(CATALOGUE_SEED)
    list_price_eur = np.round(np.exp(catalogue.uniform(np.log(4), np.log(180), PRODUCTS)), 2)
    price_cents = np.round(list_price_eur[product] / eur_per_unit[owner] * 100).astype(np.int64)
    qty = np.minimum(rng.geometric(0.7, total), 5).astype(np.int64)
    skus = pa.array(np.char.add("SKU-", np.char.zfill((product + 1001).astype(str), 4)), pa.string())
    structs = pa.StructArray.from_arrays(
        [skus, pa.array(qty), pa.array(price_cents / 100.0)], names=["sku", "qty", "price"]
    )
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    items = pa.ListArray.from_arrays(pa.array(offsets), structs)
    cents = np.add.reduceat(qty * price_cents, offsets[:-1])
    return items, cents


def orders_table(rng: np.random.Generator, customers: pa.Table, n: int, now: datetime) -> pa.Table:
    n_customers = customers.num_rows
    # Some customers buy often, most now and then, and about one in seven not this month.
    weight = rng.lognormal(0.0, 0.75, n_customers) * (rng.random(n_customers) < 0.86)
    who = rng.choice(n_customers, size=n, p=weight / weight.sum())
    # Times over the last DAYS days, busier at weekends and in the evening, in time order.
    start = now - timedelta(days=DAYS)
    day = rng.integers(0, DAYS, n)
    weekday = (start.weekday() + day) % 7  # 5 and 6: Saturday and Sunday
    redraw = (weekday < 5) & (rng.random(n) < 0.15)
    day[redraw] = rng.integers(0, DAYS, int(redraw.sum()))
    hour_shares = np.array([1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 6, 6, 6, 7, 9, 10, 10, 8, 5, 2.0])
    hour = rng.choice(24, size=n, p=hour_shares / hour_shares.sum())
    seconds = int(start.timestamp()) + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    seconds.sort()

    # Customers pay in their country's currency.
    country = pc.index_in(customers["country"], value_set=pa.array([c for c, _, _ in COUNTRIES]))
    country_of_order = country.to_numpy()[who]
    currency = np.array([cur for _, _, cur in COUNTRIES], dtype=object)[country_of_order]
    eur_per_unit = np.array([EUR_PER_UNIT[cur] for _, _, cur in COUNTRIES])[country_of_order]
    items, cents = _items(rng, n, eur_per_unit)

    email = customers["email"].take(pa.array(who)).combine_chunks()
    customer = pa.StructArray.from_arrays(
        [customers["id"].take(pa.array(who)).combine_chunks(), _vary_case(rng, email, 0.04)],
        names=["id", "email"],
    )
    return pa.table(
        {
            "order_id": np.arange(100_001, 100_001 + n, dtype=np.int64),
            "ordered_at": iso_utc(seconds),
            "status": _vary_case(rng, pick(rng, STATUSES, STATUS_SHARES, n), 0.05),
            "amount": pa.array(cents / 100.0),
            "currency": pa.array(currency, pa.string()),
            "customer": customer,
            "items": items,
        }
    )


def payments_table(rng: np.random.Generator, orders: pa.Table) -> pa.Table:
    """One payment per billed order, with the usual accidents."""
    status = pc.utf8_lower(pc.utf8_trim_whitespace(orders["status"])).to_numpy(zero_copy_only=False)
    billed = np.flatnonzero(np.isin(status, ["completed", "shipped", "refunded"]))
    fate = rng.random(len(billed))
    missing = fate < 0.02  # never paid
    short = (fate >= 0.02) & (fate < 0.035)  # paid less than the amount
    split = (fate >= 0.035) & (fate < 0.06)  # paid in two parts that add up
    twice = (fate >= 0.06) & (fate < 0.067)  # the same payment taken twice
    paid = billed[~missing]
    short, split, twice = short[~missing], split[~missing], twice[~missing]
    cents = np.round(orders["amount"].to_numpy()[paid] * 100).astype(np.int64)
    shortfall = np.maximum(1, np.round(cents[short] * rng.uniform(0.05, 0.5, int(short.sum()))))
    cents[short] -= shortfall.astype(np.int64)
    first_part = np.where(split, cents // 3, cents)
    order_rows = np.concatenate([paid, paid[split], paid[twice]])
    amount_cents = np.concatenate([first_part, cents[split] - first_part[split], cents[twice]])
    order_seconds = (
        pc.strptime(orders["ordered_at"], format="%Y-%m-%dT%H:%M:%SZ", unit="s")
        .to_numpy()
        .astype("datetime64[s]")
        .astype(np.int64)
    )
    delay = rng.integers(5, 900, len(order_rows))
    delay[len(paid) :] += rng.integers(3_600, 86_400, len(order_rows) - len(paid))  # later parts
    seconds = order_seconds[order_rows] + delay
    by_time = np.argsort(seconds, kind="stable")
    return pa.table(
        {
            "payment_id": np.arange(1, len(order_rows) + 1, dtype=np.int64),
            "order_id": orders["order_id"].to_numpy()[order_rows][by_time],
            "paid_at": iso_utc(seconds[by_time]),
            "method": pick(rng, METHODS, METHOD_SHARES, len(order_rows)),
            "amount": pa.array(amount_cents[by_time] / 100.0),
        }
    )


def _write_jsonl(table: pa.Table, path: Path) -> None:
    import polars as pl

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame.write_ndjson(path)


def generate(
    landing: Path,
    seed: int = 7,
    customers: int = 500,
    orders: int = 4000,
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """Write the shop's raw files under ``landing``; returns the rows written per dataset.

    ``customers/customers.csv``, ``orders/orders-<n>.jsonl`` (in time order, split in
    ``ORDER_FILES`` files) and ``payments/payments.csv``. Orders cover the ``DAYS`` days before
    ``now`` (default: midnight UTC today).
    """
    rng = np.random.default_rng(seed)
    now = now or default_now()
    people = customers_table(rng, customers, now)
    shop = orders_table(rng, people, orders, now)
    payments = payments_table(rng, shop)
    for folder in ("customers", "orders", "payments"):
        (landing / folder).mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(people, landing / "customers" / "customers.csv")
    bounds = np.linspace(0, orders, ORDER_FILES + 1).astype(int)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        _write_jsonl(shop.slice(lo, hi - lo), landing / "orders" / f"orders-{i}.jsonl")
    pacsv.write_csv(payments, landing / "payments" / "payments.csv")
    return {"customers": people.num_rows, "orders": shop.num_rows, "payments": payments.num_rows}
