"""Map an RPPS/ADELI profession to its CSP art. R1110-2 category.

R1110-2 lets three groups exchange health data: health professionals (Code de la santé publique, part IV),
professionals holding a protected title (ostéopathe, psychologue, chiropracteur, psychothérapeute) and social
and medico-social professionals. The extractions give a profession code (nomenclature TRE_G15) and a label;
codes are matched first, then the accent-free label, because the nomenclature gains codes over time and an
unknown profession must not silently become "health". Anything unmatched is OTHER, which the mailboxes app
can refuse. The mapping is documented in docs/decisions/0003-directory-search.md.
"""

from __future__ import annotations

from functools import lru_cache

from apps.annuaire.models import Category
from apps.annuaire.text import normalize

# TRE_G15 codes of the health professions (médecin 10, pharmacien 21, audioprothésiste 26, opticien 28,
# chirurgien-dentiste 40, sage-femme 50, infirmier 60/69, kinésithérapeute 70, pédicure-podologue 80,
# appareilleurs 81-85, technicien de laboratoire 86, orthophoniste 91, orthoptiste 92, ergothérapeute 94,
# diététicien 95, psychomotricien 96, manipulateur ERM 98) and of the auxiliaries registered in RPPS
# (assistant dentaire 31, physicien médical 32, aide-soignant 35, ambulancier 36, auxiliaire de
# puériculture 37, préparateurs en pharmacie 38/39).
HEALTH_CODES = frozenset(
    {
        "10",
        "21",
        "26",
        "28",
        "31",
        "32",
        "35",
        "36",
        "37",
        "38",
        "39",
        "40",
        "50",
        "60",
        "69",
        "70",
        "80",
        "81",
        "82",
        "83",
        "84",
        "85",
        "86",
        "91",
        "92",
        "94",
        "95",
        "96",
        "98",
    }
)
# Psychologue is registered in RPPS under 93 since 2023; the other titles are matched by label.
TITLED_CODES = frozenset({"93"})

TITLED_WORDS = ("osteopathe", "psychologue", "chiropract", "psychotherapeute")
SOCIAL_WORDS = (
    "service social",
    "assistant social",
    "assistante sociale",
    "educateur",
    "educatrice",
    "accompagnant educatif",
    "assistant maternel",
    "assistante maternelle",
    "assistant familial",
    "economie sociale",
    "mediateur familial",
    "mandataire judiciaire",
    "delegue aux prestations familiales",
    "moniteur educateur",
    "aide medico psychologique",
)


@lru_cache(maxsize=1024)
def category_for(profession_code: str, profession_label: str) -> str:
    code = (profession_code or "").strip()
    label = normalize(profession_label)
    if code in TITLED_CODES or any(word in label for word in TITLED_WORDS):
        return Category.TITLED
    if code in HEALTH_CODES:
        return Category.HEALTH
    if any(word in label for word in SOCIAL_WORDS):
        return Category.SOCIAL
    return Category.OTHER


# Labels of the profession codes offered as a search filter (TRE_G15 wording).
PROFESSION_CHOICES = (
    ("10", "Médecin"),
    ("21", "Pharmacien"),
    ("40", "Chirurgien-dentiste"),
    ("50", "Sage-femme"),
    ("60", "Infirmier"),
    ("70", "Masseur-kinésithérapeute"),
    ("80", "Pédicure-podologue"),
    ("91", "Orthophoniste"),
    ("92", "Orthoptiste"),
    ("93", "Psychologue"),
    ("94", "Ergothérapeute"),
    ("95", "Diététicien"),
    ("96", "Psychomotricien"),
    ("26", "Audioprothésiste"),
    ("28", "Opticien-lunetier"),
    ("98", "Manipulateur ERM"),
)
