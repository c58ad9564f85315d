#!/usr/bin/env python3
"""What folding quoted text and signatures costs when an HTML body is shown (webmail/html_parts.py): the
sanitiser alone on the whole body, against cutting the body into parts (lxml) and sanitising each part.

CPU time per call (time.process_time, median of rounds), so that other processes on a busy machine weigh
less than with wall time. No database: the sanitiser is pure.

    .venv/bin/python bench/bench_html_fold.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPH = "<p>Compte rendu de consultation : examen clinique sans particularité, <b>ECG normal</b>.</p>"
GMAIL_REPLY = (
    '<div dir="ltr">Merci, je le vois demain.<br><br><div class="gmail_signature">Dr Bob Leroy<br>Cardiologie'
    '</div></div><br><div class="gmail_quote"><div class="gmail_attr">Le ven. 5 déc. 2026, Alice Martin a '
    'écrit :<br></div><blockquote class="gmail_quote">{quoted}</blockquote></div>'
)
OUTLOOK_REPLY = (
    '<html><body><div>{own}<hr><div id="divRplyFwdMsg"><b>De :</b> Alice Martin<br><b>Envoyé :</b> vendredi'
    "<br><b>Objet :</b> M. Bernard</div><div>{quoted}</div></div></body></html>"
)


def bodies() -> dict[str, str]:
    return {
        "Gmail reply, 1 KB": GMAIL_REPLY.format(quoted=PARAGRAPH * 5),
        "Gmail reply, 40 KB": GMAIL_REPLY.format(quoted=PARAGRAPH * 400),
        "Outlook reply, 80 KB": OUTLOOK_REPLY.format(own=PARAGRAPH * 400, quoted=PARAGRAPH * 400),
        "no quote, 80 KB": "<div>" + PARAGRAPH * 800 + "</div>",
    }


def per_call_ms(action, body: str, rounds: int) -> float:  # noqa: ANN001
    count = max(5, 20_000 // max(1, len(body) // 50))
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            action(body)
        samples.append((time.process_time() - started) / count * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one round: proves it runs (bench-smoke)")
    options = parser.parse_args()
    if options.smoke:
        options.rounds = 1
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssante_web.settings")
    os.environ.setdefault("MSSANTE_TESTING", "1")
    os.environ.setdefault("DATABASE_URL", "sqlite:///var/bench-html-fold.sqlite3")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.messaging.webmail import sanitize

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| HTML body | sanitise whole (before) | cut + sanitise parts (now) |")
    print("|---|---:|---:|")
    for name, body in bodies().items():
        whole = per_call_ms(
            lambda html: sanitize._sanitize(html, allow_remote_images=False), body, options.rounds
        )
        parts = per_call_ms(sanitize.sanitize_html, body, options.rounds)
        print(f"| {name} | {whole:.2f} ms | {parts:.2f} ms |")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
