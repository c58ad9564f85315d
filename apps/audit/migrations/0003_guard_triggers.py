"""PostgreSQL triggers that make the journal append-only (no-op on SQLite, the dev database).

- audit_auditevent, UPDATE: only the sealer's own update passes: an unsealed row getting seal_seq/seal/sealed_at
  while every other column stays the same (compared as jsonb, so a column added later is covered too).
- audit_auditevent, DELETE: only sealed rows, and only inside a transaction that ran
  `SET LOCAL mssante.audit_purge = 'on'` (done solely by `manage.py audit_purge`, which leaves an AuditAnchor).
- TRUNCATE of either table, and UPDATE/DELETE of anchors: refused. The test suite's flush (TRUNCATE between
  transactional tests) is let through by `mssante.audit_allow_truncate`, set per connection only when
  settings.TESTING (see apps/audit/apps.py).

Someone able to disable triggers (table owner, superuser) can still alter rows: `manage.py audit_verify`
recomputes the HMAC chain and names the first broken link.
"""

from django.db import migrations

FORWARD_SQL = r"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seal_seq IS NULL AND OLD.seal IS NULL AND OLD.sealed_at IS NULL
           AND NEW.seal_seq IS NOT NULL AND NEW.seal IS NOT NULL AND NEW.sealed_at IS NOT NULL
           AND (to_jsonb(NEW) - 'seal_seq' - 'seal' - 'sealed_at')
               = (to_jsonb(OLD) - 'seal_seq' - 'seal' - 'sealed_at') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit journal is append-only: event % cannot be modified (only sealed once by the sealer)', OLD.id
            USING HINT = 'Journal rows are never changed; see docs/operations.md, section "Journal de traçabilité".';
    END IF;
    IF current_setting('mssante.audit_purge', true) = 'on' AND OLD.seal_seq IS NOT NULL THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit journal is append-only: event % can only be deleted by "manage.py audit_purge"', OLD.id
        USING HINT = 'Only sealed events older than the retention period may be purged, leaving an anchor.';
END
$$;

CREATE OR REPLACE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit purge anchors are permanent: % of anchor % refused', TG_OP, OLD.id;
END
$$;

CREATE OR REPLACE FUNCTION audit_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mssante.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit journal is append-only: TRUNCATE of % refused (use "manage.py audit_purge")', TG_TABLE_NAME;
END
$$;

CREATE TRIGGER audit_event_guard BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate_guard();
CREATE TRIGGER audit_anchor_guard BEFORE UPDATE OR DELETE ON audit_auditanchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_guard();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_auditanchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_truncate_guard();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS audit_event_guard ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_anchor_guard ON audit_auditanchor;
DROP TRIGGER IF EXISTS audit_anchor_no_truncate ON audit_auditanchor;
DROP FUNCTION IF EXISTS audit_event_guard();
DROP FUNCTION IF EXISTS audit_anchor_guard();
DROP FUNCTION IF EXISTS audit_truncate_guard();
"""


def _run_on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_unsealed_index"),
    ]

    operations = [
        migrations.RunPython(_run_on_postgresql(FORWARD_SQL), _run_on_postgresql(REVERSE_SQL)),
    ]
