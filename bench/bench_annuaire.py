#!/usr/bin/env python3
"""Annuaire benchmark: import a generated 1.5-million-line extraction, then time autocomplete and search.

1. Generates an Extraction_Correspondance_MSSante file (31 columns, the real format, valid RPPS/FINESS keys)
   of `--size` BAL lines into bench/data/ (gitignored), reused when already there.
2. Imports it into a dedicated PostgreSQL database (created and migrated if missing) with
   `manage.py import_annuaire` as a child process: wall time and the child's peak RSS (getrusage), then a
   second, idempotent run (nothing changed) and its time.
3. Times the HTTP endpoints through Django's test client as a logged-in professional: autocomplete for
   name prefixes, misspelt names and "name firstname", reading the view's own Server-Timing header (server
   time) and the client wall time; two-word queries with a typo in each word (« alise martin »,
   « cardiologie ajacio », « phamacie bordeaux » drawn from the dataset), also counting how often the
   obvious target is among the first 3 suggestions; then the directory page with multi-criteria searches
   and with the same two-word typo queries.
Prints a markdown block (also written to bench/out/annuaire.md) for docs/benchmarks.md.

    .venv/bin/python bench/bench_annuaire.py            # full size (about 10 minutes)
    .venv/bin/python bench/bench_annuaire.py --smoke    # a few thousand lines, seconds
"""

# Name lists are split from one string each: as list literals they would take a hundred lines.
# ruff: noqa: SIM905
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from support import ensure_database  # noqa: E402 (bench/ is the script's directory)

