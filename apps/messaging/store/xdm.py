"""IHE_XDM packages (IHE ITI XDM, CI-SIS "échange de documents de santé"): the patient and the documents a
zip announces in its `IHE_XDM/<subset>/METADATA.XML` (an ebRIM 3.0 SubmitObjectsRequest).

The zip is spooled to a temporary file (never held in memory) and read with `zipfile`; only METADATA.XML is
decompressed, with a size cap. The XML comes from outside: a DOCTYPE (entities, external references) is
refused before parsing, so neither entity expansion nor external fetches can happen.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree import ElementTree

RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
METADATA_MAX_BYTES = 5 * 1024 * 1024
MAX_MEMBERS = 5000
# ebRIM identification/classification schemes of XDS metadata (IHE ITI TF-3 §4.2.5).
DOC_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
DOC_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DOC_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DOC_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
_METADATA = re.compile(r"^(?:.*/)?IHE_XDM/([^/]+)/METADATA\.XML$", re.IGNORECASE)
_DOCTYPE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class XdmError(Exception):
    """The attachment is not a readable IHE_XDM package; the message is French, for the reader."""


@dataclass
class XdmDocument:
    title: str
    mime_type: str
    uri: str
    type_label: str = ""
    type_code: str = ""
    creation_time: str = ""
    author: str = ""
    present: bool = True


@dataclass
class XdmPatient:
    ins: str = ""
    id_root: str = ""
    family_name: str = ""
    given_names: str = ""
    birth_date: str = ""
    sex: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.family_name.upper(), self.given_names) if part)


@dataclass
class XdmPackage:
    patient: XdmPatient = field(default_factory=XdmPatient)
    documents: list[XdmDocument] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)


def looks_like_xdm(filename: str, content_type: str) -> bool:
    """MSSanté names the zip IHE_XDM.ZIP (docs/mssante.md §7); other zips are checked only on demand."""
    name = (filename or "").lower()
    return (name.endswith(".zip") and "xdm" in name) or content_type == "application/x-ihe-xdm"


def read_package(chunks: Iterable[bytes]) -> XdmPackage:
    """Parse the package streamed by `chunks`; raises XdmError (French) when it is not one."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                return _read_archive(archive)
        except zipfile.BadZipFile:
            raise XdmError("Cette pièce jointe n'est pas une archive ZIP lisible.") from None


def _read_archive(archive: zipfile.ZipFile) -> XdmPackage:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise XdmError("L'archive contient trop de fichiers pour être un paquet IHE_XDM.")
    names = {info.filename.upper() for info in members}
    package = XdmPackage()
    for info in members:
        match = _METADATA.match(info.filename)
        if match is None:
            continue
        if info.file_size > METADATA_MAX_BYTES:
            raise XdmError("Le fichier METADATA.XML de l'archive est trop volumineux.")
        subset_dir = info.filename[: -len("METADATA.XML")]
        _parse_metadata(archive.read(info), package, subset_dir, names)
        package.subsets.append(match.group(1))
    if not package.subsets:
        raise XdmError("Cette archive ne contient pas de fichier IHE_XDM/…/METADATA.XML.")
    return package


def _parse_metadata(raw: bytes, package: XdmPackage, subset_dir: str, names: set[str]) -> None:
    if _DOCTYPE.search(raw):
        raise XdmError("Le fichier METADATA.XML contient des déclarations interdites (DOCTYPE).")
    try:
        # Safe here: DOCTYPE/ENTITY refused above (no entity expansion), expat never fetches external ones.
        root = ElementTree.fromstring(raw)  # noqa: S314
    except ElementTree.ParseError:
        raise XdmError("Le fichier METADATA.XML de l'archive est illisible (XML invalide).") from None
    for entry in root.iter(f"{RIM}ExtrinsicObject"):
        document = _document(entry)
        document.present = (subset_dir + document.uri).upper() in names if document.uri else False
        package.documents.append(document)
        _fill_patient(package.patient, entry, DOC_PATIENT_ID)
    for submission in root.iter(f"{RIM}RegistryPackage"):
        _fill_patient(package.patient, submission, SET_PATIENT_ID)


def _slot(element: ElementTree.Element, name: str) -> list[str]:
    for slot in element.findall(f"{RIM}Slot"):
        if slot.get("name") == name:
            return [value.text or "" for value in slot.iter(f"{RIM}Value")]
    return []


def _name(element: ElementTree.Element) -> str:
    found = element.find(f"{RIM}Name/{RIM}LocalizedString")
    return (found.get("value") or "") if found is not None else ""


def _classification(entry: ElementTree.Element, scheme: str) -> ElementTree.Element | None:
    for item in entry.findall(f"{RIM}Classification"):
        if item.get("classificationScheme") == scheme:
            return item
    return None


def _document(entry: ElementTree.Element) -> XdmDocument:
    type_code = _classification(entry, DOC_TYPE_CODE) or _classification(entry, DOC_CLASS_CODE)
    author = _classification(entry, DOC_AUTHOR)
    return XdmDocument(
        title=_name(entry),
        mime_type=entry.get("mimeType", ""),
        uri=(_slot(entry, "URI") or [""])[0].strip(),
        type_label=_name(type_code) if type_code is not None else "",
        type_code=(type_code.get("nodeRepresentation", "") if type_code is not None else ""),
        creation_time=format_hl7_time((_slot(entry, "creationTime") or [""])[0]),
        author=format_xcn((_slot(author, "authorPerson") or [""])[0]) if author is not None else "",
    )


def _fill_patient(patient: XdmPatient, element: ElementTree.Element, scheme: str) -> None:
    for identifier in element.findall(f"{RIM}ExternalIdentifier"):
        if identifier.get("identificationScheme") == scheme and not patient.ins:
            value = identifier.get("value", "")
            patient.ins = value.split("^", 1)[0]
            root = re.search(r"&([0-9.]+)&ISO", value)
            patient.id_root = root.group(1) if root else ""
    for value in _slot(element, "sourcePatientInfo"):
        field_name, _, data = value.partition("|")
        if field_name == "PID-5" and not patient.family_name:
            parts = data.split("^")
            patient.family_name = parts[0]
            patient.given_names = " ".join(p for p in parts[1:3] if p)
        elif field_name == "PID-7" and not patient.birth_date:
            patient.birth_date = format_hl7_time(data)
        elif field_name == "PID-8" and not patient.sex:
            patient.sex = {"M": "Masculin", "F": "Féminin"}.get(data.strip().upper(), data.strip())


def format_hl7_time(value: str) -> str:
    """`20240131143000` -> `31/01/2024 14:30`; `19700101` -> `01/01/1970`; anything else unchanged."""
    digits = (value or "").strip()
    if not re.fullmatch(r"\d{8}(\d{4,6})?([+-]\d{4})?", digits):
        return digits
    date = f"{digits[6:8]}/{digits[4:6]}/{digits[0:4]}"
    return f"{date} {digits[8:10]}:{digits[10:12]}" if len(digits) >= 12 else date


def format_xcn(value: str) -> str:
    """An HL7 XCN (`id^NOM^Prénom^...`) as `Prénom NOM`."""
    parts = (value or "").split("^")
    if len(parts) < 3:
        return value
    return " ".join(p for p in (parts[2], parts[1].upper()) if p)
