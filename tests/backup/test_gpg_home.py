"""Each OpenPGP run has its own GNUPGHOME, gone afterwards with its agent; passphrases never in argv."""

from __future__ import annotations

from pathlib import Path

from apps.backup.gpg import temporary_home
from tests.backup.conftest import PASSPHRASE


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(argv)
    return found


def test_the_home_and_its_agent_are_gone_after_the_run_and_no_passphrase_is_in_argv(gpg_keys, tmp_path):
    source = tmp_path / "clair"
    source.write_bytes(b"donnees" * 1000)
    out = bytearray()
    with temporary_home() as pgp:
        home = pgp.home
        recipient = pgp.import_key(gpg_keys.public.read_text(), what="public")
        pgp.import_key(gpg_keys.secret.read_text(), what="secret", secret=True)  # starts the agent
        with open(source, "rb") as reader:
            pgp.encrypt_stream(reader, recipient, tmp_path / "chiffre.gpg")
        with open(tmp_path / "chiffre.gpg", "rb") as reader:
            pgp.decrypt_stream(reader, out.extend, passphrase=PASSPHRASE)
        assert not [argv for argv in _processes_mentioning(str(home)) if PASSPHRASE in argv]
    assert bytes(out) == source.read_bytes()
    assert not home.exists()
    assert not _processes_mentioning(str(home))  # gpg-agent of that home stopped
