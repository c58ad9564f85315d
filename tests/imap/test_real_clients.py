"""Real mail clients against a live IMAP server: isync (mbsync) synchronising a BAL both ways, neomutt in
tmux opening, reading and deleting a message. Debian packages (scripts/ensure_imap_clients.sh installs them
in CI); without them these tests skip and say why.

The BAL holds `IMAP_MBSYNC_MESSAGES` messages, 5,000 by default as the issue asks (about a minute on a calm
machine, docs/benchmarks.md). The BAL is seeded with 20 distinct messages delivered through
the platform, then further copies of them (the sync sees distinct UIDs and files; content repeats).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from apps.audit.models import AuditEvent
from apps.messaging.models import Folder, FolderRole, MessageCopy
from apps.messaging.webmail.services import do_move_copies, do_set_flag
from tests.imap.conftest import app_password
from tests.messaging.helpers import send

pytestmark = pytest.mark.slow
MESSAGES = int(os.environ.get("IMAP_MBSYNC_MESSAGES", "5000"))
DISTINCT = 20


def _seed(bal, sender_bal, sender, count: int) -> None:
    for index in range(min(count, DISTINCT)):
        send(sender_bal, sender, [bal.address], subject=f"Compte rendu {index}", text=f"Examen {index}.")
    originals = list(MessageCopy.objects.filter(mailbox=bal, folder__role=FolderRole.INBOX).order_by("uid"))
    clones = []
    for index in range(count - len(originals)):
        source = originals[index % len(originals)]
        clones.append(
            MessageCopy(
                mailbox_id=bal.pk,
                message_id=source.message_id,
                folder_id=source.folder_id,
                data_key_wrap=source.data_key_wrap,
                received_at=source.received_at,
            )
        )
    for start in range(0, len(clones), 1000):  # UIDs given by the copy trigger
        MessageCopy.objects.bulk_create(clones[start : start + 1000])


def _mbsync_config(tmp: Path, port: int, ca: Path, user, secret: str) -> Path:
    local = tmp / "mail"
    local.mkdir()
    config = tmp / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount mss
Host localhost
Port {port}
User {user.email}
Pass {secret}
SSLType IMAPS
CertificateFile {ca}
AuthMechs LOGIN
PipelineDepth 50

IMAPStore far
Account mss

MaildirStore near
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel bal
Far :far:
Near :near:
Patterns * !Partag*
Create Both
Remove None
Expunge Both
SyncState *
Sync All
"""
    )
    return config


def _sync(config: Path) -> str:
    result = subprocess.run(
        ["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _state(root: Path, bal) -> tuple[list[str], list[tuple]]:
    """Everything a sync could change: the near side's files (names carry the flags) and the far side's
    copies (folder, UID, flags, stamp of the last flag change)."""
    near = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    far = list(
        MessageCopy.objects.filter(mailbox=bal)
        .order_by("folder_id", "uid")
        .values_list("folder_id", "uid", "is_read", "is_flagged", "imap_deleted", "modseq")
    )
    return near, far


def _files(folder: Path) -> list[Path]:
    return sorted([*(folder / "cur").iterdir(), *(folder / "new").iterdir()])


@pytest.mark.skipif(
    shutil.which("mbsync") is None, reason="isync (mbsync) absent : scripts/ensure_imap_clients.sh"
)
def test_mbsync_synchronises_a_bal_both_ways_then_has_nothing_left_to_transfer(
    connect, imap_pki, tmp_path, dr_alice, alice_bal, sec_bob, cardio_bal
):
    _seed(alice_bal, cardio_bal, sec_bob, MESSAGES)
    secret = app_password(dr_alice, label="mbsync")
    config = _mbsync_config(tmp_path, connect.server.imaps_port, imap_pki.ca.cert_path, dr_alice, secret)
    inbox_dir = tmp_path / "mail" / "INBOX"

    started = time.monotonic()
    _sync(config)
    first_sync = time.monotonic() - started
    assert len(_files(inbox_dir)) == MESSAGES

    # Server side (webmail): flag the newest message, move the one before it to Archives.
    inbox = MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX).order_by("-uid")
    flagged, moved = inbox[0], inbox[1]
    do_set_flag(flagged, flagged=True, user=dr_alice)
    do_move_copies(
        [moved], folder=Folder.objects.get(mailbox=alice_bal, role=FolderRole.ARCHIVE), user=dr_alice
    )
    # Near side (the laptop): read one message, delete another, make a new folder.
    files = _files(inbox_dir)
    read_file, deleted_file = files[0], files[1]
    read_file.rename(inbox_dir / "cur" / (read_file.name.split(":2,")[0] + ":2,S"))
    deleted_file.unlink()
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "mail" / "Projets" / sub).mkdir(parents=True)

    _sync(config)
    assert Folder.objects.filter(mailbox=alice_bal, name="Projets").exists()
    in_inbox = MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
    assert in_inbox.count() == MESSAGES - 2  # one moved by the webmail, one deleted on the laptop
    assert in_inbox.filter(is_read=True).count() == 1
    trash = MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.TRASH)
    assert trash.count() == 1  # an IMAP deletion goes to the Corbeille: nothing lost
    near_inbox = _files(inbox_dir)
    assert len(near_inbox) == MESSAGES - 2
    assert sum(1 for f in near_inbox if f.name.endswith(("F", "FS")) or ":2,F" in f.name) == 1
    archives = [d for d in (tmp_path / "mail").iterdir() if d.name == "Archives"]
    assert archives and len(_files(archives[0])) == 1

    _sync(config)  # the Corbeille's new copy (filed by the server during the previous run) comes down
    before = _state(tmp_path / "mail", alice_bal)
    _sync(config)
    assert _state(tmp_path / "mail", alice_bal) == before  # nothing left to transfer either way
    print(f"mbsync: first sync of {MESSAGES} messages in {first_sync:.1f} s")


