from django.urls import path

from apps.mailboxes import views, views_admin, views_invitations, views_ops

app_name = "mailboxes"
urlpatterns = [
    path("invitation/<str:token>/", views_invitations.invitation_accept, name="invitation-accept"),
    path("gestion/<int:mailbox_id>/invitations/", views_invitations.invitation_list, name="invitations"),
    path(
        "gestion/<int:mailbox_id>/invitations/<int:invitation_id>/renvoyer/",
        views_invitations.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "gestion/<int:mailbox_id>/invitations/<int:invitation_id>/revoquer/",
        views_invitations.invitation_revoke,
        name="invitation-revoke",
    ),
    path("", views.mailbox_list, name="mailbox-list"),
    path("<int:mailbox_id>/", views.mailbox_detail, name="mailbox-detail"),
    path("<int:mailbox_id>/ouvrir/", views.mailbox_open, name="mailbox-open"),
    path("<int:mailbox_id>/journal/", views.mailbox_journal, name="mailbox-journal"),
    path("gestion/", views_admin.admin_list, name="admin-list"),
    path("gestion/nouvelle/<slug:kind>/", views_admin.admin_create, name="admin-create"),
    path("gestion/import/", views_admin.admin_import, name="admin-import"),
    path("gestion/structures/imap/", views_admin.structure_imap, name="structure-imap"),
    path("gestion/export-annuaire.json", views_admin.admin_export, name="admin-export"),
    path("gestion/<int:mailbox_id>/", views_admin.admin_detail, name="admin-detail"),
    path("gestion/<int:mailbox_id>/modifier/", views_admin.admin_edit, name="admin-edit"),
    path("gestion/<int:mailbox_id>/suspendre/", views_admin.admin_suspend, name="admin-suspend"),
    path("gestion/<int:mailbox_id>/reactiver/", views_admin.admin_reactivate, name="admin-reactivate"),
    path("gestion/<int:mailbox_id>/supprimer/", views_admin.admin_delete, name="admin-delete"),
    path("gestion/<int:mailbox_id>/liste-rouge/", views_admin.admin_liste_rouge, name="admin-liste-rouge"),
    path("gestion/<int:mailbox_id>/responsable/", views_admin.admin_transfer, name="admin-transfer"),
    path("gestion/<int:mailbox_id>/membres/", views_admin.member_add, name="member-add"),
    path(
        "gestion/<int:mailbox_id>/membres/<int:membership_id>/retirer/",
        views_admin.member_remove,
        name="member-remove",
    ),
    path(
        "gestion/<int:mailbox_id>/membres/<int:membership_id>/role/",
        views_admin.member_role,
        name="member-role",
    ),
    path("gestion/<int:mailbox_id>/identifiants/", views_admin.credential_create, name="credential-create"),
    path("gestion/<int:mailbox_id>/delegues/", views_admin.delegate_add, name="delegate-add"),
    path(
        "gestion/<int:mailbox_id>/delegues/<int:delegate_id>/retirer/",
        views_admin.delegate_remove,
        name="delegate-remove",
    ),
    path(
        "gestion/<int:mailbox_id>/identifiants/<int:credential_id>/revoquer/",
        views_admin.credential_revoke,
        name="credential-revoke",
    ),
    # Operations (issue 6): quota, inactivity cycle, monthly indicators.
    path("gestion/<int:mailbox_id>/quota/", views_ops.quota_edit, name="quota-edit"),
    path("gestion/<int:mailbox_id>/conserver/", views_ops.lifecycle_keep, name="lifecycle-keep"),
    path("gestion/inactivite/", views_ops.lifecycle_list, name="lifecycle-list"),
    path("opposition/<str:token>/", views_ops.lifecycle_oppose, name="lifecycle-oppose"),
    path("gestion/indicateurs/", views_ops.indicators_page, name="indicators"),
    path("gestion/indicateurs/calculer/", views_ops.indicators_compute, name="indicators-compute"),
    path("gestion/indicateurs/mensuels.csv", views_ops.indicators_summary_csv, name="indicators-summary-csv"),
    path("gestion/indicateurs/<str:month>/bal.csv", views_ops.indicators_mailbox_csv, name="indicators-csv"),
]
