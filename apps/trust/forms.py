from django import forms


class DomainSearchForm(forms.Form):
    q = forms.CharField(label="Rechercher un domaine", required=False, max_length=200)
    inactifs = forms.BooleanField(label="Inclure les domaines retirés", required=False)
