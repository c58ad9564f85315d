"""IMAP SELECT without re-reading the person's BALs and folders (issue 16, ADR 0023): one counter, bumped in
the same transaction as any change to what `apps.imap.folders` reads to list a person's folders and decide
the policy (BALs: address, kind, status, owner, responsible, structure, IMAP allowed; structures' IMAP
switch; memberships; validation delegates; folders' name, role, position; a user's `is_active`). An IMAP
process keeps each person's folder list with the counter's value it was read at, and SELECT reads the
counter in the same statement as the folder's UIDNEXT: a different value, and the list is read again
before the policy decides. Row triggers with a `WHEN` on UPDATE, so that a deposit (quota usage, UIDNEXT)
never touches the counter. PostgreSQL only; elsewhere IMAP is not started."""

from django.db import migrations

INSTALL_SQL = """
CREATE TABLE IF NOT EXISTS imap_access_version (
  id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL
);
INSERT INTO imap_access_version VALUES (1, 1) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION imap_access_bump() RETURNS trigger AS $$
BEGIN
  UPDATE imap_access_version SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER imap_access_mailbox_update AFTER UPDATE ON mailboxes_mailbox FOR EACH ROW
  WHEN ((OLD.address, OLD.kind, OLD.status, OLD.owner_id, OLD.responsible_id, OLD.structure_id,
         OLD.imap_allowed) IS DISTINCT FROM
        (NEW.address, NEW.kind, NEW.status, NEW.owner_id, NEW.responsible_id, NEW.structure_id,
         NEW.imap_allowed))
  EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_mailbox_rows AFTER INSERT OR DELETE OR TRUNCATE ON mailboxes_mailbox
  FOR EACH STATEMENT EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_structure_update AFTER UPDATE ON annuaire_structure FOR EACH ROW
  WHEN (OLD.imap_allowed IS DISTINCT FROM NEW.imap_allowed) EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_membership AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON mailboxes_mailboxmembership FOR EACH STATEMENT EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_delegate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON mailboxes_validationdelegate FOR EACH STATEMENT EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_folder_update AFTER UPDATE ON messaging_folder FOR EACH ROW
  WHEN ((OLD.name, OLD.role, OLD.position, OLD.mailbox_id) IS DISTINCT FROM
        (NEW.name, NEW.role, NEW.position, NEW.mailbox_id)) EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_folder_rows AFTER INSERT OR DELETE OR TRUNCATE ON messaging_folder
  FOR EACH STATEMENT EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_user_update AFTER UPDATE ON accounts_user FOR EACH ROW
  WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active) EXECUTE FUNCTION imap_access_bump();
CREATE TRIGGER imap_access_user_rows AFTER DELETE OR TRUNCATE ON accounts_user FOR EACH STATEMENT
  EXECUTE FUNCTION imap_access_bump();
"""
TRIGGERS = {
    "mailboxes_mailbox": ("imap_access_mailbox_update", "imap_access_mailbox_rows"),
    "annuaire_structure": ("imap_access_structure_update",),
    "mailboxes_mailboxmembership": ("imap_access_membership",),
    "mailboxes_validationdelegate": ("imap_access_delegate",),
    "messaging_folder": ("imap_access_folder_update", "imap_access_folder_rows"),
    "accounts_user": ("imap_access_user_update", "imap_access_user_rows"),
}
DROP_TRIGGERS_SQL = "".join(
    f"DROP TRIGGER IF EXISTS {name} ON {table};\n" for table, names in TRIGGERS.items() for name in names
)
DROP_SQL = (
    DROP_TRIGGERS_SQL
    + "DROP FUNCTION IF EXISTS imap_access_bump();\nDROP TABLE IF EXISTS imap_access_version;\n"
)


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGERS_SQL)
        schema_editor.execute(INSTALL_SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0011_copy_modseq"),
        ("mailboxes", "0010_imap_access_notify"),
        ("accounts", "__first__"),
    ]

    operations = [migrations.RunPython(install, drop)]
