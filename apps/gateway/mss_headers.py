"""MSSanté message conventions: the X-MSS-* headers, the [FIN] subject marker and IHE_XDM subjects.

Sources (../shared/docs/mssante.md §1, §5): Ref#2 ECO.2.4.1-3 (X-MSS-CODECDA, X-MSS-INS, X-MSS-NIL),
ECO.2.2.8 (X-MSS-MES: FIN), ECO.2.1.3 and SC.MSS/UX.28 (XDM/1.0/DDM+ subjects, prefix hidden in the UI), the
CDA-courriel IG (KO subjects of integration errors). Pure functions over `email.message` objects.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from apps.messaging import policies
from apps.messaging.policies import FIN_MARKER, FIN_VALUE, is_fin_mes, is_fin_subject

X_MSS_CODECDA = "X-MSS-CODECDA"
X_MSS_INS = "X-MSS-INS"
X_MSS_NIL = "X-MSS-NIL"
X_MSS_MES = "X-MSS-MES"
# Headers a relay, a forward or a re-signature must carry over unchanged.
MSS_HEADERS = (X_MSS_CODECDA, X_MSS_INS, X_MSS_NIL, X_MSS_MES)

XDM_PREFIX = "XDM/1.0/DDM+"
XDM_ARCHIVE_NAME = "IHE_XDM.ZIP"
KO_PREFIX = "[KO Intégration système !]"

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\Z")
_BIRTH_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})\Z")
_KO = re.compile(r"\[KO Int[ée]gration syst[èe]me\s*!\s*\]\s*\[([^\]]+)\]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class MssHeaders:
    """The MSSanté header values of one message; construction refuses combinations Ref#2 forbids."""

    cda_codes: tuple[str, ...] = ()  # X-MSS-CODECDA: the `code` of each CDA in the IHE_XDM archive
    ins_qualified: bool | None = None  # X-MSS-INS: O/N, only when a CDA is attached
    nil: str | None = None  # X-MSS-NIL: the product's convergence reference, on every message
    closes_exchange: bool = False  # X-MSS-MES: FIN, the patient may no longer reply

    def __post_init__(self) -> None:
        bad = [code for code in self.cda_codes if not _TOKEN.match(code)]
        if bad:
            raise ValueError(f"invalid CDA code(s) for {X_MSS_CODECDA}: {bad}")
        if self.ins_qualified is not None and not self.cda_codes:
            raise ValueError(f"{X_MSS_INS} is only allowed when a CDA is attached (ECO.2.4.2)")
        if self.nil is not None and not _TOKEN.match(self.nil):
            raise ValueError(f"invalid {X_MSS_NIL} product reference {self.nil!r}")


def read_mss_headers(message: Message) -> MssHeaders:
    """Tolerant reading of another operator's values: unknown INS values and malformed codes are dropped
    rather than failing the delivery."""
    codes: list[str] = []
    for value in message.get_all(X_MSS_CODECDA) or ():
        codes += [code.strip() for code in str(value).split(",") if _TOKEN.match(code.strip())]
    ins = {"O": True, "N": False}.get(str(message.get(X_MSS_INS, "")).strip().upper())
    nil = str(message.get(X_MSS_NIL, "")).strip()
    return MssHeaders(
        cda_codes=tuple(dict.fromkeys(codes)),
        ins_qualified=ins if codes else None,
        nil=nil if _TOKEN.match(nil) else None,
        closes_exchange=is_fin_mes(message.get_all(X_MSS_MES) or ()),
    )


def write_mss_headers(message: EmailMessage | Message, headers: MssHeaders) -> None:
    """Replace every X-MSS-* header of `message` by `headers` (absent values leave no header)."""
    for name in MSS_HEADERS:
        del message[name]
    if headers.cda_codes:
        message[X_MSS_CODECDA] = ",".join(headers.cda_codes)
        if headers.ins_qualified is not None:
            message[X_MSS_INS] = "O" if headers.ins_qualified else "N"
    if headers.nil:
        message[X_MSS_NIL] = headers.nil
    if headers.closes_exchange:
        message[X_MSS_MES] = FIN_VALUE


def copy_mss_headers(source: Message, target: EmailMessage | Message) -> None:
    """Carry the X-MSS-* headers of `source` over to `target` verbatim (relays, re-signing)."""
    for name in MSS_HEADERS:
        del target[name]
        for value in source.get_all(name) or ():
            target[name] = value


