import pytest
from django.urls import reverse

from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_login_reaches_dashboard(client, bob):
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == "/"
    assert response.status_code == 200


@pytest.mark.django_db
def test_wrong_password_keeps_the_username_typed(client, bob):
    response = client.post(reverse("login"), {"username": "bob", "password": "nope"})

    assert response.status_code == 200
    assert 'value="bob"' in response.content.decode()


@pytest.mark.django_db
def test_login_attempts_are_throttled(client, bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "bob", "password": "wrong"})

    # Locked out: even the right password is refused until the cool-off ends.
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_is_a_post(login_as):
    client = login_as("bob")

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_ui_is_traditional_chinese_by_default_and_english_on_request(login_as):
    client = login_as("bob")

    assert "會員" in client.get("/").content.decode()

    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get("/").content.decode()
    assert "Members" in html
    assert 'lang="en"' in html
