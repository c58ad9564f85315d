"""Delivery status notifications (DSN, RFC 3464) and read receipts (MDN, RFC 8098): built and parsed.

Both are `multipart/report` (RFC 6522): a French text for people, a machine-readable part, then the original
headers (or the whole original). Parsing turns any inbound report into `Report` entries the messaging app
applies to the sender's per-recipient timeline, matched on the original Message-ID (MDN, returned headers)
or on the envelope id (ENVID) we set when sending (DSN). Non-standard bounces (plain-text "failure notice")
are read on a best-effort basis and flagged `standard=False`.
"""

from __future__ import annotations

from .build import MdnRequest, RecipientStatus, build_dsn, build_mdn, mdn_request, request_mdn
from .codes import (
    DISPLAYED,
    PROCESSED,
    PROCESSING_ERROR,
    Disposition,
    Outcome,
    Report,
    ReportEntry,
    describe_status,
    parse_status,
)
from .parse import parse_report

__all__ = [
    "DISPLAYED",
    "PROCESSED",
    "PROCESSING_ERROR",
    "Disposition",
    "MdnRequest",
    "Outcome",
    "RecipientStatus",
    "Report",
    "ReportEntry",
    "build_dsn",
    "build_mdn",
    "describe_status",
    "mdn_request",
    "parse_report",
    "parse_status",
    "request_mdn",
]