# ------------------------------------------------------------------------------------------------- [FIN]


def closes_exchange(message: Message) -> bool:
    """A professional closes a patient thread with `X-MSS-MES: FIN` (preferred) or `[FIN]` in the subject."""
    return policies.closes_exchange(str(message.get("Subject", "")), message.items())


def with_fin(subject: str) -> str:
    """The subject with the [FIN] marker appended once."""
    return subject if is_fin_subject(subject) else f"{subject} {FIN_MARKER}".strip()


# ----------------------------------------------------------------------------------------------- IHE_XDM


@dataclass(frozen=True)
class XdmSubject:
    """The parts of `[KO …][code] XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>`.

    Names are single words in this convention, so with compound names the split is a best effort: the last
    word before the date is the first name, the one before it the last name, the rest the label."""

    label: str
    last_name: str | None = None
    first_name: str | None = None
    birth_date: dt.date | None = None
    ko_code: str | None = None  # the integration error code of a KO notification (900-906)


def build_xdm_subject(label: str, last_name: str, first_name: str, birth_date: dt.date) -> str:
    """Subject of a message carrying an IHE_XDM archive (ECO.2.1.3), e.g.
    `XDM/1.0/DDM+ECHOGRAPHIE ABDOMINOPELVIENNE CORSE Figatellix 12/10/1988`."""
    parts = [" ".join(label.split()), "-".join(last_name.upper().split()), "-".join(first_name.split())]
    if not all(parts):
        raise ValueError("an XDM subject needs a label, a last name and a first name")
    return f"{XDM_PREFIX}{' '.join(parts)} {birth_date:%d/%m/%Y}"


def ko_subject(subject: str, code: str) -> str:
    """Subject of an integration error notification (MDN or standard mail), per the CDA-courriel IG."""
    return f"{KO_PREFIX}[{code}] {subject}"


def is_xdm_subject(subject: str | None) -> bool:
    return subject is not None and XDM_PREFIX in subject


def parse_xdm_subject(subject: str | None) -> XdmSubject | None:
    """The XDM parts of a subject (reply/forward prefixes and a trailing [FIN] tolerated), or None."""
    if subject is None or XDM_PREFIX not in subject:
        return None
    head, _, rest = subject.partition(XDM_PREFIX)
    ko = _KO.search(head)
    words = rest.replace(FIN_MARKER, " ").split()
    birth = None
    if words and (match := _BIRTH_DATE.match(words[-1])):
        try:
            birth = dt.date(int(match[3]), int(match[2]), int(match[1]))
            words.pop()
        except ValueError:
            birth = None
    first = words.pop() if birth and len(words) >= 3 else None
    last = words.pop() if first else None
    return XdmSubject(" ".join(words), last, first, birth, ko[1].strip() if ko else None)


def display_subject(subject: str | None) -> str:
    """The subject as the webmail shows it: the technical `XDM/1.0/DDM+` prefix hidden (SC.MSS/UX.28)."""
    return " ".join((subject or "").replace(XDM_PREFIX, " ").split())


def is_xdm_archive(filename: str | None) -> bool:
    """IHE_XDM.ZIP attachments (any case; some software adds a path)."""
    if not filename:
        return False
    return filename.replace("\\", "/").rsplit("/", 1)[-1].upper() == XDM_ARCHIVE_NAME


# -------------------------------------------------------------------------------------- raw messages


def _header_block(raw: bytes) -> bytes:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[: min(ends)] if ends else raw


def ensure_nil(raw: bytes, nil: str) -> bytes:
    """`raw` with `X-MSS-NIL: <nil>` prepended when its header section has none (Ref#2 ECO.2.4.3: every
    message; a mail client's submission or a report we built may lack it). Prepending leaves the rest of the
    bytes, hence any S/MIME signature inside, untouched."""
    if not nil or re.search(rb"(?im)^x-mss-nil[ \t]*:", _header_block(raw)):
        return raw
    if not _TOKEN.match(nil):
        raise ValueError(f"invalid {X_MSS_NIL} product reference {nil!r}")
    newline = b"\r\n" if b"\r\n" in raw[:1000] or not raw else b"\n"
    return f"{X_MSS_NIL}: {nil}".encode("ascii") + newline + raw


def is_valid_nil(nil: str) -> bool:
    return bool(_TOKEN.match(nil))
