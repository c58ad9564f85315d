from django.apps import AppConfig


class ImapConfig(AppConfig):
    name = "apps.imap"
    label = "imap"
    verbose_name = "Serveur IMAP"
