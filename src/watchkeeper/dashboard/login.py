"""Who is asking: the login form, the session cookie and CSRF protection for the dashboard.

Sessions live server-side in the MetaStore; the browser holds only the opaque token in the
``wk_session`` cookie (HttpOnly, SameSite=Lax, Secure when ``secure_cookies``). Page routes take
:func:`require_user`, which sends anonymous requests to ``/login?next=<where they were going>``.

CSRF uses the signed double-submit cookie of the OWASP CSRF Prevention Cheat Sheet: the
``wk_csrf`` cookie holds ``nonce.HMAC(key, session + nonce)``; forms repeat it in a hidden
``csrf_token`` field and htmx sends it as ``X-CSRF-Token`` (``hx-headers`` on ``<body>``).
:func:`csrf_protect` runs on every route of the dashboard's routers and refuses an unsafe request
(403) unless both copies are present, equal, and signed for the session the browser holds now, so
a token planted in the browser or copied from another session does not pass.

The dashboard's one Jinja environment (:data:`templates`) and :func:`render` live here because
the login form is the first page drawn; pages.py renders through them too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, cast
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from watchkeeper import __version__
from watchkeeper.meta.store import User

if TYPE_CHECKING:
    from watchkeeper.server.app import Services

SESSION_COOKIE: Final = "wk_session"
CSRF_COOKIE: Final = "wk_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Every dashboard response is CSP-clean: no inline script or handler, htmx's eval and injected
# styles are off (htmx-config in base.html); uPlot styles elements through the CSSOM, which
# style-src does not govern.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show private data; keep them out of shared caches
}


def services(request: Request) -> Services:
    """The app's parts (settings, stores, writer), as ``create_app`` built them."""
    return cast("Services", request.app.state.services)


# --- sessions ------------------------------------------------------------------------------


def current_user(request: Request) -> User | None:
    """The user whose live session cookie came with ``request``, else ``None``."""
    token = request.cookies.get(SESSION_COOKIE)
    return services(request).meta.session_user(token) if token else None


def require_user(request: Request) -> User:
    """Dependency for every page: the logged-in user, or a redirect to the login form.

    An htmx request (a live refresh whose session ran out) gets 401 with ``HX-Redirect``, so the
    whole page goes to the form instead of the form being swapped into the live part.
    """
    user = current_user(request)
    if user is not None:
        return user
    if request.headers.get("HX-Request"):
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = current.path + (f"?{current.query}" if current.query else "")
        location = login_url(back)
        raise HTTPException(401, "Log in to see this page.", headers={"HX-Redirect": location})
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "Log in to see this page.", headers={"Location": login_url(back)})


