"""Login, logout, the session cookie and CSRF protection, on the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.dashboard.conftest import EMAIL, PASSWORD, Dashboard, form_token

from watchkeeper.dashboard.login import CSRF_COOKIE, SESSION_COOKIE, safe_next
from watchkeeper.server.app import create_app
from watchkeeper.server.settings import Settings


def set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [h for h in headers if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return str(found[0])


def test_anonymous_page_redirects_to_login(dashboard: Dashboard) -> None:
    """A page asked for without a session is a 303 to the login form, remembering where to go."""
    response = dashboard.client.get("/?range=6h", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Frange%3D6h"


def test_anonymous_htmx_refresh_redirects_the_whole_page(dashboard: Dashboard) -> None:
    """A live refresh without a session gets 401 and HX-Redirect, not the form swapped in."""
    response = dashboard.client.get(
        "/partials/overview",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/?range=24h"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2F%3Frange%3D24h"


def test_login_form_carries_the_csrf_token_of_its_cookie(dashboard: Dashboard) -> None:
    """GET /login sets the CSRF cookie and puts the same token in the form."""
    response = dashboard.client.get("/login")
    assert response.status_code == 200
    cookie = set_cookie(response, CSRF_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert form_token(response.text) == dashboard.client.cookies[CSRF_COOKIE]


def test_right_password_starts_a_session_and_goes_to_next(dashboard: Dashboard) -> None:
    """The right password sets an HttpOnly, SameSite=Lax session cookie and redirects to next."""
    response = dashboard.login(next_path="/?range=24h")
    assert response.status_code == 303
    assert response.headers["location"] == "/?range=24h"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={14 * 86_400}" in cookie and "Secure" not in cookie
    token = dashboard.client.cookies[SESSION_COOKIE]
    assert dashboard.services.meta.session_user(token) == dashboard.user
    assert dashboard.client.get("/").status_code == 200


def test_secure_cookies_setting_marks_cookies_secure(tmp_path: Path) -> None:
    """With secure_cookies on, the session and CSRF cookies are Secure."""
    app = create_app(Settings(data_dir=tmp_path, secure_cookies=True, session_days=1))
    with TestClient(app) as client:
        meta = app.state.services.meta
        user = meta.create_user(EMAIL, PASSWORD)
        meta.grant(user.id, meta.ensure_project("shop").id, "viewer")
        page = client.get("/login")
        assert "Secure" in set_cookie(page, CSRF_COOKIE)
        data = {"email": EMAIL, "password": PASSWORD, "csrf_token": form_token(page.text)}
        # httpx keeps Secure cookies off plain http, so the test hands the CSRF cookie over.
        client.cookies.set(CSRF_COOKIE, form_token(page.text))
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 303
        cookie = set_cookie(response, SESSION_COOKIE)
        assert "Secure" in cookie and "Max-Age=86400" in cookie


def test_wrong_password_shows_the_form_again_with_400(dashboard: Dashboard) -> None:
    """A wrong password answers 400 with the form, the email kept and no session."""
    response = dashboard.login(password="not-the-password")
    assert response.status_code == 400
    assert "Wrong email or password." in response.text
    assert f'value="{EMAIL}"' in response.text
    assert SESSION_COOKIE not in dashboard.client.cookies


def test_unknown_email_is_the_same_400(dashboard: Dashboard) -> None:
    """An unknown email reads exactly like a wrong password."""
    response = dashboard.login(email="nobody@example.com")
    assert response.status_code == 400
    assert "Wrong email or password." in response.text


def test_login_without_csrf_token_is_403(dashboard: Dashboard) -> None:
    """POST /login without the form's token is refused with a message saying why."""
    dashboard.client.get("/login")
    response = dashboard.client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert SESSION_COOKIE not in dashboard.client.cookies


def test_login_without_csrf_cookie_is_403(dashboard: Dashboard) -> None:
    """A token in the form but no cookie (a cross-site post) is refused."""
    token = form_token(dashboard.client.get("/login").text)
    dashboard.client.cookies.clear()
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    assert dashboard.client.post("/login", data=data).status_code == 403


def test_csrf_token_not_matching_the_cookie_is_403(dashboard: Dashboard) -> None:
    """A token that differs from the cookie's is refused."""
    token = form_token(dashboard.client.get("/login").text)
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": token[:-2] + "00"}
    response = dashboard.client.post("/login", data=data)
    assert response.status_code == 403
    assert "does not match" in response.json()["detail"]


def test_unsigned_token_in_cookie_and_form_is_403(dashboard: Dashboard) -> None:
    """Equal cookie and field are not enough: the token must carry the server's signature."""
    dashboard.client.cookies.set(CSRF_COOKIE, "planted.0000")
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": "planted.0000"}
    assert dashboard.client.post("/login", data=data).status_code == 403


def test_token_from_before_login_does_not_work_after_it(dashboard: Dashboard) -> None:
    """CSRF tokens are bound to the session: login replaces the anonymous one."""
    old = form_token(dashboard.client.get("/login").text)
    assert dashboard.login().status_code == 303
    assert dashboard.client.cookies[CSRF_COOKIE] != old
    dashboard.client.cookies.set(CSRF_COOKIE, old)
    response = dashboard.client.post("/logout", data={"csrf_token": old})
    assert response.status_code == 403


def test_logout_without_csrf_is_403_and_keeps_the_session(logged_in: Dashboard) -> None:
    """POST /logout without a token is refused; the user stays logged in."""
    response = logged_in.client.post("/logout", follow_redirects=False)
    assert response.status_code == 403
    assert logged_in.client.get("/", follow_redirects=False).status_code == 200


def test_logout_ends_the_session(logged_in: Dashboard) -> None:
    """Logout deletes the session in the store and the cookies, then shows the login form."""
    token = logged_in.client.cookies[SESSION_COOKIE]
    page = logged_in.client.get("/")
    response = logged_in.client.post(
        "/logout", data={"csrf_token": form_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert logged_in.services.meta.session_user(token) is None
    assert SESSION_COOKIE not in logged_in.client.cookies
    assert logged_in.client.get("/", follow_redirects=False).status_code == 303


def test_csrf_header_works_like_the_form_field(logged_in: Dashboard) -> None:
    """htmx's X-CSRF-Token header (hx-headers on <body>) passes the check."""
    page = logged_in.client.get("/")
    assert f'"X-CSRF-Token": "{form_token(page.text)}"' in page.text.replace("&#34;", '"')
    response = logged_in.client.post(
        "/logout", headers={"X-CSRF-Token": form_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303


def test_logged_in_user_skips_the_login_form(logged_in: Dashboard) -> None:
    """GET /login with a live session goes straight to next."""
    response = logged_in.client.get("/login?next=/%3Frange%3D7d", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?range=7d"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "/\t/evil.example",
        "",
        "login",
    ],
)
def test_next_only_goes_to_local_paths(dashboard: Dashboard, target: str) -> None:
    """A next that leaves the site (or is not a path) becomes the start page."""
    assert safe_next(target) == "/"
    response = dashboard.login(next_path=target)
    assert response.headers["location"] == "/"
