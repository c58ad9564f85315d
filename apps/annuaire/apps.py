from django.apps import AppConfig


class AnnuaireConfig(AppConfig):
    name = "apps.annuaire"
    label = "annuaire"
    verbose_name = "Annuaire Santé"
