"""Mail client auto-configuration: Thunderbird's autoconfig and Outlook's autodiscover (POX).

They describe the IMAP server (implicit TLS, IMAP_PUBLIC_PORT, 993 in production; apps/imap) and the SMTP
submission service (STARTTLS), both with the application password or OAuth2 (a Pro Santé Connect token).
Anonymous by nature (clients call them before
any login); they reveal nothing but public server names, and answer the same for any address of our
domains (no account enumeration).
"""

from __future__ import annotations

from xml.parsers import expat
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

MAX_BODY = 16 * 1024


def _host(request: HttpRequest) -> str:
    return settings.SUBMISSION_PUBLIC_HOST or request.get_host().split(":")[0]


def _imap_host(request: HttpRequest) -> str:
    return settings.IMAP_PUBLIC_HOST or _host(request)


def _our_domain(address: str) -> str | None:
    domain = address.rpartition("@")[2].strip().lower()
    return domain if domain in {d.lower() for d in settings.OPERATOR_DOMAINS} else None


def _xml(body: str) -> HttpResponse:
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type="application/xml")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _email_address_in(body: bytes) -> str:
    """The <EMailAddress> of an Autodiscover request, with pyexpat and no DTD/entities at all (as the liste
    blanche parser: a DOCTYPE or entity declaration is refused outright, so no expansion attack)."""
    parser = expat.ParserCreate()
    found: list[str] = []
    inside = [False]

    def refuse(*_args: object) -> None:
        raise ValueError("DTD or entities are not accepted")

    def start(name: str, _attrs: object) -> None:
        inside[0] = name.endswith("EMailAddress")

    def end(_name: str) -> None:
        inside[0] = False

    def text(data: str) -> None:
        if inside[0]:
            found.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.Parse(body, True)
    return "".join(found).strip()


@require_http_methods(["GET"])
def thunderbird(request: HttpRequest) -> HttpResponse:
    address = request.GET.get("emailaddress", "")
    domain = _our_domain(address) or settings.OPERATOR_DOMAINS[0]
    host, port = escape(_host(request)), int(settings.SUBMISSION_PUBLIC_PORT)
    webmail = escape(request.build_absolute_uri("/"))
    return _xml(
        f"""<clientConfig version="1.1">
  <emailProvider id="{escape(domain)}">
    <domain>{escape(domain)}</domain>
    <displayName>{escape(str(settings.OPERATOR_NAME))}</displayName>
    <displayShortName>MSSanté</displayShortName>
    <incomingServer type="imap">
      <hostname>{escape(_imap_host(request))}</hostname>
      <port>{int(settings.IMAP_PUBLIC_PORT)}</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
      <authentication>OAuth2</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{port}</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
      <authentication>OAuth2</authentication>
    </outgoingServer>
    <documentation url="{webmail}compte/mots-de-passe-applications/">
      <descr lang="fr">Créez un mot de passe d'application dans votre messagerie sécurisée.</descr>
    </documentation>
    <webMail><loginPage url="{webmail}"/></webMail>
  </emailProvider>
</clientConfig>"""
    )


@csrf_exempt
@require_http_methods(["POST", "GET"])
def autodiscover(request: HttpRequest) -> HttpResponse:
    address = ""
    if request.method == "POST":
        if len(request.body) > MAX_BODY:
            return HttpResponseBadRequest("Requête trop volumineuse.")
        try:
            address = _email_address_in(request.body)
        except (expat.ExpatError, ValueError):
            return HttpResponseBadRequest("Requête Autodiscover illisible.")
    host, port = escape(_host(request)), int(settings.SUBMISSION_PUBLIC_PORT)
    login = escape(address) if _our_domain(address) else ""
    return _xml(
        f"""<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol>
        <Type>IMAP</Type>
        <Server>{escape(_imap_host(request))}</Server>
        <Port>{int(settings.IMAP_PUBLIC_PORT)}</Port>
        <LoginName>{login}</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <AuthRequired>on</AuthRequired>
      </Protocol>
      <Protocol>
        <Type>SMTP</Type>
        <Server>{host}</Server>
        <Port>{port}</Port>
        <LoginName>{login}</LoginName>
        <SPA>off</SPA>
        <SSL>off</SSL>
        <Encryption>TLS</Encryption>
        <AuthRequired>on</AuthRequired>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>"""
    )
