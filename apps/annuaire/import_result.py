"""What an import run accumulates: batches of parsed rows and the counts it reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from apps.annuaire.formats import ParsedLine

ENTITY_LABELS = {
    "pro": "professionnels",
    "struct": "structures",
    "place": "lieux d'exercice",
    "bal": "adresses BAL",
}
REJECTIONS_KEPT = 200  # the first ones are kept for the summary and the journal; all go to stderr


@dataclass
class EntityCounts:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    active_before: int = 0

    @property
    def deactivated_share(self) -> float:
        return self.deactivated / self.active_before if self.active_before else 0.0


@dataclass
class ImportResult:
    format: str
    source: str
    lines: int = 0
    rejected: int = 0
    forced: bool = False
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    rejections: list[tuple[int, str]] = field(default_factory=list)
    # Called for every rejected line as it is found (the command prints them to stderr).
    on_reject: Callable[[int, str], None] | None = field(default=None, repr=False)

    def entity(self, name: str) -> EntityCounts:
        return self.counts.setdefault(name, EntityCounts())

    def reject(self, line_no: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < REJECTIONS_KEPT:
            self.rejections.append((line_no, reason))
        if self.on_reject is not None:
            self.on_reject(line_no, reason)

    def total(self, attribute: str) -> int:
        return sum(getattr(counts, attribute) for counts in self.counts.values())

    def summary(self) -> str:
        lines = [f"Import {self.format} ({self.source}) : {self.lines} lignes lues."]
        for name, counts in self.counts.items():
            lines.append(
                f"  {ENTITY_LABELS[name]} : {counts.created} créé(e)s, {counts.updated} mis(es) à jour, "
                f"{counts.deactivated} désactivé(e)s"
            )
        lines.append(
            f"Total : {self.total('created')} créés, {self.total('updated')} mis à jour, "
            f"{self.total('deactivated')} désactivés, {self.rejected} lignes rejetées."
        )
        return "\n".join(lines)

    def as_details(self) -> dict:
        return {
            "format": self.format,
            "source": self.source,
            "lines": self.lines,
            "created": self.total("created"),
            "updated": self.total("updated"),
            "deactivated": self.total("deactivated"),
            "rejected": self.rejected,
            "forced": self.forced,
            "entities": {name: vars(counts) for name, counts in self.counts.items()},
        }


@dataclass
class Batch:
    rows: dict[str, list[tuple]] = field(
        default_factory=lambda: {"pro": [], "struct": [], "place": [], "bal": []}
    )
    size: int = 0

    def add(self, line_no: int, parsed: ParsedLine) -> None:
        for name, row in (
            ("pro", parsed.professional),
            ("struct", parsed.structure),
            ("place", parsed.place),
            ("bal", parsed.bal),
        ):
            if row is not None:
                self.rows[name].append((line_no, *row))
        self.size += 1

    def clear(self) -> None:
        for rows in self.rows.values():
            rows.clear()
        self.size = 0
