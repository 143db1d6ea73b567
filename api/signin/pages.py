"""The few pages sign-in shows a person, in English and French: signed in, signed out, and
every way a sign-in can fail. They load nothing and run nothing; no value from the request or
the provider is ever shown on them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

from api.signin.members import Member

PAGE_CSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}


@dataclass(frozen=True)
class Text:
    title_en: str
    body_en: str
    title_fr: str
    body_fr: str


# What each outcome says; a failure's code is shown too, for the help desk.
TEXTS = {
    "SIGNED_IN": Text(
        "You are signed in",
        "You can close this page and go back to nrd.",
        "Vous êtes connecté",
        "Vous pouvez fermer cette page et revenir à nrd.",
    ),
    "SIGNED_OUT": Text(
        "You are signed out",
        "Your session has ended.",
        "Vous êtes déconnecté",
        "Votre session a pris fin.",
    ),
    "SIGNED_OUT_EVERYWHERE": Text(
        "You are signed out everywhere",
        "Every session you had open, on every device, has ended.",
        "Vous êtes déconnecté partout",
        "Toutes vos sessions ouvertes, sur tous vos appareils, ont pris fin.",
    ),
    "SIGN_IN_EXPIRED": Text(
        "This sign-in has expired",
        "It took too long, or this page was already used. Start signing in again.",
        "Cette connexion a expiré",
        "Elle a pris trop de temps, ou cette page a déjà servi. Recommencez la connexion.",
    ),
    "SIGN_IN_STATE_MISMATCH": Text(
        "This sign-in could not be matched",
        "The answer from the identity provider does not belong to the sign-in started in "
        "this browser. Start signing in again.",
        "Cette connexion ne correspond pas",
        "La réponse du fournisseur d'identité n'appartient pas à la connexion commencée dans "
        "ce navigateur. Recommencez la connexion.",
    ),
    "PROVIDER_REFUSED": Text(
        "The identity provider refused this sign-in",
        "Start signing in again. If it happens again, contact the hotline's administrator.",
        "Le fournisseur d'identité a refusé cette connexion",
        "Recommencez la connexion. Si cela se reproduit, contactez l'administrateur de la ligne.",
    ),
    "PROVIDER_UNAVAILABLE": Text(
        "The identity provider cannot be reached",
        "Try again in a few minutes.",
        "Le fournisseur d'identité est injoignable",
        "Réessayez dans quelques minutes.",
    ),
    "PROVIDER_MISCONFIGURED": Text(
        "Sign-in is misconfigured",
        "Contact the hotline's administrator.",
        "La connexion est mal configurée",
        "Contactez l'administrateur de la ligne.",
    ),
    "ID_TOKEN_INVALID": Text(
        "This sign-in could not be verified",
        "The identity provider's answer failed a check. Start signing in again.",
        "Cette connexion n'a pu être vérifiée",
        "La réponse du fournisseur d'identité a échoué une vérification. Recommencez.",
    ),
    "NO_MEMBERSHIP": Text(
        "You have no access to nrd",
        "Your identity was confirmed, but you hold no active membership. Ask whoever "
        "invited you, or the hotline's administrator.",
        "Vous n'avez pas accès à nrd",
        "Votre identité est confirmée, mais vous n'avez aucune adhésion active. Adressez-vous "
        "à la personne qui vous a invité, ou à l'administrateur de la ligne.",
    ),
    "SECOND_FACTOR_REQUIRED": Text(
        "A second factor is required",
        "Your role needs a second factor (an authenticator app, a security key). Set one up "
        "with your identity provider, then sign in again.",
        "Un second facteur est requis",
        "Votre rôle exige un second facteur (application d'authentification, clé de "
        "sécurité). Configurez-le auprès de votre fournisseur d'identité, puis reconnectez-vous.",
    ),
    "SIGN_IN_BUSY": Text(
        "Too many sign-ins at once",
        "Try again in a minute.",
        "Trop de connexions en même temps",
        "Réessayez dans une minute.",
    ),
    "SIGN_IN_UNAVAILABLE": Text(
        "Sign-in is unavailable for a moment",
        "Nothing was kept of this attempt. Try again in a few minutes.",
        "La connexion est momentanément indisponible",
        "Rien n'a été conservé de cette tentative. Réessayez dans quelques minutes.",
    ),
    "SIGN_IN_NOT_CONFIGURED": Text(
        "Sign-in is not configured",
        "This server has no identity provider configured.",
        "La connexion n'est pas configurée",
        "Ce serveur n'a aucun fournisseur d'identité configuré.",
    ),
    "DEVELOPMENT_SIGN_IN_OFF": Text(
        "Development sign-in is off",
        "It exists only on a development server started with nrd serve --demo.",
        "La connexion de développement est désactivée",
        "Elle n'existe que sur un serveur de développement lancé par nrd serve --demo.",
    ),
    "SESSION_INVALID": Text(
        "You are not signed in",
        "Your session has ended or was never valid. Sign in again.",
        "Vous n'êtes pas connecté",
        "Votre session a pris fin ou n'a jamais été valide. Reconnectez-vous.",
    ),
    "SESSION_HEADER_REQUIRED": Text(
        "Request refused",
        "This request did not come from nrd's own pages.",
        "Requête refusée",
        "Cette requête ne vient pas des pages de nrd.",
    ),
}


# On the signed-in page: plain forms, which a browser sends with its Origin (the routes
# refuse another site's).
SIGN_OUT_FORMS = (
    '<form method="post" action="/auth/sign-out">'
    '<button type="submit">Sign out / Se déconnecter</button></form>'
    '<form method="post" action="/auth/sign-out-everywhere">'
    '<button type="submit">Sign out everywhere / Se déconnecter partout</button></form>'
)


def page(
    code: str,
    status: int = 200,
    extra_html: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page for ``code``; ``extra_html`` must be built of escaped text only."""
    text = TEXTS[code]
    failure = "" if status < 400 else f"<p><small>{escape(code)}</small></p>"
    body = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(text.title_en)} / {escape(text.title_fr)} · nrd</title></head><body>"
        f'<main><section lang="en"><h1>{escape(text.title_en)}</h1>'
        f"<p>{escape(text.body_en)}</p></section>"
        f'<section lang="fr"><h1>{escape(text.title_fr)}</h1>'
        f"<p>{escape(text.body_fr)}</p></section>{failure}{extra_html}</main></body></html>\n"
    )
    return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def development_page(members: Iterable[Member]) -> HTMLResponse:
    """The development sign-in (``nrd serve --demo``): one button per fictional demo member."""
    buttons = "".join(
        '<li><form method="post" action="/auth/development">'
        f'<input type="hidden" name="member" value="{escape(m.member_id)}">'
        f'<button type="submit">{escape(m.role)}'
        f"{' · ' + escape(m.organization_id) if m.organization_id else ''}</button>"
        "</form></li>"
        for m in members
    )
    return HTMLResponse(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<title>Development sign-in / Connexion de développement · nrd</title></head><body>"
        "<main><h1>DEVELOPMENT SIGN-IN — NOT FOR REAL DATA</h1>"
        '<p lang="fr"><strong>CONNEXION DE DÉVELOPPEMENT — PAS POUR DE VRAIES DONNÉES</strong>'
        "</p><p>Choose a fictional demo user. No identity provider is asked: this page "
        "exists only on a server started with <code>nrd serve --demo</code>, never in "
        'production.</p><p lang="fr">Choisissez un utilisateur fictif. Aucun fournisseur '
        "d'identité n'est consulté : cette page n'existe que sur un serveur lancé par "
        "<code>nrd serve --demo</code>, jamais en production.</p>"
        f"<ul>{buttons}</ul></main></body></html>\n",
        headers=PAGE_HEADERS,
    )
