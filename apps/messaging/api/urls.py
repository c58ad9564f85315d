from django.urls import path

from apps.messaging.api import views

app_name = "api"
urlpatterns = [
    path("openapi.json", views.openapi_json, name="openapi"),
    path("docs/", views.docs, name="docs"),
    path("messages", views.messages_collection, name="messages"),
    path("messages/<uuid:message_id>", views.message_detail, name="message-detail"),
    path("inbox", views.inbox_list, name="inbox"),
    path("inbox/<int:copy_id>", views.inbox_detail, name="inbox-detail"),
    path(
        "inbox/<int:copy_id>/attachments/<int:position>",
        views.inbox_attachment,
        name="inbox-attachment",
    ),
    path("inbox/<int:copy_id>/processed", views.inbox_processed, name="inbox-processed"),
]
