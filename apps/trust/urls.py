from django.urls import path

from apps.trust import views, views_certificates

# Namespace "confiance" (the URL prefix users see) rather than the app label: templates say
# {% url 'confiance:liste-blanche' %}.
app_name = "confiance"
urlpatterns = [
    path("liste-blanche/", views.liste_blanche, name="liste-blanche"),
    path("liste-blanche/rafraichir/", views.liste_blanche_refresh, name="liste-blanche-refresh"),
    path("certificats/", views_certificates.inventory, name="certificats"),
    path("certificats/echecs/<str:remote>/", views_certificates.remote_failures, name="echecs-tls"),
]