def login_url(next_path: str) -> str:
    """``/login``, remembering where to go afterwards when that is not the start page."""
    target = safe_next(next_path)
    return "/login" if target == "/" else f"/login?{urlencode({'next': target})}"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: the login form is no open redirect.

    >>> safe_next("/?range=6h"), safe_next("//evil.example/"), safe_next("https://evil.example/")
    ('/?range=6h', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    # Browsers read "/\evil" as "//evil" and drop tabs and newlines from URLs.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def _set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    settings = services(request).settings
    response.set_cookie(
        name,
        value,
        max_age=int(settings.session_days * 86_400),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


# --- CSRF ----------------------------------------------------------------------------------


_KEY_LOCK: Final = threading.Lock()


def _csrf_key(request: Request) -> bytes:
    # A key made per app and process: a restart only means reloading the page before the next
    # form. (Several servers behind one name, R-O2, will need a shared secret setting instead.)
    state = request.app.state
    key = getattr(state, "csrf_key", None)
    if key is None:
        with _KEY_LOCK:  # pages render on the thread pool; make exactly one key
            key = getattr(state, "csrf_key", None)
            if key is None:
                key = state.csrf_key = secrets.token_bytes(32)
    return cast(bytes, key)


def _csrf_sign(key: bytes, session: str, nonce: str) -> str:
    # The OWASP cheat sheet's message layout: lengths keep (session, nonce) pairs unambiguous.
    message = f"{len(session)}!{session}!{len(nonce)}!{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _csrf_valid(request: Request, token: str) -> bool:
    nonce, _, signature = token.partition(".")
    session = request.cookies.get(SESSION_COOKIE, "")
    expected = _csrf_sign(_csrf_key(request), session, nonce)
    return bool(nonce) and secrets.compare_digest(signature.encode(), expected.encode())


def csrf_token(request: Request) -> str:
    """The token this page embeds: the browser's own while it is valid (so tabs keep working),
    else a new one that :func:`render` sends as the cookie."""
    cached = getattr(request.state, "csrf_token", None)
    if cached is not None:
        return cast(str, cached)
    token = request.cookies.get(CSRF_COOKIE, "")
    if not _csrf_valid(request, token):
        token = _new_csrf(request, request.cookies.get(SESSION_COOKIE, ""))
    request.state.csrf_token = token
    return token


def _new_csrf(request: Request, session: str) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_csrf_sign(_csrf_key(request), session, nonce)}"


async def csrf_protect(request: Request) -> None:
    """Dependency on every dashboard router: refuse an unsafe request without a matching token."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else ""
    if not cookie or not sent:
        raise HTTPException(
            403,
            "CSRF check failed: the request carries no CSRF token (cookie and form field or"
            f" {CSRF_HEADER} header). Reload the page and try again.",
        )
    if not secrets.compare_digest(cookie.encode(), sent.encode()) or not _csrf_valid(
        request, cookie
    ):
        raise HTTPException(
            403,
            "CSRF check failed: the token does not match this browser's session."
            " Reload the page and try again.",
        )


# --- rendering -----------------------------------------------------------------------------


def _csrf_context(request: Request) -> dict[str, Any]:
    return {"csrf_token": csrf_token(request), "asset_version": __version__}


def format_number(value: float | None) -> str:
    """Counts with thousands separators; a dash for no value."""
    return "–" if value is None else f"{value:,.0f}"


def format_ms(ns: float | None) -> str:
    """A duration in ns as milliseconds, with the digits that matter: 0.42, 12.5, 1,250."""
    if ns is None:
        return "–"
    ms = ns / 1e6
    return f"{ms:.2f}" if ms < 1 else f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    ),
    context_processors=[_csrf_context],
)
templates.env.filters.update(number=format_number, ms=format_ms)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with the CSRF cookie (when new) and the security headers."""
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    token = csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        _set_cookie(request, response, CSRF_COOKIE, token)
    return cast(HTMLResponse, response)


# --- routes --------------------------------------------------------------------------------

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def _form(
    request: Request, next_path: str, email: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    context = {"view": None, "next": next_path, "email": email, "error": error}
    return render(request, "login.html", context, status_code)


@router.get("/login")
def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
    """The login form; a logged-in user goes straight on."""
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _form(request, safe_next(next_path))


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the password, start a session and go on to ``next``; else the form again (400)."""
    parts = services(request)
    user = parts.meta.authenticate(email.strip(), password) if email and password else None
    if user is None:
        error = "Wrong email or password." if email and password else "Enter email and password."
        return _form(request, safe_next(next_path), email, error, status_code=400)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        parts.meta.delete_session(old)
    # A new token at every login: a session id known before login is worth nothing after it.
    token = parts.meta.create_session(
        user.id, ttl_seconds=int(parts.settings.session_days * 86_400)
    )
    response = RedirectResponse(safe_next(next_path), status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, token)
    _set_cookie(request, response, CSRF_COOKIE, _new_csrf(request, token))
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session here and in the store; back to the login form."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services(request).meta.delete_session(token)
    response = RedirectResponse("/login", status_code=303)
    secure = services(request).settings.secure_cookies
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
    return response
