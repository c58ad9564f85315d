"""HTML of received messages: nothing active survives, remote images wait for the reader's consent."""

from __future__ import annotations

from apps.messaging.webmail.sanitize import content_security_policy, sanitize_html

HOSTILE = """
<p onclick="alert(1)" style="position:fixed" class="x" id="y">Bonjour<script>alert(2)</script></p>
<a href="javascript:alert(3)">lien</a> <a href="JaVaScRiPt:alert(4)">lien2</a>
<a href="  javascript:alert(5)">lien3</a> <a href="data:text/html,<script>alert(6)</script>">lien4</a>
<img src="x" onerror="alert(7)"> <svg onload="alert(8)"><circle/></svg>
<iframe src="https://evil.example/"></iframe><object data="x"></object><embed src="x">
<form action="https://evil.example/"><input name="password"><button>Envoyer</button></form>
<style>body { display: none }</style><base href="https://evil.example/">
<meta http-equiv="refresh" content="0">
<math><mtext><table><mglyph><style><img src=x onerror=alert(9)></style></mglyph></table></mtext>
</math>
"""


def test_it_removes_scripts_handlers_and_active_content():
    cleaned = sanitize_html(HOSTILE).html.lower()
    for forbidden in (
        "<script", "onclick", "onerror", "onload", "javascript:", "<iframe", "<object", "<embed", "<form",
        "<input", "<button", "<style", "<base", "<meta", "<svg", "<math", "alert(", "style=", "data:text",
    ):  # fmt: skip
        assert forbidden not in cleaned, forbidden
    assert "bonjour" in cleaned and "lien" in cleaned


def test_it_keeps_safe_links_opening_without_referrer():
    cleaned = sanitize_html('<a href="https://has.sante.fr/reco">Recommandation</a>').html
    assert 'href="https://has.sante.fr/reco"' in cleaned
    assert 'target="_blank"' in cleaned and "noreferrer" in cleaned and "noopener" in cleaned


def test_it_blocks_remote_images_until_allowed():
    html = (
        '<p>Logo</p><img src="https://tracker.example/pixel.gif?id=42" alt="logo">'
        '<img src="//cdn.example/a.png">'
    )
    blocked = sanitize_html(html)
    assert blocked.blocked_images == 2
    assert "tracker.example" not in blocked.html and "cdn.example" not in blocked.html
    assert blocked.html.count("data:image/svg+xml") == 2
    allowed = sanitize_html(html, allow_remote_images=True)
    assert allowed.blocked_images == 0
    assert 'src="https://tracker.example/pixel.gif?id=42"' in allowed.html.replace("&amp;", "&")


def test_it_never_resolves_cid_or_relative_images():
    cleaned = sanitize_html('<img src="cid:part1@x"><img src="/messagerie/1/"><a href="cid:x">x</a>').html
    assert "cid:" not in cleaned and "/messagerie/" not in cleaned


def test_it_loosens_only_img_src_when_images_are_allowed():
    strict = content_security_policy(remote_images=False)
    loose = content_security_policy(remote_images=True)
    assert "https:" not in strict
    assert "img-src 'self' data: https:" in loose
    assert loose.replace(" https:", "") == strict
