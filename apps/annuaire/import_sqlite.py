"""Portable (SQLite, `make run`) path of the import: the same semantics as import_pg with the ORM.

Only meant for the demo's few hundred lines: keys seen are kept in Python sets and rows are compared in
Python. The PostgreSQL path is the one that scales (see import_pg.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.annuaire.formats import BAL_COLUMNS, ENTITY_KEYS, PLACE_COLUMNS, PRO_COLUMNS, Format, struct_columns
from apps.annuaire.import_pg import ENTITIES, SCOPE
from apps.annuaire.import_result import Batch, ImportResult
from apps.annuaire.lexicon import refresh_lexicon
from apps.annuaire.models import BalAddress, ExercisePlace, Professional, Source, Structure


class PortableBackend:
    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.seen: dict[str, dict[str, int]] = {name: {} for name in ENTITY_KEYS}
        self.pro_ids: dict[str, int] = {}
        self.struct_ids: dict[str, int] = {}

    def start(self, result: ImportResult, total_bytes: int = 0) -> None:
        for name in SCOPE[self.fmt]:
            result.entity(name).active_before = self._active(name).count()

    def _active(self, name: str):
        if name == "place":
            return ExercisePlace.objects.filter(is_active=True)
        model: Any = {"pro": Professional, "struct": Structure, "bal": BalAddress}[name]
        return model.objects.filter(is_active=True, source=Source.IMPORTED)

    def flush(self, batch: Batch, result: ImportResult) -> None:
        for name in ENTITIES[self.fmt]:
            for line_no, *values in batch.rows[name]:
                key = values[0]
                first = self.seen[name].setdefault(key, line_no)
                if first != line_no:
                    if name == "bal":
                        result.reject(line_no, f"adresse BAL déjà présente ligne {first}")
                    continue
                getattr(self, f"_upsert_{name}")(values, result.entity(name))

    def _save(self, model, lookup: dict, values: dict, counts, *, may_update: bool = True):
        obj = model.objects.filter(**lookup).first()
        values = {**values, "is_active": True}
        if obj is None:
            obj = model.objects.create(**lookup, **values)
            counts.created += 1
        elif may_update and any(getattr(obj, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(obj, field, value)
            obj.updated_at = timezone.now()
            obj.save()
            counts.updated += 1
        return obj

    def _upsert_pro(self, values: list, counts) -> None:
        data = dict(zip(PRO_COLUMNS, values, strict=True))
        lookup = {"national_id": data.pop("national_id")}
        obj = self._save(Professional, lookup, {**data, "source": Source.IMPORTED}, counts)
        self.pro_ids[obj.national_id] = obj.pk

    def _upsert_struct(self, values: list, counts) -> None:
        columns = struct_columns(self.fmt)
        data = dict(zip(columns, values, strict=True))
        lookup = {"idnat": data.pop("idnat")}
        existing = Structure.objects.filter(**lookup).values_list("sector_code", flat=True).first()
        may_update = self.fmt is Format.ACTIVITY or not existing  # see import_pg.structure_upsert
        obj = self._save(
            Structure, lookup, {**data, "source": Source.IMPORTED}, counts, may_update=may_update
        )
        self.struct_ids[obj.idnat] = obj.pk

    def _upsert_place(self, values: list, counts) -> None:
        data = dict(zip(PLACE_COLUMNS, values, strict=True))
        pro_id, struct_id = self.pro_ids.get(data["national_id"]), self.struct_ids.get(data["idnat"])
        if pro_id is None or struct_id is None:
            return
        lookup = {"professional_id": pro_id, "structure_id": struct_id, "role_code": data["role_code"]}
        fields = {name: data[name] for name in PLACE_COLUMNS[4:]}
        self._save(ExercisePlace, lookup, fields, counts)

    def _upsert_bal(self, values: list, counts) -> None:
        data = dict(zip(BAL_COLUMNS, values, strict=True))
        address, national_id, idnat = data.pop("address"), data.pop("national_id"), data.pop("idnat")
        data["professional_id"] = self.pro_ids.get(national_id) if national_id else None
        data["structure_id"] = self.struct_ids.get(idnat) if idnat else None
        existing = BalAddress.objects.filter(address=address).values_list("source", flat=True).first()
        if existing == Source.LOCAL:
            return  # hosted here: this platform is the authority (see import_pg.bal_upsert)
        self._save(BalAddress, {"address": address}, {**data, "source": Source.IMPORTED}, counts)

    def deactivate(self, result: ImportResult) -> None:
        now = timezone.now()
        for name in SCOPE[self.fmt]:
            queryset = self._active(name)
            if name == "place":
                keep = [
                    place.pk
                    for place in queryset.select_related("professional", "structure")
                    if f"{place.professional.national_id}|{place.structure.idnat}|{place.role_code}"
                    in self.seen["place"]
                ]
                queryset = queryset.exclude(pk__in=keep)
            else:
                queryset = queryset.exclude(**{f"{ENTITY_KEYS[name]}__in": list(self.seen[name])})
            if name in ("pro", "struct"):
                field = "professional" if name == "pro" else "structure"
                active_bal = BalAddress.objects.filter(Q(**{field: OuterRef("pk")}), is_active=True)
                queryset = queryset.exclude(Exists(active_bal))
            result.entity(name).deactivated += queryset.update(is_active=False, updated_at=now)

    def finish(self) -> None:
        if self.fmt is Format.MSSANTE:
            refresh_lexicon()
