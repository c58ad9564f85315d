"""IHE_XDM packages: the patient and the documents announced in METADATA.XML, and what is refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from apps.messaging.store import xdm
from tests.messaging.webmail_fixtures import fresh_mailbox_keys  # noqa: F401 (fixture)

METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
 <rim:RegistryObjectList>
  <rim:ExtrinsicObject id="Document01" mimeType="text/xml"
      objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
   <rim:Slot name="creationTime">
     <rim:ValueList><rim:Value>20240502143000</rim:Value></rim:ValueList>
   </rim:Slot>
   <rim:Slot name="sourcePatientInfo"><rim:ValueList>
     <rim:Value>PID-3|248000000000000^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH</rim:Value>
     <rim:Value>PID-5|DURAND^Marie^Louise^^^^L</rim:Value>
     <rim:Value>PID-7|19520317</rim:Value>
     <rim:Value>PID-8|F</rim:Value>
   </rim:ValueList></rim:Slot>
   <rim:Slot name="URI"><rim:ValueList><rim:Value>DOC0001.XML</rim:Value></rim:ValueList></rim:Slot>
   <rim:Name><rim:LocalizedString value="Compte rendu de consultation de cardiologie"/></rim:Name>
   <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
       classifiedObject="Document01" nodeRepresentation="">
     <rim:Slot name="authorPerson"><rim:ValueList>
       <rim:Value>810001234565^MARTIN^Alice^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^IDNPS</rim:Value>
     </rim:ValueList></rim:Slot>
   </rim:Classification>
   <rim:Classification classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
       classifiedObject="Document01" nodeRepresentation="11488-4">
     <rim:Name><rim:LocalizedString value="Compte rendu de consultation"/></rim:Name>
   </rim:Classification>
   <rim:ExternalIdentifier identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
       value="248000000000000^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH" registryObject="Document01"/>
  </rim:ExtrinsicObject>
  <rim:ExtrinsicObject id="Document02" mimeType="application/pdf"
      objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
   <rim:Slot name="URI"><rim:ValueList><rim:Value>DOC0002.PDF</rim:Value></rim:ValueList></rim:Slot>
   <rim:Name><rim:LocalizedString value="Version PDF"/></rim:Name>
  </rim:ExtrinsicObject>
 </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>
"""


def make_zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xdm_zip(metadata: str = METADATA) -> bytes:
    return make_zip(
        {
            "README.TXT": "Paquet IHE_XDM",
            "INDEX.HTM": "<html></html>",
            "IHE_XDM/SUBSET01/METADATA.XML": metadata,
            "IHE_XDM/SUBSET01/DOC0001.XML": "<ClinicalDocument/>",
        }
    )


def chunks(data: bytes, size: int = 1000):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_it_reads_the_patient_and_the_documents():
    package = xdm.read_package(chunks(xdm_zip()))
    assert package.subsets == ["SUBSET01"]
    patient = package.patient
    assert patient.ins == "248000000000000" and patient.id_root == "1.2.250.1.213.1.4.10"
    assert patient.display_name == "DURAND Marie Louise"
    assert patient.birth_date == "17/03/1952" and patient.sex == "Féminin"
    first, second = package.documents
    assert first.title == "Compte rendu de consultation de cardiologie"
    assert first.type_label == "Compte rendu de consultation" and first.type_code == "11488-4"
    assert first.author == "Alice MARTIN" and first.creation_time == "02/05/2024 14:30"
    assert first.uri == "DOC0001.XML" and first.present
    assert second.mime_type == "application/pdf" and not second.present  # announced but missing


def test_it_refuses_what_is_not_an_xdm_package():
    with pytest.raises(xdm.XdmError, match="archive ZIP"):
        xdm.read_package([b"%PDF-1.4 not a zip"])
    with pytest.raises(xdm.XdmError, match="METADATA.XML"):
        xdm.read_package([make_zip({"photo.jpg": b"..."})])
    with pytest.raises(xdm.XdmError, match="XML invalide"):
        xdm.read_package([xdm_zip("<not xml")])


def test_it_refuses_entity_declarations():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        "<lolz>&lol2;</lolz>"
    )
    with pytest.raises(xdm.XdmError, match="DOCTYPE"):
        xdm.read_package([xdm_zip(bomb)])


def test_it_recognises_xdm_attachments_by_name():
    assert xdm.looks_like_xdm("IHE_XDM.ZIP", "application/zip")
    assert xdm.looks_like_xdm("ihe_xdm.zip", "application/octet-stream")
    assert not xdm.looks_like_xdm("photos.zip", "application/zip")
    assert not xdm.looks_like_xdm("xdm.pdf", "application/pdf")


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_mailbox_keys")
def test_it_shows_the_package_from_the_message(client, alice_bal, cardio_bal, dr_alice, sec_bob):
    from django.urls import reverse

    from apps.messaging.models import MessageCopy
    from apps.messaging.store.mime import PartSource
    from tests.messaging.helpers import send

    package = xdm_zip()
    message = send(
        alice_bal,
        dr_alice,
        [cardio_bal.address],
        subject="XDM/1.0/DDM+Compte rendu DURAND Marie 17031952",
        text="CR en pièce jointe",
        attachments=[PartSource("IHE_XDM.ZIP", "application/zip", lambda: [package])],
    )
    copy = MessageCopy.objects.get(mailbox=cardio_bal, message=message)
    client.force_login(sec_bob)
    detail = client.get(reverse("messaging:message-detail", args=[cardio_bal.pk, copy.pk])).content.decode()
    assert "Contenu IHE_XDM" in detail
    assert '<h1 id="wm-subject">Compte rendu DURAND Marie 17031952</h1>' in detail  # prefix hidden
    page = client.get(reverse("messaging:attachment-xdm", args=[cardio_bal.pk, copy.pk, 0])).content.decode()
    assert "DURAND Marie Louise" in page and "17/03/1952" in page and "248000000000000" in page
    assert "Compte rendu de consultation de cardiologie" in page and "absent de l'archive" in page
