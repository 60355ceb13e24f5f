"""DuckDB's messages, cleaned of what the user never wrote."""

from __future__ import annotations

from headwater.lake.engine import clean_error

INTERNAL = """Binder Error: Referenced column "ts" not found in FROM clause!
Candidate bindings: "__hw_shape"

LINE 1: ... "amount", __hw_line, __hw_reject, __hw_shape, TRY_CAST((ts) AS TIMESTAMPTZ) AS "__hw_event_time"...
                                                                    ^"""


def test_internal_columns_and_generated_sql_are_left_out() -> None:
    assert clean_error(INTERNAL) == 'Binder Error: Referenced column "ts" not found in FROM clause!'


def test_user_candidates_and_excerpts_stay() -> None:
    text = (
        'Binder Error: Referenced column "amout" not found in FROM clause!\n'
        'Candidate bindings: "amount", "__hw_line"\n\n'
        "LINE 1: SELECT amout FROM lake.bronze.t\n"
        "               ^"
    )
    assert clean_error(text) == (
        'Binder Error: Referenced column "amout" not found in FROM clause!\n'
        'Candidate bindings: "amount"\n\n'
        "LINE 1: SELECT amout FROM bronze.t\n"
        "               ^"
    )
