"""Fixtures of the trust tests: the real ANS sample, small hand-made lists, a loopback HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "demo" / "data" / "liste-blanche"
SAMPLE_XML = SAMPLE_DIR / "listeblanchemssante.xml"
SAMPLE_CHECKSUM = SAMPLE_DIR / "checksum"
DN_TEMPLATE = "CN={cn},OU=318310021300028,O=GIP EXEMPLE,ST=Haute-Garonne (31),C=FR"


def render_list(
    domains: dict[str, list[str]], *, generated: str = "2025-03-13T14:54:10Z", close_root: bool = True
) -> bytes:
    """A liste blanche in the ANS format: one <Domaine> per (name, DN) pair, as ANS publishes it."""
    entries = []
    for name, dns in domains.items():
        for dn in dns:
            entries.append(
                "<Domaine>"
                f"<Nom>{escape(name)}</Nom><Description>Domaine {escape(name)}</Description>"
                f"<DNCertificatOperateur>{escape(dn)}</DNCertificatOperateur>"
                "<ResponsableContact>01 02 03 04 05, resp@exemple.fr</ResponsableContact>"
                "<SupportContact>01 02 03 04 06, support@exemple.fr</SupportContact>"
                "<DateMAJ>2025-01-02T03:04:05Z</DateMAJ>"
                "</Domaine>"
            )
    text = (
        '<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">'
        f"<DateDeGeneration>{generated}</DateDeGeneration><ListeDomaines>{''.join(entries)}</ListeDomaines>"
        + ("</ListeBlancheMSSante>" if close_root else "\n")
    )
    return text.encode("utf-8")


def numbered_domains(count: int, *, prefix: str = "etab") -> dict[str, list[str]]:
    return {
        f"{prefix}{i}.mssante.fr": [DN_TEMPLATE.format(cn=f"mss{i % 3}.exemple.fr")] for i in range(count)
    }


@pytest.fixture
def write_list(tmp_path: Path):
    """Write a list (and its checksum file) to disk; returns (xml path, checksum path) as strings."""
    counter = iter(range(1000))

    def write(domains: dict[str, list[str]], **kwargs: object) -> tuple[str, str]:
        number = next(counter)
        data = render_list(domains, **kwargs)  # type: ignore[arg-type]
        xml_path = tmp_path / f"liste-{number}.xml"
        xml_path.write_bytes(data)
        checksum_path = tmp_path / f"checksum-{number}"
        checksum_path.write_text(hashlib.sha256(data).hexdigest() + "\n")
        return str(xml_path), str(checksum_path)

    return write


class _Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        files, redirects, requests = self.files, self.redirects, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                requests.append(self.path)
                if self.path in redirects:
                    self.send_response(302)
                    self.send_header("Location", redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def http_server() -> Iterator[_Server]:
    """A loopback HTTP server on a free port (never the internet); put bytes in `.files[path]`."""
    server = _Server()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
