from django.urls import path

from apps.patients import portal, views, views_space

app_name = "patients"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("connexion/", portal.PortalLoginView.as_view(), name="login"),
    path("securite/", portal.secure, name="secure"),
    path("messages/<int:copy_id>/", views.thread, name="thread"),
    path("messages/<int:copy_id>/repondre/", views.reply, name="reply"),
    path("messages/<int:copy_id>/piece/<int:position>/", views.attachment, name="attachment"),
    path(
        "messages/<int:copy_id>/piece/<int:position>/enregistrer/",
        views.save_attachment,
        name="attachment-save",
    ),
    path("pharmacie/", views_space.pharmacies, name="pharmacies"),
    path("pharmacie/ecrire/", views_space.pharmacy_write, name="pharmacy-write"),
    path("documents/", views_space.documents, name="documents"),
    path("documents/ajouter/", views_space.document_upload, name="document-upload"),
    path("documents/<uuid:document_id>/", views_space.document_download, name="document-download"),
    path("documents/<uuid:document_id>/supprimer/", views_space.document_delete, name="document-delete"),
    path("transparence/", views_space.transparency, name="transparency"),
    path("reglages/", views_space.settings_page, name="settings"),
    path("reglages/activer/", views_space.activate, name="activate"),
    path("reglages/fermer/", views_space.close, name="close"),
]
