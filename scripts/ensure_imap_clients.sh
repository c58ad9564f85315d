#!/usr/bin/env bash
# The real-client IMAP tests (tests/imap/test_real_clients.py) drive isync (mbsync) and neomutt in tmux.
# Install Debian's packages when missing and we are root; none of them runs a service. Without apt (or not
# root) say so in one line and succeed: those tests then skip themselves and say why.
set -uo pipefail

missing=()
command -v mbsync >/dev/null 2>&1 || missing+=(isync)
command -v neomutt >/dev/null 2>&1 || missing+=(neomutt)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null; then
  echo "ensure_imap_clients: ${missing[*]} absent(s) et apt-get indisponible (ou pas root) : tests des clients IMAP réels ignorés." >&2
  exit 0
fi
echo "ensure_imap_clients: installation de ${missing[*]} (Debian)…"
export DEBIAN_FRONTEND=noninteractive
if [[ ! -f /tmp/.mssante-apt-updated ]]; then apt-get update -qq && touch /tmp/.mssante-apt-updated; fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "ensure_imap_clients: ERREUR : apt-get install ${missing[*]} a échoué." >&2
  exit 1
fi
echo "ensure_imap_clients: $(mbsync --version 2>/dev/null | head -1), $(neomutt -v 2>/dev/null | head -1), $(tmux -V)"
exit 0
