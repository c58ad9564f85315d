"""Pro Santé Connect (PSC): login of health professionals through allauth's OpenID Connect provider.

PSC is the national OpenID Connect federator (CPS card or e-CPS app, eIDAS substantial: acr "eidas1"). The
platform is configured only from the environment (see mssante_web/settings.py, PSC block) and registers
`PSCProvider` in place of allauth's generic OpenID Connect provider class, because PSC answers /userinfo with
a signed JWT (`application/jwt`) that allauth cannot read as JSON.

Modules: `provider` (allauth provider: fixed acr/scope, nonce), `views` and `urls` (the OAuth2 adapter that
verifies the signed userinfo and the ID token), `jwks` (JWT verification against the issuer's JWKS),
`identity` (PSC claims -> national id), `services` (mapping to the directory and the account, journal),
`login` (the hook the social account adapter calls). See docs/decisions/0005-pro-sante-connect.md.
"""

PROVIDER_ID = "psc"