DATA = ROOT / "bench" / "data"
OUT = ROOT / "bench" / "out"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mssante_bench_annuaire"
COLUMNS = [
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION structure BAL",
    "L3COMPLEMENTDISTRIBUTION structure BAL",
    "L4NUMEROVOIE structure BAL",
    "L4COMPLEMENTNUMEROVOIE structure BAL",
    "NL4TYPEVOIE structure BAL",
    "L4LIBELLEVOIE structure BAL",
    "L5LIEUDITMENTION structure BAL",
    "L6LIGNEACHEMINEMENT structure BAL",
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
]
HEADER = "|".join(COLUMNS) + "|"
FIRST_NAMES = (
    "Alice Amélie Anne Antoine Arthur Bruno Camille Catherine Céline Chloé Christophe Claire Clément "
    "Denis Dominique Élodie Émilie Emma Éric François Frédéric Gaëlle Guillaume Hélène Hugo Inès "
    "Isabelle Jacques Jean Jérôme Julie Julien Karim Laure Léa Louis Lucas Maël Marie Mathéo Mathieu "
    "Nathalie Nicolas Noémie Océane Olivier Pascal Patrick Paul Philippe Pierre Quentin Raphaël Rose "
    "Sandrine Sébastien Sophie Stéphane Sylvie Thaïs Théo Thomas Ulysse Valérie Vincent Wassim "
    "Xavier Yasmine Zoé Agnès Benoît Cécile Gérard Joël Anaïs "
).split()
LAST_ROOTS = (
    "MART BERN DUB THOM ROB RICH PET DUR LER MOR SIM LAUR LEF MICH GARC DAV BERTR ROUX VINC FOUR "
    "MOREL GIR ANDR MERC DUP LAMB BONN FRAN MART LEGR GARN FAUR ROUSS BLANC GUER MULL HENR ROUS "
    "NICOL PERR MATH GAUT MASS MARCH DUV DENI DUM LEM NOEL MEY DUFOUR MEUN BRUN BLANCH GIRAUD JOLY "
    "RIVI LUC BRUN GAILL BARB ARN GERA ROCH RENA SCHM ROY LECL CHEV COLL VIAL HUB PICA CARO BOUR "
    "AUBR HEB CHAR FONT "
).split()
LAST_MIDDLES = [
    "",
    "AL",
    "ER",
    "IN",
    "OU",
    "AN",
    "EL",
    "IL",
    "OR",
    "AR",
    "EN",
    "UR",
    "ON",
    "AV",
    "IS",
    "OL",
    "AT",
]
LAST_ENDS = [
    "",
    "IN",
    "ARD",
    "OIS",
    "ET",
    "EAU",
    "ON",
    "IER",
    "AND",
    "AUD",
    "OT",
    "ANT",
    "EL",
    "IEZ",
    "ELLE",
    "Y",
]
PROFESSIONS = [  # code, label, weight
    ("60", "Infirmier", 30), ("10", "Médecin", 25), ("70", "Masseur-Kinésithérapeute", 12),
    ("21", "Pharmacien", 9), ("40", "Chirurgien-Dentiste", 7), ("50", "Sage-Femme", 4),
    ("91", "Orthophoniste", 4), ("80", "Pédicure-Podologue", 3), ("93", "Psychologue", 3),
    ("94", "Ergothérapeute", 1), ("95", "Diététicien", 1), ("92", "Orthoptiste", 1),
]  # fmt: skip
SPECIALTIES = [
    ("SM54", "Médecine générale", 45), ("SM04", "Cardiologie et maladies vasculaires", 6),
    ("SM15", "Dermatologie et vénéréologie", 4), ("SM19", "Gynécologie-obstétrique", 5),
    ("SM26", "Pédiatrie", 6), ("SM40", "Psychiatrie", 7), ("SM44", "Radio-diagnostic", 7),
    ("SM33", "Oncologie médicale", 3), ("SM03", "Anesthésie-réanimation", 8), ("SM38", "Ophtalmologie", 4),
]  # fmt: skip
TOWNS = [
    ("75001", "PARIS", "75"), ("75015", "PARIS", "75"), ("69003", "LYON", "69"), ("69008", "LYON", "69"),
    ("13005", "MARSEILLE", "13"), ("31400", "TOULOUSE", "31"), ("06000", "NICE", "06"),
    ("44000", "NANTES", "44"), ("67000", "STRASBOURG", "67"), ("34000", "MONTPELLIER", "34"),
    ("33000", "BORDEAUX", "33"),
    ("59000", "LILLE", "59"), ("35000", "RENNES", "35"), ("51100", "REIMS", "51"), ("29200", "BREST", "29"),
    ("20000", "AJACCIO", "2A"), ("97400", "SAINT-DENIS", "974"), ("21000", "DIJON", "21"),
    ("49000", "ANGERS", "49"), ("37000", "TOURS", "37"), ("63000", "CLERMONT-FERRAND", "63"),
    ("87000", "LIMOGES", "87"), ("80000", "AMIENS", "80"), ("25000", "BESANÇON", "25"),
    ("64000", "PAU", "64"),
]  # fmt: skip
STRUCTURE_KINDS = ["CENTRE HOSPITALIER", "CLINIQUE", "CABINET MEDICAL", "PHARMACIE", "LABORATOIRE", "EHPAD"]
SERVICES = ["Secrétariat médical", "Cardiologie", "Laboratoire", "Officine", "Urgences", "Radiologie"]
DOMAINS = [
    f"{name}.mssante.fr" for name in ("aphp", "chu-lyon", "medecin", "pharmacie", "ght-nord", "ch-sud")
]


def luhn_key(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body + "0")):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def ascii_lower(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "-")


def _weighted(items):
    return [item for item in items for _ in range(item[-1])]


