"""French medical correspondence from a fixed vocabulary: senders, subjects, bodies and attachment names.

Every word a generated text can contain comes from `vocabulary()` (a few thousand words: everyday French,
medical terms, first names, surnames, towns, numbers), so a generator of search tokens can precompute each
word's lexeme once (bench/bench_inbox.py). Word frequencies are skewed (a few words are very common, most
are rare), as in real mail, so "common word" and "rare word" searches mean something.
"""

# Word lists are split from one string each: as list literals they would take hundreds of lines.
# ruff: noqa: SIM905
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

COMMON = (
    "bonjour madame monsieur docteur chère cher confrère consœur patient patiente suite consultation "
    "rendez-vous examen résultats compte rendu courrier merci cordialement bien confraternellement "
    "jour semaine mois année matin soir hier demain prochain dernier premier nouvelle nouveau "
    "traitement dossier demande avis réponse information question suivi contrôle bilan état "
    "clinique général habituel normal stable amélioration aggravation évolution favorable "
    "prise charge sortie entrée hospitalisation service urgence ordonnance prescription "
    "posologie dose comprimé gélule injection perfusion matin midi soir coucher pendant jours "
    "semaines arrêt reprise poursuite modification introduction diminution augmentation "
    "antécédents allergie familiaux personnels mode vie tabac alcool sport travail retraite "
    "domicile famille conjoint enfant mère père fille fils ami aide infirmière kinésithérapeute "
    "pharmacien médecin traitant spécialiste chirurgien radiologue biologiste secrétariat "
    "adresse téléphone joindre disponible contacter rappeler transmettre envoyer recevoir "
    "trouverez ci-joint pièce jointe document copie double original signé daté "
    "vu revu examiné interrogé informé expliqué proposé accepté refusé souhaité prévu programmé "
    "réalisé effectué pratiqué demandé reçu transmis noté constaté observé retrouvé "
    "douleur fièvre fatigue toux dyspnée nausées vomissements vertiges céphalées malaise chute "
    "poids taille tension pouls température saturation glycémie fréquence cardiaque respiratoire "
    "gauche droite bilatéral supérieur inférieur antérieur postérieur interne externe "
    "léger modéré sévère important discret net franc absent présent persistant récent ancien "
    "bonne mauvaise meilleure nette très peu plus moins assez trop encore déjà toujours jamais "
    "rapidement lentement progressivement brutalement récemment actuellement auparavant "
    "faire avoir être aller venir voir prendre mettre donner dire pouvoir vouloir devoir savoir "
    "rester passer revenir continuer arrêter commencer terminer vérifier surveiller adapter "
    "nécessaire utile souhaitable indiqué contre-indiqué urgent programmé différé possible "
    "afin ainsi alors après avant avec chez comme depuis donc entre malgré mais puis sans selon "
    "sous vers lors quand lorsque car cependant toutefois néanmoins également notamment environ "
    "cette cet notre leur leurs mon ma mes ton ta tes celle celui ceux tout toute tous toutes "
    "autre autres même mêmes chaque plusieurs certains aucun aucune quelques"
).split()
MEDICAL = (
    "hypertension artérielle diabète type insuline metformine hypercholestérolémie statine "
    "insuffisance cardiaque rénale hépatique respiratoire coronaire coronarienne angor infarctus "
    "myocarde fibrillation auriculaire flutter tachycardie bradycardie extrasystoles palpitations "
    "électrocardiogramme échographie échocardiographie holter épreuve effort scintillation "
    "coronarographie angioplastie stent pontage valve valvulopathie mitrale aortique tricuspide "
    "anticoagulant anticoagulation apixaban rivaroxaban warfarine héparine aspirine clopidogrel "
    "bêtabloquant bisoprolol amlodipine ramipril périndopril furosémide spironolactone diurétique "
    "asthme bronchopneumopathie obstructive chronique bronchite pneumopathie pneumonie embolie "
    "pulmonaire thrombose veineuse profonde phlébite oedème œdème ascite épanchement pleural "
    "radiographie thorax scanner tomodensitométrie imagerie résonance magnétique irm "
    "mammographie densitométrie ostéoporose arthrose polyarthrite rhumatoïde lombalgie "
    "sciatique cervicalgie tendinite fracture entorse luxation prothèse hanche genou épaule "
    "biologie numération formule sanguine hémoglobine plaquettes leucocytes créatinine "
    "clairance urée ionogramme sodium potassium calcium ferritine transaminases bilirubine "
    "cholestérol triglycérides hba1c tsh thyroïde hypothyroïdie hyperthyroïdie lévothyroxine "
    "vitamine carence anémie martiale supplémentation protéinurie microalbuminurie "
    "dépression anxiété insomnie troubles cognitifs démence alzheimer parkinson épilepsie "
    "accident vasculaire cérébral ischémique hémorragique migraine neuropathie périphérique "
    "cancer tumeur néoplasie carcinome adénocarcinome lymphome leucémie métastase biopsie "
    "anatomopathologie chimiothérapie radiothérapie immunothérapie oncologie réunion "
    "concertation pluridisciplinaire rcp protocole cure séance tolérance toxicité "
    "grossesse accouchement césarienne obstétrique gynécologie contraception ménopause "
    "pédiatrie nourrisson vaccination rougeole coqueluche bronchiolite otite angine "
    "dermatologie eczéma psoriasis mélanome naevus urticaire allergologie désensibilisation "
    "gastro-entérologie coloscopie fibroscopie gastroscopie reflux ulcère colite crohn "
    "hépatite cirrhose pancréatite cholécystectomie appendicectomie hernie chirurgie "
    "anesthésie consultation pré-opératoire post-opératoire cicatrisation pansement suture "
    "kinésithérapie rééducation ergothérapie orthophonie diététique nutrition obésité "
    "ophtalmologie glaucome cataracte rétinopathie dmla orl audiométrie surdité acouphènes "
    "urologie prostate psa lithiase colique néphrétique infection urinaire cystite "
    "néphrologie dialyse transplantation greffe immunosuppresseur corticoïdes prednisone "
    "antibiotique amoxicilline ciprofloxacine doxycycline antalgique paracétamol tramadol "
    "morphine anti-inflammatoire ibuprofène kétoprofène inhibiteur pompe protons oméprazole "
    "gériatrie ehpad autonomie dépendance aidant soins palliatifs hospitalisation domicile "
    "certificat aptitude invalidité affection longue durée ald cerfa arrêt maladie accident "
    "covid grippe vaccin rappel sérologie pcr antigénique dépistage prévention"
).split()
FIRST_NAMES = (
    "Alice Amélie Anne Antoine Arthur Bruno Camille Catherine Céline Chloé Christophe Claire Clément "
    "Denis Dominique Élodie Émilie Emma Éric François Frédéric Gaëlle Guillaume Hélène Hugo Inès "
    "Isabelle Jacques Jean Jérôme Julie Julien Karim Laure Léa Louis Lucas Maël Marie Mathéo Mathieu "
    "Nathalie Nicolas Noémie Océane Olivier Pascal Patrick Paul Philippe Pierre Quentin Raphaël Rose "
    "Sandrine Sébastien Sophie Stéphane Sylvie Thaïs Théo Thomas Ulysse Valérie Vincent Wassim "
    "Xavier Yasmine Zoé Agnès Benoît Cécile Gérard Joël Anaïs Fatima Mohamed Nadia Youssef Leïla"
).split()
LAST_ROOTS = (
    "Mart Bern Dub Thom Rob Rich Pet Dur Ler Mor Sim Laur Lef Mich Garc Dav Bertr Roux Vinc Four "
    "Morel Gir Andr Merc Dup Lamb Bonn Fran Legr Garn Faur Rouss Blanc Guer Mull Henr Nicol Perr "
    "Math Gaut Mass March Duv Den Dum Lem Noel Mey Meun Brun Jol Riv Luc Gaill Barb Arn Roch Ren"
).split()
LAST_ENDS = ["in", "ard", "ois", "et", "eau", "on", "ier", "and", "aud", "ot", "ant", "el", "y", "ez", "iot"]
TOWNS = (
    "Paris Lyon Marseille Toulouse Nice Nantes Strasbourg Montpellier Bordeaux Lille Rennes Reims "
    "Brest Ajaccio Dijon Angers Tours Limoges Amiens Besançon Pau Grenoble Rouen Caen Metz Nancy "
    "Orléans Poitiers Perpignan Nîmes Avignon Valence Annecy Chambéry Lorient Quimper Vannes "
    "Saint-Brieuc Niort Angoulême Périgueux Bayonne Tarbes Albi Rodez Cahors Agen Mont-de-Marsan "
    "Colmar Mulhouse Troyes Chartres Évreux Beauvais Compiègne Arras Douai Dunkerque Calais "
    "Boulogne-sur-Mer Cherbourg Laval Le-Mans Saint-Nazaire Cholet La-Rochelle Clermont-Ferrand "
    "Aurillac Vichy Bourges Nevers Auxerre Mâcon Bourg-en-Bresse Roanne Saint-Étienne Gap Digne "
    "Toulon Fréjus Cannes Antibes Bastia Montauban Carcassonne Narbonne Béziers Sète Alès"
).split()
SERVICES = (
    "cardiologie pneumologie neurologie rhumatologie endocrinologie néphrologie gériatrie "
    "radiologie biologie médicale urgences réanimation maternité"
).split()
DOMAINS = ["chu-lyon.mssante.fr", "aphp.mssante.fr", "medecin.mssante.fr", "ch-sud.mssante.fr"]
DOC_KINDS = ["CR", "ORDO", "BIO", "IMG", "LETTRE", "CERTIF", "RCP", "SORTIE"]


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def surnames() -> list[str]:
    return sorted({root + end for root in LAST_ROOTS for end in LAST_ENDS})


