"""Issue 16: IMAP servers hear at once (channel `imap_folder`, kind `a:`) when access to BALs over IMAP
changes — a BAL or a structure turned off, a BAL suspended, a member removed — and end the sessions that
lost it (apps/imap/server.py). PostgreSQL only; elsewhere the servers' periodic check does it."""

from django.db import migrations

NOTIFY_SQL = """
CREATE OR REPLACE FUNCTION mailboxes_imap_access_notify() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('imap_folder', 'a:');
  RETURN NULL;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS mailboxes_imap_access_mailbox ON mailboxes_mailbox;
CREATE TRIGGER mailboxes_imap_access_mailbox AFTER UPDATE OF imap_allowed, status ON mailboxes_mailbox
  FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_imap_access_notify();
DROP TRIGGER IF EXISTS mailboxes_imap_access_structure ON annuaire_structure;
CREATE TRIGGER mailboxes_imap_access_structure AFTER UPDATE OF imap_allowed ON annuaire_structure
  FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_imap_access_notify();
DROP TRIGGER IF EXISTS mailboxes_imap_access_membership ON mailboxes_mailboxmembership;
CREATE TRIGGER mailboxes_imap_access_membership AFTER DELETE ON mailboxes_mailboxmembership
  FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_imap_access_notify();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS mailboxes_imap_access_membership ON mailboxes_mailboxmembership;
DROP TRIGGER IF EXISTS mailboxes_imap_access_structure ON annuaire_structure;
DROP TRIGGER IF EXISTS mailboxes_imap_access_mailbox ON mailboxes_mailbox;
DROP FUNCTION IF EXISTS mailboxes_imap_access_notify();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(NOTIFY_SQL)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("mailboxes", "0009_imap_allowed"), ("annuaire", "0005_structure_imap_allowed")]

    operations = [migrations.RunPython(install, drop)]
