from django.urls import path

from apps.messaging.compose import views as views_compose
from apps.messaging.compose import views_write_to
from apps.messaging.validation import views as views_validation
from apps.messaging.webmail import views, views_actions, views_poll

app_name = "messaging"
urlpatterns = [
    path("ecrire/", views_write_to.write_to, name="write-to"),
    path("<int:mailbox_id>/", views.inbox, name="inbox"),
    path("<int:mailbox_id>/dossier/<int:folder_id>/", views.folder, name="folder"),
    path("<int:mailbox_id>/dossier/<int:folder_id>/etat/", views_poll.folder_poll, name="folder-poll"),
    path("<int:mailbox_id>/recherche/", views.search, name="search"),
    path("<int:mailbox_id>/message/<int:copy_id>/", views.message_detail, name="message-detail"),
    path(
        "<int:mailbox_id>/message/<int:copy_id>/piece/<int:position>/",
        views.attachment_download,
        name="attachment-download",
    ),
    path(
        "<int:mailbox_id>/message/<int:copy_id>/piece/<int:position>/xdm/",
        views.attachment_xdm,
        name="attachment-xdm",
    ),
    # Writes of the reading side (views_actions.py).
    path("<int:mailbox_id>/messages/", views_actions.copies_update, name="copies-update"),
    path("<int:mailbox_id>/corbeille/vider/", views_actions.trash_empty, name="trash-empty"),
    path("<int:mailbox_id>/dossiers/", views_actions.folder_create, name="folder-create"),
    path(
        "<int:mailbox_id>/dossier/<int:folder_id>/renommer/",
        views_actions.folder_rename,
        name="folder-rename",
    ),
    path(
        "<int:mailbox_id>/dossier/<int:folder_id>/supprimer/",
        views_actions.folder_delete,
        name="folder-delete",
    ),
    path(
        "<int:mailbox_id>/message/<int:copy_id>/attribuer/",
        views_actions.message_assign,
        name="message-assign",
    ),
    path(
        "<int:mailbox_id>/message/<int:copy_id>/statut/", views_actions.message_status, name="message-status"
    ),
    path("<int:mailbox_id>/message/<int:copy_id>/notes/", views_actions.note_add, name="note-add"),
    path("<int:mailbox_id>/message/<int:copy_id>/en-cours/", views.message_replying, name="message-replying"),
    # The composer, drafts and the sender's timeline (views_compose.py).
    path("<int:mailbox_id>/ecrire/", views_compose.compose, name="compose"),
    path("<int:mailbox_id>/ecrire/enregistrer/", views_compose.draft_save, name="draft-save"),
    path(
        "<int:mailbox_id>/ecrire/pieces-jointes/",
        views_compose.draft_attachment_upload,
        name="draft-attachment-upload",
    ),
    path(
        "<int:mailbox_id>/ecrire/pieces-jointes/<int:attachment_id>/retirer/",
        views_compose.draft_attachment_delete,
        name="draft-attachment-delete",
    ),
    path("<int:mailbox_id>/ecrire/supprimer/", views_compose.draft_delete, name="draft-delete"),
    path("<int:mailbox_id>/ecrire/verifier/", views_compose.recipient_check, name="recipient-check"),
    path(
        "<int:mailbox_id>/message/<int:copy_id>/suivi/",
        views_compose.message_timeline,
        name="message-timeline",
    ),
    path("preferences/", views_compose.preferences, name="preferences"),
    # Validation queue of applicative BALs (views_validation.py).
    path("<int:mailbox_id>/validation/", views_validation.validation_queue, name="validation-queue"),
    path(
        "<int:mailbox_id>/validation/valider/",
        views_validation.validation_validate,
        name="validation-validate",
    ),
    path(
        "<int:mailbox_id>/validation/<uuid:message_id>/",
        views_validation.validation_detail,
        name="validation-detail",
    ),
    path(
        "<int:mailbox_id>/validation/<uuid:message_id>/refuser/",
        views_validation.validation_reject,
        name="validation-reject",
    ),
]
