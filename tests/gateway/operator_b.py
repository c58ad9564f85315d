"""A second instance of the platform ("operator B", domain hopital-b.test) in its own processes and database.

It runs the same code (`manage.py run_smtp`, `manage.py shell`) with its own PostgreSQL database, blob
store, certificates and liste blanche, tasks in-process (no broker), so the two instances only meet over
SMTP with mutual TLS, exactly as two operators do.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.plugins.throwaway import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
DOMAIN_B = "hopital-b.test"

SEED = """
from apps.accounts.models import User, UserKind
from apps.annuaire.identifiers import compute_rpps_key
from apps.annuaire.models import Professional, Source
from apps.mailboxes.services import Address, do_create_nominative_mailbox
from apps.trust.dn import normalise_dn
from apps.trust.models import OperatorCertificateDN, TrustedDomain
body = "1000099999"
national_id = "8" + body + compute_rpps_key(body)
user = User.objects.create_user(email="dr.b@hopital-b.test", password=None, kind=UserKind.PROFESSIONAL,
                                national_id=national_id, first_name="Bruno", last_name="Berger")
Professional.objects.create(national_id=national_id, id_type="8", first_name="Bruno", last_name="BERGER",
                            profession_code="10", profession_label="Médecin", source=Source.LOCAL)
do_create_nominative_mailbox(owner=user, address=Address("dr.b", "hopital-b.test"), acting_user=None)
domain = TrustedDomain.objects.create(name="demo.mssante.fr", name_unicode="demo.mssante.fr")
OperatorCertificateDN.objects.create(domain=domain, dn=PEER_DN, dn_normalised=normalise_dn(PEER_DN))
"""

SEND = """
from apps.mailboxes.models import Mailbox
from apps.messaging.delivery.submit import Outgoing, do_submit_message
mailbox = Mailbox.objects.get(address="dr.b@hopital-b.test")
outgoing = Outgoing(mailbox=mailbox, to=["alice.martin@demo.mssante.fr"], subject="Réponse de B",
                    text="Bonjour Alice, voici mon avis.", read_receipt=True)
message = do_submit_message(outgoing, acting_user=mailbox.owner)
print("MESSAGE-ID", message.message_id)
"""

REPORT = """
import json
from apps.messaging.store import content
from apps.messaging.models import Delivery, MessageCopy
rows = []
for copy in MessageCopy.objects.filter(mailbox__address="dr.b@hopital-b.test").select_related("message"):
    key = content.data_key_of_copy(copy)
    rows.append({"subject": content.open_text(key, copy.message_id, "subject", copy.message.subject_enc),
                 "signature": copy.message.signature_state, "outgoing": copy.is_outgoing,
                 "sha256": copy.message.sha256})
states = list(Delivery.objects.values_list("recipient", "state", "read_at"))
print("REPORT", json.dumps({"copies": rows, "deliveries": [[r, s, bool(t)] for r, s, t in states]}))
"""


@dataclass
class OperatorB:
    workdir: Path
    database_url: str
    cert: Path
    key: Path
    ca: Path
    smime_cert: Path
    smime_key: Path
    smime_ca: Path
    routes: str
    port: int = field(default_factory=free_port)
    server: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            MSSANTE_DEV="1",
            DEBUG="0",
            DATABASE_URL=self.database_url,
            MSSANTE_VAR_DIR=str(self.workdir),
            MESSAGE_STORE_DIR=str(self.workdir / "messages"),
            OPERATOR_DOMAINS=DOMAIN_B,
            OPERATOR_NAME="Operateur B",
            GATEWAY_CERT_FILE=str(self.cert),
            GATEWAY_KEY_FILE=str(self.key),
            GATEWAY_CA_FILES=str(self.ca),
            GATEWAY_ROUTES=self.routes,
            GATEWAY_HOSTNAME="mx.hopital-b.test",
            SMIME_CERT_FILE=str(self.smime_cert),
            SMIME_KEY_FILE=str(self.smime_key),
            SMIME_CA_FILES=str(self.smime_ca),
            LISTE_BLANCHE_PROCESS_CACHE="0",
        )
        return env

    def manage(self, *args: str, timeout: int = 240) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"operator B: manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code: str, **values: str) -> str:
        prelude = "".join(f"{name} = {value!r}\n" for name, value in values.items())
        return self.manage("shell", "-c", prelude + code)

    def create_database(self) -> None:
        name = self.database_url.rsplit("/", 1)[1]
        admin = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.manage("migrate", "--noinput", "-v0", timeout=600)

    def drop_database(self) -> None:
        name = self.database_url.rsplit("/", 1)[1]
        admin = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start_smtp(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "manage.py", "run_smtp", "--port", str(self.port), "--smtps-port", "0"],
            cwd=BASE_DIR,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError as exc:
                if self.server.poll() is not None:
                    output = self.server.stdout.read() if self.server.stdout else ""
                    raise AssertionError(f"operator B's gateway exited:\n{output}") from exc
                time.sleep(0.2)
        raise AssertionError("operator B's gateway did not start within 60 s")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def report(self) -> dict[str, Any]:
        out = self.shell(REPORT)
        line = next(line for line in out.splitlines() if line.startswith("REPORT "))
        return json.loads(line.removeprefix("REPORT "))
