"""The Annuaire Santé as this platform knows it: professionals, structures, their exercise places and the
BAL addresses published for them (imported from the public extractions, or hosted here and published locally).

Nothing here is ever deleted by an import: a vanished entry is marked inactive, so that a local BAL, a message
or an audit row that refers to it keeps a valid target.

`BalAddress` doubles as the search row: it carries a denormalised, accent-free lowercase copy of what a user
types (names, profession, specialty, structure, town) so that one table with trigram indexes answers the
directory search and the composer's autocomplete (see docs/decisions/0003-directory-search.md).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone


class IdType(models.TextChoices):
    RPPS = "8", "RPPS"
    ADELI = "0", "ADELI"


class Category(models.TextChoices):
    """The three categories of CSP art. R1110-2 allowed to exchange health data (mapping in categories.py)."""

    HEALTH = "health", "Professionnel de santé"
    TITLED = "titled", "Professionnel à usage de titre"
    SOCIAL = "social", "Professionnel du social et du médico-social"
    OTHER = "other", "Autre (hors R1110-2)"


class Source(models.TextChoices):
    IMPORTED = "imported", "Importé de l'Annuaire Santé"
    LOCAL = "local", "Hébergé sur cette plateforme"


class BalKind(models.TextChoices):
    PER = "PER", "Personnelle"
    ORG = "ORG", "Organisationnelle"
    APP = "APP", "Applicative"
    CAB = "CAB", "Cabinet"


class Professional(models.Model):
    national_id = models.CharField("identifiant national", max_length=12, unique=True)
    id_type = models.CharField("type d'identifiant", max_length=1, choices=IdType.choices)
    civility = models.CharField("civilité d'exercice", max_length=10, blank=True, default="")
    last_name = models.CharField("nom d'exercice", max_length=100, blank=True, default="")
    first_name = models.CharField("prénom d'exercice", max_length=100, blank=True, default="")
    profession_code = models.CharField("code profession", max_length=10, blank=True, default="")
    profession_label = models.CharField("profession", max_length=120, blank=True, default="")
    category = models.CharField(
        "catégorie R1110-2", max_length=10, choices=Category.choices, default=Category.OTHER
    )
    savoir_faire_code = models.CharField("code savoir-faire", max_length=10, blank=True, default="")
    savoir_faire_label = models.CharField("savoir-faire", max_length=150, blank=True, default="")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    is_active = models.BooleanField("actif", default=True)
    # db_default too: the importer writes rows with raw SQL (COPY + INSERT ... ON CONFLICT).
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        verbose_name = "professionnel"
        constraints = [
            models.CheckConstraint(
                name="annuaire_professional_national_id_format",
                condition=Q(national_id__regex=r"^(8[0-9]{11}|0[0-9A-F]{9})$"),
            ),
            models.CheckConstraint(
                name="annuaire_professional_id_type_valid", condition=Q(id_type="8") | Q(id_type="0")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.national_id})".strip()

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.civility_label, self.first_name, self.last_name) if part)

    @property
    def civility_label(self) -> str:
        return {"DR": "Dr", "PR": "Pr", "M": "M.", "MME": "Mme"}.get(self.civility, "")


class Structure(models.Model):
    # National structure id: `1`+FINESS when the site has one, else `3`+SIRET, else the technical id: the same
    # rule the MSSanté extraction uses, so both files land on the same row.
    idnat = models.CharField("identifiant national de structure", max_length=20, unique=True)
    finess = models.CharField("FINESS site", max_length=9, blank=True, default="", db_index=True)
    finess_ej = models.CharField("FINESS juridique", max_length=9, blank=True, default="")
    siret = models.CharField("SIRET", max_length=14, blank=True, default="", db_index=True)
    siren = models.CharField("SIREN", max_length=9, blank=True, default="")
    technical_id = models.CharField("identifiant technique", max_length=20, blank=True, default="")
    name = models.CharField("raison sociale", max_length=200, blank=True, default="")
    enseigne = models.CharField("enseigne commerciale", max_length=200, blank=True, default="")
    address_complement = models.CharField("complément", max_length=200, blank=True, default="")
    address_street = models.CharField("voie", max_length=200, blank=True, default="")
    address_mention = models.CharField("mention de distribution", max_length=200, blank=True, default="")
    postcode = models.CharField("code postal", max_length=10, blank=True, default="")
    town = models.CharField("commune", max_length=100, blank=True, default="")
    department_code = models.CharField("département", max_length=3, blank=True, default="")
    department_label = models.CharField("libellé du département", max_length=100, blank=True, default="")
    country = models.CharField("pays", max_length=60, blank=True, default="")
    sector_code = models.CharField("code secteur d'activité", max_length=10, blank=True, default="")
    sector_label = models.CharField("secteur d'activité", max_length=150, blank=True, default="")
    # Derived from sector SA33 at import; a column because the patient pharmacy exception filters on it.
    is_officine = models.BooleanField("pharmacie d'officine", default=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    is_active = models.BooleanField("active", default=True)
    # Not directory data: this operator's setting (issue 16). Some hospitals forbid syncing mail to laptops:
    # off, none of the structure's BALs exists over IMAP (apps.mailboxes.policies.can_use_imap).
    imap_allowed = models.BooleanField("accès IMAP des BAL de la structure", default=True, db_default=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        verbose_name = "structure"

    def __str__(self) -> str:
        return self.enseigne or self.name or self.idnat


class ExercisePlace(models.Model):
    """One activity line of PS_LibreAcces: a professional exercising in a structure in a given role."""

    professional = models.ForeignKey(Professional, on_delete=models.PROTECT, related_name="exercise_places")
    structure = models.ForeignKey(Structure, on_delete=models.PROTECT, related_name="exercise_places")
    role_code = models.CharField("code rôle", max_length=10, blank=True, default="")
    role_label = models.CharField("rôle", max_length=120, blank=True, default="")
    mode_code = models.CharField("code mode d'exercice", max_length=5, blank=True, default="")
    mode_label = models.CharField("mode d'exercice", max_length=60, blank=True, default="")
    genre_code = models.CharField("code genre d'activité", max_length=10, blank=True, default="")
    genre_label = models.CharField("genre d'activité", max_length=120, blank=True, default="")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        verbose_name = "lieu d'exercice"
        verbose_name_plural = "lieux d'exercice"
        constraints = [
            models.UniqueConstraint(
                fields=["professional", "structure", "role_code"], name="exercise_place_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.professional_id} @ {self.structure_id} ({self.role_code})"


class BalAddress(models.Model):
    """A BAL address published in the directory, and the search row for it."""

    address = models.CharField("adresse BAL", max_length=254, unique=True)
    kind = models.CharField("type de BAL", max_length=3, choices=BalKind.choices)
    liste_rouge = models.BooleanField("liste rouge", default=False)
    professional = models.ForeignKey(
        Professional, null=True, blank=True, on_delete=models.PROTECT, related_name="bal_addresses"
    )
    structure = models.ForeignKey(
        Structure, null=True, blank=True, on_delete=models.PROTECT, related_name="bal_addresses"
    )
    service = models.CharField("service de rattachement", max_length=200, blank=True, default="")
    dematerialisation = models.BooleanField("accepte la dématérialisation", default=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    is_active = models.BooleanField("active", default=True)
    # Denormalised display and search columns (see module docstring); `search_*` are accent-free lowercase.
    display_name = models.CharField("nom affiché", max_length=250, blank=True, default="")
    profession_code = models.CharField(max_length=10, blank=True, default="")
    profession_label = models.CharField("profession", max_length=120, blank=True, default="")
    specialty_code = models.CharField(max_length=10, blank=True, default="")
    specialty_label = models.CharField("spécialité", max_length=150, blank=True, default="")
    structure_name = models.CharField("structure", max_length=200, blank=True, default="")
    postcode = models.CharField("code postal", max_length=10, blank=True, default="")
    town = models.CharField("commune", max_length=100, blank=True, default="")
    department_code = models.CharField("département", max_length=3, blank=True, default="")
    search_name = models.CharField(max_length=250, blank=True, default="")
    search_text = models.CharField(max_length=600, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        verbose_name = "adresse BAL publiée"
        verbose_name_plural = "adresses BAL publiées"
        constraints = [
            models.CheckConstraint(
                name="bal_address_kind_valid", condition=Q(kind__in=[k.value for k in BalKind])
            ),
            models.CheckConstraint(name="bal_address_lowercase", condition=Q(address__regex=r"^[^A-Z]+$")),
        ]
        indexes = [
            # Portable indexes only; the trigram and prefix indexes are PostgreSQL-only (migration 0002).
            models.Index(fields=["department_code"], name="bal_department"),
            models.Index(fields=["postcode"], name="bal_postcode"),
        ]

    def __str__(self) -> str:
        return self.address


class SearchWord(models.Model):
    """Lexicon of the words of `BalAddress.search_text` (names, first names, professions, structures, towns).

    Typos are matched against this small table (trigram index, then an edit distance) rather than against
    1.5 million BAL rows: each misspelt query word is resolved to the few real words within its allowed
    edits, which are then searched like typed words (PostgreSQL documents the same "table of unique words"
    technique for pg_trgm). Filled by the import and by local publication (apps/annuaire/lexicon.py); a word
    left behind by a vanished entry only ever leads to no result.
    """

    word = models.CharField(max_length=100, unique=True)

    class Meta:
        verbose_name = "mot du lexique de l'annuaire"

    def __str__(self) -> str:
        return self.word
