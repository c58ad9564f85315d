from django.apps import AppConfig


class MailboxesConfig(AppConfig):
    name = "apps.mailboxes"
    label = "mailboxes"
    verbose_name = "Boîtes aux lettres (BAL)"
