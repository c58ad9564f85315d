"""The IMAP commands, registered with `apps.imap.session.command` when these modules are imported."""

from apps.imap.handlers import any_state, idle, mailbox, messages  # noqa: F401