def generate(path: Path, size: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    professions, specialties = _weighted(PROFESSIONS), _weighted(SPECIALTIES)
    # ~20,700 surnames with a skewed (Zipf-like) frequency, so that a few are very common as in real life
    # and a misspelt name matches tens of similar names rather than thousands.
    last_names = sorted(
        {root + middle + end for root in LAST_ROOTS for middle in LAST_MIDDLES for end in LAST_ENDS}
    )
    rng.shuffle(last_names)
    structures = []
    for index in range(max(50, size // 25)):
        postcode, town, dept = rng.choice(TOWNS)
        body = f"{(int(dept) if dept.isdigit() and len(dept) == 2 else 75):02d}{index:06d}"[:8]
        finess = body + luhn_key(body)
        name = f"{rng.choice(STRUCTURE_KINDS)} {town} {index}"
        structures.append((finess, name, postcode, town, dept, f"{rng.randint(1, 200)}"))
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for index in range(size):
            out.write(_line(rng, index, professions, specialties, last_names, structures) + "\n")


def _line(rng, index, professions, specialties, last_names, structures) -> str:
    finess, struct_name, postcode, town, dept, number = rng.choice(structures)
    address_cols = [struct_name, "", "", "", number, "", "R", "de la République", "", f"{postcode} {town}",
                    postcode, dept, "France"]  # fmt: skip
    if rng.random() < 0.12:
        service = rng.choice(SERVICES)
        address = f"{ascii_lower(service)}.{index}@{rng.choice(DOMAINS)}"
        cols = [
            "ORG",
            address,
            "",
            "",
            "",
            "1",
            "1" + finess,
            service,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "True",
        ]
        return "|".join(cols + address_cols) + ("|" if index % 7 else "")
    body = f"1{index:09d}"
    rpps = body + luhn_key(body)
    first, last = rng.choice(FIRST_NAMES), last_names[int(len(last_names) * rng.random() ** 2.5)]
    code, label, _ = rng.choice(professions)
    sf_code, sf_label = ("", "")
    if code == "10":
        sf_code, sf_label, _ = rng.choice(specialties)
    civility = "DR" if code in ("10", "40") else rng.choice(["M", "MME"])
    address = f"{ascii_lower(first)}.{ascii_lower(last)}.{index}@{rng.choice(DOMAINS)}"
    cols = ["PER", address, "8", rpps, "8" + rpps, "1", "1" + finess, "", civility, last, first, "C", "Civil",
            code, label, sf_code, sf_label, rng.choice(["True", "False"])]  # fmt: skip
    return "|".join(cols + address_cols) + ("|" if index % 7 else "")


def ensure_empty_database(url: str, env: dict) -> None:
    import psycopg

    ensure_database(url, env)
    with psycopg.connect(url, autocommit=True) as conn:  # a fresh import every time
        conn.execute(
            "TRUNCATE annuaire_baladdress, annuaire_exerciseplace, annuaire_professional, "
            "annuaire_structure CASCADE"
        )


def run_import(path: Path, env: dict) -> tuple[float, float, str]:
    """Import in a child process; returns wall seconds, the child's peak RSS (MiB) and its summary."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "import_annuaire", str(path), "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: the import is by far the biggest.
    return elapsed, max(peak_kib, before) / 1024, done.stdout.strip()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def typo(rng, word: str) -> str:
    position = rng.randrange(1, len(word) - 1)
    letter = rng.choice([c for c in "aeiourstdn" if c != word[position]])
    return word[:position] + letter + word[position + 1 :]


def typos(rng, phrase: str) -> str:
    """The rule of the search (issue 14): one edit in each word of 4+ letters, two from 8 letters; a
    replaced or a dropped letter, never the first one, and never leaving fewer than 4 letters (shorter
    typed words are taken as typed)."""
    typed = []
    for word in phrase.split():
        for _ in range(0 if len(word) < 4 else 2 if len(word) >= 8 else 1):
            if rng.random() < 0.5 or len(word) <= 4:
                word = typo(rng, word)
            else:
                position = rng.randrange(1, len(word) - 1)
                word = word[:position] + word[position + 1 :]
        typed.append(word)
    return " ".join(typed)


def two_word_typo_cases(rng, rounds: int) -> list[tuple[str, object]]:
    """« Alise Martin », « cardiologie ajacio », « phamacie bordeaux » over the generated directory: each
    query with the predicate its obvious target satisfies (checked on the first 3 suggestions)."""
    from apps.annuaire.models import BalAddress
    from apps.annuaire.text import normalize

    people = (
        BalAddress.objects.filter(kind="PER", is_active=True)
        .order_by("?")
        .values_list("professional__first_name", "professional__last_name", "display_name")[: rounds // 2]
    )
    cases: list[tuple[str, object]] = []
    for first, last, display in people:
        query = typos(rng, normalize(f"{first} {last}"))
        cases.append((query, lambda row, display=display: row["name"] == display))
    organisations = (
        BalAddress.objects.filter(kind="ORG", is_active=True)
        .order_by("?")
        .values_list("service", "town", "structure_name")[: rounds - len(cases)]
    )
    for index, (service, town, structure) in enumerate(organisations):
        # "cardiologie ajaccio" (service and town) or "pharmacie bordeaux" (kind of structure and town).
        what = normalize(service).split()[0] if index % 2 else normalize(structure).split()[0]
        query = typos(rng, f"{what} {normalize(town)}")
        cases.append(
            (query, lambda row, what=what, town=town, org=index % 2 == 0: row["town"] == town
             and (row["kind"] == "ORG" or not org) and what in normalize(" ".join(
                (row["service"], row["structure"], row["specialty"], row["profession"])
            )))
        )  # fmt: skip
    return cases


def measure_http(rounds: int) -> list[tuple[str, list[float], list[float]]]:
    import django

    django.setup()
    from django.test import Client

    from apps.accounts.models import User, UserKind
    from apps.annuaire.models import BalAddress
    from tests.factories import UserFactory, enrol_totp

    user = User.objects.filter(email="bench.annuaire@demo.mssante.fr").first()
    if user is None:
        user = UserFactory(email="bench.annuaire@demo.mssante.fr", kind=UserKind.PROFESSIONAL)
        enrol_totp(user)
    client = Client()
    client.force_login(user)
    rng = random.Random(7)
    people = list(
        BalAddress.objects.filter(kind="PER", is_active=True)
        .order_by("?")
        .values_list("search_name", flat=True)[:rounds]
    )
    cases = {
        "autocomplete, name prefix (3-6 letters)": [name.split()[0][: rng.randint(3, 6)] for name in people],
        "autocomplete, misspelt full name": [
            typo(rng, name.split()[0]) for name in people if len(name.split()[0]) > 4
        ],
        "autocomplete, « nom prénom »": list(people),
    }
    results = []
    for label, queries in cases.items():
        results.append((label, *_time_endpoint(client, "/annuaire/suggestions", [{"q": q} for q in queries])))
    typo_cases = two_word_typo_cases(rng, rounds)
    params = [{"q": query} for query, _check in typo_cases]
    server, wall = _time_endpoint(client, "/annuaire/suggestions", params)
    hits = sum(
        any(check(row) for row in client.get("/annuaire/suggestions", {"q": query}).json()["results"][:3])
        for query, check in typo_cases
    )
    label = "autocomplete, two words with typos (« alise martin », « cardiologie ajacio »)"
    results.append((f"{label}: target in the first 3 for {hits}/{len(typo_cases)}", server, wall))
    print_slowest("composer, two words with typos", params, server)
    searches = [
        {"q": "cardiologue", "place": "Lyon"},
        {"q": "infirmier", "place": "69"},
        {"q": "pediatre", "place": "Paris"},
        {"q": "medecin generaliste", "place": "33000"},
        {"q": "secretariat", "kind": "ORG", "place": "Nantes"},
        {"q": "kine", "place": "Toulouse", "profession": "70"},
    ]
    names = [
        {"q": typo(rng, name.split()[0]), "place": rng.choice(TOWNS)[1]} for name in people[: rounds // 2]
    ]
    results.append(
        ("page, multi-criteria search", *_time_endpoint(client, "/annuaire/", (searches * 20 + names)))
    )
    server, wall = _time_endpoint(client, "/annuaire/", params)
    results.append(("page, two words with typos (the queries above)", server, wall))
    print_slowest("page, two words with typos", params, server)
    return results


def print_slowest(label: str, params_list: list[dict], server: list[float], count: int = 5) -> None:
    """The slowest queries of a row on stdout (not in the report): where to start with EXPLAIN."""
    slowest = sorted(zip(server, [params["q"] for params in params_list], strict=True), reverse=True)
    print(f"slowest, {label}: " + ", ".join(f"« {query} » {ms:.0f} ms" for ms, query in slowest[:count]))


def _time_endpoint(client, url: str, params_list: list[dict]) -> tuple[list[float], list[float]]:
    server, wall = [], []
    client.get(url, params_list[0])  # warm-up (connection, caches)
    for params in params_list:
        started = time.perf_counter()
        response = client.get(url, params)
        wall.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (response.status_code, params)
        timing = response.headers.get("Server-Timing", "")
        server.append(float(timing.split("dur=")[1]) if "dur=" in timing else wall[-1])
    return server, wall


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":")[1].strip() for line in cpuinfo if "model name" in line), "?")
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} CPU ({cpu}), {memory_kib / 1024 / 1024:.1f} GiB RAM, {pg}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_500_000)
    parser.add_argument("--smoke", action="store_true", help="3,000 lines: proves the benchmark runs")
    parser.add_argument("--rounds", type=int, default=300, help="queries per autocomplete case")
    parser.add_argument(
        "--skip-import", action="store_true", help="reuse the imported database (latency only)"
    )
    options = parser.parse_args()
    size, rounds = (3000, 40) if options.smoke else (options.size, options.rounds)
    url = os.environ.get("BENCH_ANNUAIRE_DATABASE_URL", DEFAULT_DB + ("_smoke" if options.smoke else ""))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MSSANTE_TESTING": "1",
        "TEST_REDIS_DB": "9",
        "ANNUAIRE_SEARCH_RATE_PER_MINUTE": "1000000",
        "DJANGO_SETTINGS_MODULE": "mssante_web.settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"Extraction_Correspondance_MSSante_bench_{size}.txt"
    if not path.exists():
        started = time.perf_counter()
        generate(path, size)
        megabytes = path.stat().st_size / 1e6
        print(f"generated {path.name} ({megabytes:.0f} MB) in {time.perf_counter() - started:.0f} s")
    report = [
        f"- Machine: {machine()}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `.venv/bin/python bench/bench_annuaire.py{' --smoke' if options.smoke else ''}` "
        f"({size:,} BAL lines, {path.stat().st_size / 1e6:.0f} MB)".replace(",", " "),
    ]
    if not options.skip_import:
        ensure_empty_database(url, env)
        first, rss, summary = run_import(path, env)
        print(summary, flush=True)
        second, rss2, summary2 = run_import(path, env)
        print(summary2, flush=True)
        report += [
            f"- Import, empty directory: **{first:.1f} s**, peak RSS of the import process **{rss:.0f} MiB**",
            f"- Re-import of the same file (nothing changes): {second:.1f} s, peak RSS {rss2:.0f} MiB",
        ]
    report += [
        "",
        "| Endpoint (logged-in professional, Django test client) | n | server p50 | server p95 | wall p95 |",
        "|---|---|---|---|---|",
    ]
    for label, server, wall in measure_http(rounds):
        p50, p95 = statistics.median(server), percentile(server, 0.95)
        report.append(
            f"| {label} | {len(server)} | {p50:.1f} ms | {p95:.1f} ms | {percentile(wall, 0.95):.1f} ms |"
        )
    text = "\n".join(report)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("annuaire_smoke.md" if options.smoke else "annuaire.md")).write_text(
        text + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
