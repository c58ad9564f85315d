from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "apps.patients"
    label = "patients"
    verbose_name = "Patients (MSS-C)"

    def ready(self) -> None:
        # Messaging never imports patients (design.md §1): the MSS-C rules plug into its registry here, so
        # every entry point (webmail, API, SMTP, deposit) meets them through messaging's check_recipient.
        from apps.messaging.recipient_policies import register, register_dsn_mapper
        from apps.patients.policies import check_patient_rules, refusal_from_remote_dsn

        register("patients", check_patient_rules)
        # Bounces of a remote patient domain (the national MES) become the same French automatic returns.
        register_dsn_mapper("patients", refusal_from_remote_dsn)