def vocabulary() -> list[str]:
    """Every word a generated text may contain (before folding), numbers included."""
    words = {*COMMON, *MEDICAL, *FIRST_NAMES, *surnames(), *TOWNS, *SERVICES, *DOC_KINDS}
    for domain in DOMAINS:
        words.update(domain.replace(".", " ").replace("-", " ").split())
    words.update(str(n) for n in range(0, 2031))
    words.update(f"{n:02d}" for n in range(0, 100))
    words.update(["pdf", "dr", "pr", "mme", "né", "née", "le", "la", "les", "de", "des", "du", "et", "à"])
    return sorted(words)


@dataclass(frozen=True)
class Person:
    name: str
    address: str


@dataclass(frozen=True)
class Letter:
    sender: Person
    subject: str
    body: str
    attachment_names: tuple[str, ...]


class Correspondence:
    """A seeded stream of letters: `letter(i)` is always the same for the same seed and index."""

    def __init__(self, seed: int, senders: int = 400) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.surnames = surnames()
        self.senders = [self._person(rng) for _ in range(senders)]
        # Zipf-like weights: word k of the shuffled list is drawn with weight 1/(k+1).
        self.words = [*COMMON, *MEDICAL]
        rng.shuffle(self.words)
        self.word_weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(self.words))]
        self.sender_weights = [1.0 / (rank + 1) ** 0.7 for rank in range(senders)]

    def _person(self, rng: random.Random) -> Person:
        first, last = rng.choice(FIRST_NAMES), rng.choice(self.surnames)
        if rng.random() < 0.2:
            service = rng.choice(SERVICES)
            town = rng.choice(TOWNS)
            address = f"secretariat.{fold(service)}@{rng.choice(DOMAINS)}"
            return Person(f"Secrétariat {service} {town}", address)
        return Person(f"Dr {first} {last}", f"{fold(first)}.{fold(last)}@{rng.choice(DOMAINS)}")

    def letter(self, index: int) -> Letter:
        rng = random.Random(self.seed * 1_000_003 + index)
        sender = rng.choices(self.senders, self.sender_weights)[0]
        patient = f"{rng.choice(self.surnames).upper()} {rng.choice(FIRST_NAMES)}"
        topic = " ".join(rng.choices(self.words, self.word_weights, k=rng.randint(2, 4)))
        subject = rng.choice(
            [
                f"Compte rendu {topic} - {patient}",
                f"Résultats {topic} {patient}",
                f"Adressage {patient} : {topic}",
                f"RE: {topic}",
                f"Demande d'avis {topic}",
                f"Rendez-vous {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d} {patient}",
            ]
        )
        paragraphs = []
        for _ in range(rng.randint(2, 5)):
            sentence_words = rng.choices(self.words, self.word_weights, k=rng.randint(15, 45))
            paragraphs.append(" ".join(sentence_words).capitalize() + ".")
        town = rng.choice(TOWNS)
        body = (
            f"Cher confrère,\n\nJe vous adresse {patient}, né le {rng.randint(1, 28):02d}/"
            f"{rng.randint(1, 12):02d}/{rng.randint(1935, 2020)} à {town}.\n\n"
            + "\n\n".join(paragraphs)
            + f"\n\nBien confraternellement,\n{sender.name}"
        )
        names: tuple[str, ...] = ()
        if rng.random() < 0.3:
            names = tuple(
                f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}_"
                f"{rng.choice(DOC_KINDS)}_{patient.replace(' ', '_')}.pdf"
                for _ in range(rng.randint(1, 2))
            )
        return Letter(sender, subject, body, names)
