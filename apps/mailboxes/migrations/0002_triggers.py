"""PostgreSQL triggers for the two rules a CheckConstraint cannot hold (SQLite dev databases skip them).

- A BAL's address (its parts) and kind never change: mail, directory entries and journals point at it.
- Memberships exist only in organisational BALs, credentials only in applicative ones.
"""

from django.db import migrations

IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION mailboxes_address_immutable() RETURNS trigger AS $$
BEGIN
    IF NEW.address IS DISTINCT FROM OLD.address OR NEW.local_part IS DISTINCT FROM OLD.local_part
       OR NEW.domain IS DISTINCT FROM OLD.domain THEN
        RAISE EXCEPTION 'mailbox address is immutable (% -> %)', OLD.address, NEW.address
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.kind IS DISTINCT FROM OLD.kind THEN
        RAISE EXCEPTION 'mailbox kind is immutable (%)', OLD.address
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER mailboxes_mailbox_address_immutable BEFORE UPDATE ON mailboxes_mailbox
    FOR EACH ROW EXECUTE FUNCTION mailboxes_address_immutable();

CREATE OR REPLACE FUNCTION mailboxes_require_kind() RETURNS trigger AS $$
DECLARE found_kind text;
BEGIN
    SELECT kind INTO found_kind FROM mailboxes_mailbox WHERE id = NEW.mailbox_id;
    IF found_kind IS DISTINCT FROM TG_ARGV[0] THEN
        RAISE EXCEPTION '% rows belong to % mailboxes only (mailbox % is %)',
            TG_TABLE_NAME, TG_ARGV[0], NEW.mailbox_id, found_kind
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER mailboxes_membership_kind BEFORE INSERT OR UPDATE ON mailboxes_mailboxmembership
    FOR EACH ROW EXECUTE FUNCTION mailboxes_require_kind('organisational');
CREATE TRIGGER mailboxes_credential_kind BEFORE INSERT OR UPDATE ON mailboxes_applicationcredential
    FOR EACH ROW EXECUTE FUNCTION mailboxes_require_kind('applicative');
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS mailboxes_credential_kind ON mailboxes_applicationcredential;
DROP TRIGGER IF EXISTS mailboxes_membership_kind ON mailboxes_mailboxmembership;
DROP FUNCTION IF EXISTS mailboxes_require_kind();
DROP TRIGGER IF EXISTS mailboxes_mailbox_address_immutable ON mailboxes_mailbox;
DROP FUNCTION IF EXISTS mailboxes_address_immutable();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)  # no params: the % of RAISE are not placeholders

    return apply


class Migration(migrations.Migration):
    dependencies = [("mailboxes", "0001_initial")]

    operations = [migrations.RunPython(_run(IMMUTABLE_SQL), _run(DROP_SQL))]
