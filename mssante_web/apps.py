from django.apps import AppConfig


class MssanteWebConfig(AppConfig):
    name = "mssante_web"
    verbose_name = "Plateforme MSSanté"
