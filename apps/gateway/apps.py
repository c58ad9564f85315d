from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "Passerelle SMTP"
    # Outbound transport, S/MIME opener and DSN/MDN handling reach messaging through the setting
    # MESSAGING_TRANSPORT = "apps.gateway.transport.GatewayTransport" (apps/messaging/delivery/transports.py).
