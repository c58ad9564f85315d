"""The OpenAPI 3.1 description of the applicative API, served at /api/v1/openapi.json.

Written by hand next to the views it describes (no framework dependency, ADR 0013); a test checks that every
route of apps/messaging/api/urls.py appears here and the other way round, and validates the document.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


_COMMON_ERRORS = {
    "401": _problem("Jeton ou certificat absent, inconnu ou révoqué."),
    "403": _problem(
        "BAL applicative suspendue, ou certificat client révoqué, non transmis par le frontal ou dont la "
        "révocation ne peut pas être vérifiée (codes mailbox_suspended, certificate_revoked, "
        "certificate_missing, revocation_unavailable)."
    ),
    "429": {
        **_problem("Trop de requêtes pour cet identifiant ; réessayer après Retry-After secondes."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Secondes à attendre."}},
    },
}

_COPY_ID = {"name": "copy_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}

_SUBMISSION_FIELDS: dict[str, Any] = {
    "to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1},
    "cc": {"type": "array", "items": {"type": "string", "format": "email"}},
    "bcc": {"type": "array", "items": {"type": "string", "format": "email"}},
    "subject": {"type": "string", "maxLength": 998},
    "body": {"type": "string", "description": "Corps du message, texte brut (UTF-8)."},
    "patient_ins": {"type": "string", "description": "Matricule INS du patient concerné (15 caractères)."},
    "read_receipt": {"type": "boolean", "default": False, "description": "Demander un accusé de lecture."},
}

_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["status", "code", "detail"],
        "properties": {
            "status": {"type": "integer"},
            "code": {"type": "string"},
            "detail": {"type": "string", "description": "Explication en français."},
            "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            "refusals": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "SubmissionMetadata": {"type": "object", "required": ["to"], "properties": _SUBMISSION_FIELDS},
    "Base64Attachment": {
        "type": "object",
        "required": ["filename", "content_base64"],
        "properties": {
            "filename": {"type": "string", "maxLength": 255},
            "content_type": {"type": "string", "default": "application/octet-stream"},
            "content_base64": {"type": "string", "contentEncoding": "base64"},
        },
    },
    "JsonSubmission": {
        "type": "object",
        "required": ["to"],
        "properties": {
            **_SUBMISSION_FIELDS,
            "attachments": {"type": "array", "items": _ref("Base64Attachment")},
        },
    },
    "MultipartSubmission": {
        "type": "object",
        "required": ["metadata"],
        "properties": {
            "metadata": {"type": "string", "description": "SubmissionMetadata encodé en JSON."},
            "attachments": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    },
    "RecipientState": {
        "type": "object",
        "required": ["address", "state"],
        "properties": {
            "address": {"type": "string"},
            "state": {"type": "string", "enum": ["held", "queued", "sending", "delivered", "failed"]},
            "state_label": {"type": "string"},
            "delivered_at": {"type": ["string", "null"], "format": "date-time"},
            "read_at": {"type": ["string", "null"], "format": "date-time"},
            "failed_at": {"type": ["string", "null"], "format": "date-time"},
            "reason": {"type": "string"},
        },
    },
    "Submission": {
        "type": "object",
        "required": ["id", "status", "validation", "recipients"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "message_id": {"type": "string", "description": "En-tête Message-ID."},
            "submitted_at": {"type": "string", "format": "date-time"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "status": {"type": "string", "enum": ["held", "validated", "rejected", "failed"]},
            "validation": {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["held", "validated", "rejected", "failed"]},
                    "decided_at": {"type": ["string", "null"], "format": "date-time"},
                    "decided_by": {"type": "string"},
                    "reason": {"type": "string", "description": "Motif du refus ou de l'échec."},
                },
            },
            "recipients": {"type": "array", "items": _ref("RecipientState")},
        },
    },
    "InboxItem": {
        "type": "object",
        "required": ["id", "subject", "received_at"],
        "properties": {
            "id": {"type": "integer"},
            "message_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["normal", "bounce", "report"]},
            "from": {
                "type": "object",
                "properties": {"address": {"type": "string"}, "name": {"type": "string"}},
            },
            "to": {"type": "array", "items": {"type": "string"}},
            "subject": {"type": "string"},
            "snippet": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "size": {"type": "integer"},
            "has_attachments": {"type": "boolean"},
            "processed": {"type": "boolean"},
        },
    },
    "InboxPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("InboxItem")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "AttachmentInfo": {
        "type": "object",
        "properties": {
            "position": {"type": "integer"},
            "filename": {"type": "string"},
            "content_type": {"type": "string"},
            "size": {"type": "integer"},
            "url": {"type": "string"},
        },
    },
    "InboxMessage": {
        "allOf": [
            _ref("InboxItem"),
            {
                "type": "object",
                "properties": {
                    "cc": {"type": "array", "items": {"type": "string"}},
                    "sent_at": {"type": "string", "format": "date-time"},
                    "in_reply_to": {"type": "string"},
                    "patient_ins": {"type": "string"},
                    "read_receipt_requested": {"type": "boolean"},
                    "body": {"type": "string"},
                    "body_html": {"type": ["string", "null"]},
                    "sha256": {"type": "string"},
                    "attachments": {"type": "array", "items": _ref("AttachmentInfo")},
                },
            },
        ]
    },
    "Processed": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "processed": {"type": "boolean"},
            "changed": {"type": "boolean"},
        },
    },
}


def _paths() -> dict[str, Any]:
    return {
        "/messages": {
            "post": {
                "operationId": "submitMessage",
                "summary": "Déposer un message (en attente de validation par le professionnel responsable)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 150},
                        "description": "La même clé renvoie le premier dépôt (200) au lieu d'en créer un.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("JsonSubmission")},
                        "multipart/form-data": {"schema": _ref("MultipartSubmission")},
                    },
                },
                "responses": {
                    "201": _json(_ref("Submission"), "Message déposé, en attente de validation."),
                    "200": _json(_ref("Submission"), "Clé d'idempotence déjà utilisée : premier dépôt."),
                    "400": _problem("Demande mal formée."),
                    "413": _problem("Message trop volumineux."),
                    "415": _problem("Type de contenu non pris en charge."),
                    "422": _problem("Destinataires refusés (motif par adresse dans « refusals »)."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/messages/{message_id}": {
            "get": {
                "operationId": "getSubmission",
                "summary": "État d'un dépôt : en attente, validé ou refusé (motif), remise par destinataire",
                "parameters": [
                    {
                        "name": "message_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {
                    "200": _json(_ref("Submission"), "État du dépôt."),
                    "404": _problem("Aucun dépôt de cette BAL sous cet identifiant."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/inbox": {
            "get": {
                "operationId": "listInbox",
                "summary": "Messages reçus, du plus récent au plus ancien (pagination par curseur)",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["unprocessed", "processed"],
                            "default": "unprocessed",
                        },
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                ],
                "responses": {
                    "200": _json(_ref("InboxPage"), "Une page de messages."),
                    "400": _problem("Paramètre invalide."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/inbox/{copy_id}": {
            "get": {
                "operationId": "getInboxMessage",
                "summary": "Un message reçu : métadonnées, corps et liste des pièces jointes",
                "parameters": [_COPY_ID],
                "responses": {
                    "200": _json(_ref("InboxMessage"), "Le message."),
                    "404": _problem("Aucun message reçu de cette BAL sous cet identifiant."),
                    "410": _problem("Le message ne peut plus être déchiffré."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/inbox/{copy_id}/attachments/{position}": {
            "get": {
                "operationId": "getInboxAttachment",
                "summary": "Télécharger une pièce jointe (flux)",
                "parameters": [
                    _COPY_ID,
                    {
                        "name": "position",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Le fichier, avec son type déclaré.",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "404": _problem("Pièce jointe introuvable."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/inbox/{copy_id}/processed": {
            "post": {
                "operationId": "markInboxMessageProcessed",
                "summary": "Marquer un message reçu comme traité (classé dans Archives, journalisé)",
                "parameters": [_COPY_ID],
                "responses": {
                    "200": _json(_ref("Processed"), "Message marqué traité."),
                    "404": _problem("Aucun message reçu de cette BAL sous cet identifiant."),
                    **_COMMON_ERRORS,
                },
            }
        },
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "API des BAL applicatives MSSanté",
            "version": API_VERSION,
            "description": (
                "Dépôt de messages par les logiciels (DPI, SIL…) et lecture de la BAL applicative. Chaque "
                "message déposé attend la validation du professionnel responsable de la BAL avant d'être "
                "envoyé. Authentification : « Authorization: Bearer <préfixe>.<secret> » ou certificat "
                "client."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerToken": []}, {"clientCertificate": []}],
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "<préfixe>.<secret>"},
                "clientCertificate": {
                    "type": "mutualTLS",
                    "description": "Certificat vérifié par le frontal TLS.",
                },
            },
        },
    }
