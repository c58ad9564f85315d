#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (`playwright install` cannot download here).
# Install it when missing and we are root; otherwise say what to do (not an error then: the browser tests
# report the missing browser themselves). A failed installation as root is an error.
set -uo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
  echo "ensure_chromium: installation de Chromium (Debian, environ 30 s)…"
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -f /tmp/.mssante-apt-updated ]]; then apt-get update -qq && touch /tmp/.mssante-apt-updated; fi
  if apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "ensure_chromium: Chromium installé ($CHROMIUM)"
    exit 0
  fi
  echo "ensure_chromium: ERREUR : apt-get install chromium a échoué." >&2
  exit 1
fi
echo "ensure_chromium: $CHROMIUM est absent ; installez-le : sudo apt-get install chromium" >&2
echo "ensure_chromium: (les tests navigateur échoueront sans lui)" >&2
exit 0
