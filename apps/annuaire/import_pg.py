"""PostgreSQL path of the import: COPY each batch into TEMP staging tables, then set-based upserts.

Why this shape: per-row ORM saves would take hours on 1.5 million lines. Each batch is COPYed (the fastest way
in), deduplicated against `seen_*` tables that record the first line of each key in this run, and merged with
INSERT ... ON CONFLICT DO UPDATE ... WHERE (row differs), whose RETURNING (xmax = 0) tells created from
updated. Unchanged rows are not rewritten (no dead tuples, no index churn on a daily re-import). At the end,
what the run did not see is deactivated with one UPDATE ... WHERE NOT EXISTS per table. Everything runs in
the caller's transaction, so the 20 % guard can still roll the whole run back.
"""

# SQL here is composed only from the constant column tuples of formats.py, never from input: S608 is moot.
# ruff: noqa: S608, E501
from __future__ import annotations

from django.db import connection

from apps.annuaire.formats import (
    BAL_COLUMNS,
    ENTITY_KEYS,
    PLACE_COLUMNS,
    PRO_COLUMNS,
    STRUCT_ACTIVITY_COLUMNS,
    Format,
    struct_columns,
)
from apps.annuaire.import_result import Batch, ImportResult
from apps.annuaire.lexicon import refresh_lexicon

_BOOL_COLUMNS = frozenset({"is_officine", "dematerialisation"})


