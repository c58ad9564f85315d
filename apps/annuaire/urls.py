from django.urls import path

from apps.annuaire import views

app_name = "annuaire"
urlpatterns = [
    path("", views.directory, name="search"),
    path("suggestions", views.suggestions, name="autocomplete"),
]
