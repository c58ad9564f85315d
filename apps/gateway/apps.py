from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "Passerelle SMTP"
    # Outbound transport, S/MIME opener and DSN/MDN handling reach messaging through the setting
    # MESSAGING_TRANSPORT = "apps.gateway.transport.GatewayTransport" (apps/messaging/delivery/transports.py).

    def ready(self) -> None:
        from apps.gateway import checks

        del checks  # imported for its @register: `manage.py check --deploy` (MSS_NIL, S/MIME signer)
