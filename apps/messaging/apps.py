from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "apps.messaging"
    label = "messaging"
    verbose_name = "Messagerie"

    def ready(self) -> None:
        from django.conf import settings

        from apps.crypto.keys import master_key_ring
        from apps.messaging import receivers

        receivers.connect()

        # A production process without a usable master key must fail at start, not at the first delivery.
        if not getattr(settings, "TESTING", False):
            master_key_ring()
