"""Writing: drafts (encrypted, saved as one types), their attachments, the composer's form and views."""
