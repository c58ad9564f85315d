from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "apps.gateway"
    label = "gateway"
    verbose_name = "Passerelle SMTP"

    def ready(self) -> None:
        # Outbound transport, S/MIME opener, DSN/MDN handling plugged into messaging (apps/gateway/wiring.py).
        from apps.gateway import checks, wiring

        del checks  # imported for its @register: `manage.py check --deploy` (MSS_NIL, S/MIME signer)

        wiring.register()