@pytest.mark.skipif(
    shutil.which("neomutt") is None or shutil.which("tmux") is None,
    reason="neomutt ou tmux absent : scripts/ensure_imap_clients.sh",
)
def test_neomutt_in_tmux_opens_reads_and_deletes_a_message(
    connect, imap_pki, tmp_path, dr_alice, alice_bal, sec_bob, cardio_bal
):
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Résultats à lire", text="Bilan sanguin normal.")
    send(cardio_bal, sec_bob, [alice_bal.address], subject="Second message", text="Autre chose.")
    secret = app_password(dr_alice, label="neomutt")
    port = connect.server.imaps_port
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f"""set folder = "imaps://localhost:{port}/"
set spoolfile = "+INBOX"
set imap_user = "{dr_alice.email}"
set imap_pass = "{secret}"
set certificate_file = "{tmp_path}/certificates"
set ssl_ca_certificates_file = "{imap_pki.ca.cert_path}"
set imap_check_subscribed = no
set mail_check = 1
set timeout = 1
set delete = yes
set confirmappend = no
set sort = date
set pager_stop = yes
set header_cache = ""
set message_cachedir = ""
set charset = "utf-8"
"""
    )
    session = f"neomutt-{os.getpid()}"
    env = {**os.environ, "TERM": "xterm-256color", "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    tmux = ["tmux", "-L", session]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "40", f"neomutt -n -F {muttrc}"],
        env=env,
        check=True,
    )

    def screen() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True, env=env, check=False
        ).stdout

    def wait_for(text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"« {text} » not shown:\n{screen()}")

    def keys(*names: str) -> None:
        subprocess.run([*tmux, "send-keys", "-t", session, *names], env=env, check=True)

    try:
        wait_for("Second message")
        wait_for("Résultats à lire")
        keys("/", "Résultats", "Enter")  # select the message by its subject, then open it
        keys("Enter")
        wait_for("Bilan sanguin normal.")
        keys("q")
        wait_for("Second message")
        keys("d", "$")  # delete it and sync the mailbox (expunge)
        deadline = time.monotonic() + 30
        inbox = MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.INBOX)
        while inbox.count() != 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert inbox.count() == 1 and inbox.get().is_read is False  # only the other message is left
        # Deleted in neomutt: in the Corbeille (nothing lost); reading it was journaled as a consultation.
        assert MessageCopy.objects.filter(mailbox=alice_bal, folder__role=FolderRole.TRASH).count() == 1
        assert AuditEvent.objects.filter(action="imap.message_consulted", actor_id=dr_alice.pk).exists()
        keys("q")
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, check=False)
