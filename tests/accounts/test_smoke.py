from django.urls import reverse


def test_it_serves_the_login_page_in_french(client, db):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert "Connexion" in response.content.decode() or "connecter" in response.content.decode()


def test_it_shows_home_to_an_enrolled_professional(alice_client):
    response = alice_client.get(reverse("home"))
    assert response.status_code == 200
    assert "Bonjour Alice" in response.content.decode()