def _stage_ddl(name: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(f"{col} {'boolean' if col in _BOOL_COLUMNS else 'text'}" for col in columns)
    # Dropped first: inside an outer transaction (tests, a caller's atomic block) ON COMMIT has not fired yet.
    return (
        f"DROP TABLE IF EXISTS stage_{name}, seen_{name}; "
        f"CREATE TEMP TABLE stage_{name} (line_no integer, {cols}) ON COMMIT DROP; "
        f"CREATE TEMP TABLE seen_{name} (key text PRIMARY KEY, line_no integer NOT NULL) ON COMMIT DROP;"
    )


def _set_and_differs(columns: tuple[str, ...], target: str = "t") -> tuple[str, str]:
    assignments = ", ".join(f"{col} = EXCLUDED.{col}" for col in columns)
    old = ", ".join(f"{target}.{col}" for col in columns)
    new = ", ".join(f"EXCLUDED.{col}" for col in columns)
    return assignments, f"({old}) IS DISTINCT FROM ({new})"


def _unchanged(table: str, key_match: str, pairs: list[tuple[str, str]], skip_if: str = "") -> str:
    """Filter out staged rows identical to the stored row: ON CONFLICT DO UPDATE ... WHERE false still locks
    (and so writes) every conflicting row, which made a no-change re-import as slow as a first load."""
    old = ", ".join(f"o.{column}" for column, _ in pairs)
    new = ", ".join(value for _, value in pairs)
    same = f"({old}) IS NOT DISTINCT FROM ({new})"
    condition = f"({skip_if} OR {same})" if skip_if else same
    return f"NOT EXISTS (SELECT 1 FROM {table} o WHERE {key_match} AND {condition})"


def _counted(insert_sql: str) -> str:
    return (
        f"WITH up AS ({insert_sql} RETURNING (xmax = 0) AS created) "
        "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up"
    )


def _first_seen(name: str, alias: str = "s") -> str:
    """Join clause keeping, for each key, only the first line of the whole run."""
    return f"JOIN seen_{name} k ON k.key = {alias}.{ENTITY_KEYS[name]} AND k.line_no = {alias}.line_no"


def _pairs(columns: tuple[str, ...], *, active_only: bool = False) -> list[tuple[str, str]]:
    """(stored column, staged value) pairs, plus the flags an import sets on every row it writes."""
    pairs = [(column, f"s.{column}") for column in columns] + [("is_active", "true")]
    return pairs if active_only else [*pairs, ("source", "'imported'")]


def professional_upsert() -> str:
    values = PRO_COLUMNS[1:]
    assignments, differs = _set_and_differs((*values, "source", "is_active"))
    cols = ", ".join(PRO_COLUMNS)
    select = ", ".join(f"s.{col}" for col in PRO_COLUMNS)
    return _counted(
        f"INSERT INTO annuaire_professional AS t ({cols}, source, is_active, created_at, updated_at) "
        f"SELECT {select}, 'imported', true, now(), now() FROM stage_pro s {_first_seen('pro')} "
        f"WHERE {_unchanged('annuaire_professional', 'o.national_id = s.national_id', _pairs(values))} "
        f"ON CONFLICT (national_id) DO UPDATE SET {assignments}, updated_at = now() WHERE {differs}"
    )


def structure_upsert(fmt: Format) -> str:
    columns = struct_columns(fmt)
    assignments, differs = _set_and_differs((*columns[1:], "source", "is_active"))
    cols = ", ".join(columns)
    select = ", ".join(f"s.{col}" for col in columns)
    if fmt is Format.MSSANTE:  # columns the MSSanté file lacks get their empty value on insert
        cols += ", " + ", ".join(STRUCT_ACTIVITY_COLUMNS)
        select += ", " + ", ".join(
            "false" if col == "is_officine" else "''" for col in STRUCT_ACTIVITY_COLUMNS
        )
    # The activity file describes structures fully (sector, SIREN...); the MSSanté file only fills the gaps,
    # otherwise the two daily imports would keep overwriting each other's wording of the same structure.
    only_gaps = " AND t.sector_code = ''" if fmt is Format.MSSANTE else ""
    unchanged = _unchanged(
        "annuaire_structure", "o.idnat = s.idnat", _pairs(columns[1:]),
        skip_if="o.sector_code <> ''" if fmt is Format.MSSANTE else "",
    )  # fmt: skip
    return _counted(
        f"INSERT INTO annuaire_structure AS t ({cols}, source, is_active, created_at, updated_at) "
        f"SELECT {select}, 'imported', true, now(), now() FROM stage_struct s {_first_seen('struct')} "
        f"WHERE {unchanged} "
        f"ON CONFLICT (idnat) DO UPDATE SET {assignments}, updated_at = now() WHERE {differs}{only_gaps}"
    )


def place_upsert() -> str:
    values = PLACE_COLUMNS[3:]  # role_code onwards
    place_key = "o.professional_id = p.id AND o.structure_id = st.id AND o.role_code = s.role_code"
    assignments, differs = _set_and_differs((*values[1:], "is_active"))
    cols = ", ".join(values)
    select = ", ".join(f"s.{col}" for col in values)
    return _counted(
        f"INSERT INTO annuaire_exerciseplace AS t (professional_id, structure_id, {cols}, is_active, created_at, "
        f"updated_at) SELECT p.id, st.id, {select}, true, now(), now() FROM stage_place s {_first_seen('place')} "
        "JOIN annuaire_professional p ON p.national_id = s.national_id "
        "JOIN annuaire_structure st ON st.idnat = s.idnat "
        f"WHERE {_unchanged('annuaire_exerciseplace', place_key, _pairs(values[1:], active_only=True))} "
        "ON CONFLICT (professional_id, structure_id, role_code) DO UPDATE SET "
        f"{assignments}, updated_at = now() WHERE {differs}"
    )


def bal_upsert() -> str:
    values = tuple(col for col in BAL_COLUMNS if col not in ("address", "national_id", "idnat"))
    assignments, differs = _set_and_differs((*values, "professional_id", "structure_id", "is_active"))
    cols = ", ".join(values)
    select = ", ".join(f"s.{col}" for col in values)
    pairs = [*_pairs(values), ("professional_id", "p.id"), ("structure_id", "st.id")]
    unchanged = _unchanged(
        "annuaire_baladdress", "o.address = s.address", pairs, skip_if="o.source <> 'imported'"
    )
    # Rows with source 'local' are BALs hosted here: this platform is their authority, the extraction that
    # echoes them back never overwrites them.
    return _counted(
        f"INSERT INTO annuaire_baladdress AS t (address, {cols}, professional_id, structure_id, liste_rouge, "
        f"source, is_active, created_at, updated_at) SELECT s.address, {select}, p.id, st.id, false, 'imported', "
        f"true, now(), now() FROM stage_bal s {_first_seen('bal')} "
        "LEFT JOIN annuaire_professional p ON p.national_id = s.national_id AND s.national_id <> '' "
        "LEFT JOIN annuaire_structure st ON st.idnat = s.idnat AND s.idnat <> '' "
        f"WHERE {unchanged} "
        f"ON CONFLICT (address) DO UPDATE SET {assignments}, updated_at = now() "
        f"WHERE t.source = 'imported' AND {differs}"
    )


DEACTIVATIONS = {
    "bal": (
        "SELECT count(*) FROM annuaire_baladdress WHERE source = 'imported' AND is_active",
        "UPDATE annuaire_baladdress b SET is_active = false, updated_at = now() "
        "WHERE b.source = 'imported' AND b.is_active AND NOT EXISTS (SELECT 1 FROM seen_bal k WHERE k.key = b.address)",
    ),
    "place": (
        "SELECT count(*) FROM annuaire_exerciseplace WHERE is_active",
        "UPDATE annuaire_exerciseplace e SET is_active = false, updated_at = now() "
        "FROM annuaire_professional p, annuaire_structure st "
        "WHERE e.professional_id = p.id AND e.structure_id = st.id AND e.is_active AND NOT EXISTS "
        "(SELECT 1 FROM seen_place k WHERE k.key = p.national_id || '|' || st.idnat || '|' || e.role_code)",
    ),
    # A professional or structure still named by an active BAL stays active: the MSSanté file is the other
    # source of truth for them, and the BAL lifecycle (mailboxes app) decides about BALs hosted here.
    "pro": (
        "SELECT count(*) FROM annuaire_professional WHERE source = 'imported' AND is_active",
        "UPDATE annuaire_professional p SET is_active = false, updated_at = now() "
        "WHERE p.source = 'imported' AND p.is_active "
        "AND NOT EXISTS (SELECT 1 FROM seen_pro k WHERE k.key = p.national_id) "
        "AND NOT EXISTS (SELECT 1 FROM annuaire_baladdress b WHERE b.professional_id = p.id AND b.is_active)",
    ),
    "struct": (
        "SELECT count(*) FROM annuaire_structure WHERE source = 'imported' AND is_active",
        "UPDATE annuaire_structure st SET is_active = false, updated_at = now() "
        "WHERE st.source = 'imported' AND st.is_active "
        "AND NOT EXISTS (SELECT 1 FROM seen_struct k WHERE k.key = st.idnat) "
        "AND NOT EXISTS (SELECT 1 FROM annuaire_baladdress b WHERE b.structure_id = st.id AND b.is_active)",
    ),
}
# Which tables a format is the reference for (what its run may deactivate).
SCOPE = {Format.MSSANTE: ("bal",), Format.ACTIVITY: ("place", "pro", "struct")}
ENTITIES = {Format.MSSANTE: ("pro", "struct", "bal"), Format.ACTIVITY: ("pro", "struct", "place")}
_STAGE_COLUMNS = {"pro": PRO_COLUMNS, "place": PLACE_COLUMNS, "bal": BAL_COLUMNS}


_PUBLISHED = "WHERE is_active AND NOT liste_rouge"
# The search indexes of migrations 0002, 0003 and 0008 (keep them in sync), rebuilt at the end of a bulk load.
SEARCH_INDEXES = {
    "bal_search_name_trgm": f"CREATE INDEX bal_search_name_trgm ON annuaire_baladdress USING gin (search_name gin_trgm_ops) {_PUBLISHED}",
    "bal_search_text_trgm": f"CREATE INDEX bal_search_text_trgm ON annuaire_baladdress USING gin (search_text gin_trgm_ops) {_PUBLISHED}",
    "bal_search_name_prefix": f'CREATE INDEX bal_search_name_prefix ON annuaire_baladdress (search_name COLLATE "C") {_PUBLISHED}',
    "bal_address_prefix": f'CREATE INDEX bal_address_prefix ON annuaire_baladdress (address COLLATE "C") {_PUBLISHED}',
    "bal_search_text_words": f"CREATE INDEX bal_search_text_words ON annuaire_baladdress USING gin (string_to_array(search_text, ' ')) {_PUBLISHED}",
    "bal_search_name_words": f"CREATE INDEX bal_search_name_words ON annuaire_baladdress USING gin (string_to_array(search_name, ' ')) {_PUBLISHED}",
}
# The typo lexicon (models.SearchWord, apps/annuaire/lexicon.py) is refreshed at the end of an MSSanté run.
LEXICON_REINDEX_AFTER = 1000
BYTES_PER_LINE = 220  # a typical MSSanté extraction line
BULK_MIN_LINES = 50_000


class PostgresBackend:
    bulk = False

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.cursor = connection.cursor()
        self.sql = {
            "pro": professional_upsert(),
            "struct": structure_upsert(fmt),
            "place": place_upsert(),
            "bal": bal_upsert(),
        }

    def columns(self, name: str) -> tuple[str, ...]:
        if name == "struct":
            return struct_columns(self.fmt)
        return _STAGE_COLUMNS[name]

    def start(self, result: ImportResult, total_bytes: int = 0) -> None:
        # Tables may not fit work_mem-sized sorts at full size; this only affects this transaction.
        self.cursor.execute("SET LOCAL work_mem = '64MB'")
        for name in ("pro", "struct", "place", "bal"):
            self.cursor.execute(_stage_ddl(name, self.columns(name)))
        for name in SCOPE[self.fmt]:
            self.cursor.execute(DEACTIVATIONS[name][0])
            result.entity(name).active_before = self.cursor.fetchone()[0]
        if self.fmt is Format.MSSANTE:
            estimated_lines = total_bytes // BYTES_PER_LINE
            self.bulk = (
                estimated_lines > BULK_MIN_LINES and estimated_lines > 2 * result.entity("bal").active_before
            )
        if self.bulk:
            # A (nearly) empty directory being loaded: rebuilding the search indexes once at the end is ~10x
            # faster than maintaining them row by row. The DROP locks the table until COMMIT, which only
            # matters for a first load; daily re-imports (few changed rows) keep the indexes.
            self.cursor.execute(f"DROP INDEX IF EXISTS {', '.join(SEARCH_INDEXES)}")

    def flush(self, batch: Batch, result: ImportResult) -> None:
        for name in ENTITIES[self.fmt]:
            rows = batch.rows[name]
            if not rows:
                continue
            self.cursor.execute(f"TRUNCATE stage_{name}")
            columns = ", ".join(("line_no", *self.columns(name)))
            with self.cursor.copy(f"COPY stage_{name} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            key = ENTITY_KEYS[name]
            self.cursor.execute(
                f"INSERT INTO seen_{name} (key, line_no) SELECT DISTINCT ON ({key}) {key}, line_no "
                f"FROM stage_{name} ORDER BY {key}, line_no ON CONFLICT DO NOTHING"
            )
            if name == "bal":
                self._report_duplicates(result)
            self.cursor.execute(self.sql[name])
            created, updated = self.cursor.fetchone()
            result.entity(name).created += created
            result.entity(name).updated += updated

    def _report_duplicates(self, result: ImportResult) -> None:
        # The real file holds a few duplicate addresses: the first line wins, later ones are reported.
        self.cursor.execute(
            "SELECT s.line_no, k.line_no FROM stage_bal s JOIN seen_bal k ON k.key = s.address "
            "WHERE k.line_no <> s.line_no ORDER BY s.line_no"
        )
        for line_no, first_line in self.cursor.fetchall():
            result.reject(line_no, f"adresse BAL déjà présente ligne {first_line}")

    def deactivate(self, result: ImportResult) -> None:
        for name in SCOPE[self.fmt]:
            self.cursor.execute(DEACTIVATIONS[name][1])
            result.entity(name).deactivated += self.cursor.rowcount

    def finish(self) -> None:
        if self.bulk:
            # Django's FKs are DEFERRABLE INITIALLY DEFERRED; CREATE INDEX refuses pending trigger events.
            self.cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            self.cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for create in SEARCH_INDEXES.values():
                self.cursor.execute(create)
        if self.fmt is Format.MSSANTE and refresh_lexicon() > LEXICON_REINDEX_AFTER:
            # Words added in bulk sit in the GIN pending list with empty metapage statistics, and the
            # planner then prefers a sequential scan (36 ms instead of 0.6 ms for 20,000 words,
            # measured); autovacuum would fix it later, a rebuild of this small index fixes it now.
            self.cursor.execute("REINDEX INDEX searchword_trgm")
        for table in ("professional", "structure", "exerciseplace", "baladdress", "searchword"):
            self.cursor.execute(f"ANALYZE annuaire_{table}")
        for name in ("pro", "struct", "place", "bal"):
            self.cursor.execute(f"DROP TABLE IF EXISTS stage_{name}, seen_{name}")
        self.cursor.close()
