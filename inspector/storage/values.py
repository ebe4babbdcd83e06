"""process_values: each stored event's parameters typed once, in SQL, in the transaction that stores it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

# Text that stands for a missing value (inspector.trace.missing.MISSING_TEXT; storage may not
# import trace): such values get no row, as the in-memory analysis leaves them out.
MISSING_TEXT = ("", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind",
                "1.#qnan", "<na>", "n/a", "na", "null", "nan", "none")
COLUMNS = "serial, event_id, name, step, machine, ts, kind, num, txt"
CHUNK = 5_000  # event ids per statement


def values_select(dialect: str) -> str:
    """SELECT of process_values rows from process_events e (JSON parsed here, once): numbers
    in num, text in txt ('True'/'False' for booleans, the JSON of objects and arrays); null and
    missing-value markers get no row."""
    missing = ", ".join(f"'{m}'" for m in MISSING_TEXT)
    if dialect == "postgresql":
        kind = "jsonb_typeof(j.value)"
        raw = "j.value #>> '{}'"
        return (
            f"SELECT e.serial, e.id, j.key, e.step, e.machine, e.ts, CASE {kind} WHEN 'number' "
            f"THEN CASE WHEN {raw} ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END WHEN 'string' "
            f"THEN 'text' WHEN 'boolean' THEN 'boolean' ELSE 'json' END, CASE WHEN {kind} = "
            f"'number' THEN ({raw})::float8 END, CASE {kind} WHEN 'string' THEN {raw} WHEN "
            "'boolean' THEN CASE WHEN j.value = 'true'::jsonb THEN 'True' ELSE 'False' END "
            "WHEN 'object' THEN j.value::text WHEN 'array' THEN j.value::text END "
            "FROM process_events e, jsonb_each(e.parameters) j "
            f"WHERE {kind} <> 'null' AND NOT ({kind} = 'string' AND lower(trim({raw})) IN "
            f"({missing}))")
    return (
        "SELECT e.serial, e.id, j.key, e.step, e.machine, e.ts, CASE j.type WHEN 'integer' "
        "THEN 'integer' WHEN 'real' THEN 'real' WHEN 'text' THEN 'text' WHEN 'true' THEN "
        "'boolean' WHEN 'false' THEN 'boolean' ELSE 'json' END, CASE WHEN j.type IN "
        "('integer', 'real') THEN j.value END, CASE j.type WHEN 'text' THEN j.value WHEN 'true' "
        "THEN 'True' WHEN 'false' THEN 'False' WHEN 'object' THEN j.value WHEN 'array' THEN "
        "j.value END FROM process_events e, json_each(e.parameters) j "
        f"WHERE j.type <> 'null' AND NOT (j.type = 'text' AND lower(trim(j.value)) IN "
        f"({missing}))")


def fill_values(conn: Connection, event_ids: Iterable[int], replace: bool = False) -> None:
    """Type the parameters of these events into process_values; `replace`: drop their earlier
    rows first (a corrected event re-imported keeps only its new values)."""
    ids = sorted(set(event_ids))
    select = values_select(conn.dialect.name)
    for start in range(0, len(ids), CHUNK):
        chunk = {"ids": ids[start:start + CHUNK]}
        if replace:
            conn.execute(text("DELETE FROM process_values WHERE event_id IN :ids").bindparams(
                bindparam("ids", expanding=True)), chunk)
        conn.execute(text(f"INSERT INTO process_values ({COLUMNS}) {select} AND e.id IN :ids")
                     .bindparams(bindparam("ids", expanding=True)), chunk)


def fill_all(conn: Connection) -> None:
    """Every stored event's values (a database filled without them, e.g. by INSERT ... SELECT)."""
    conn.execute(text("DELETE FROM process_values"))
    conn.execute(text(f"INSERT INTO process_values ({COLUMNS}) "
                      f"{values_select(conn.dialect.name)}"))
