#!/usr/bin/env bash
# The interop tests (tests/interop/) run a private Postfix as "another operator". Install Debian's postfix
# when missing and we are root, without letting the package configure or start its own service: debconf is
# preseeded to "No configuration" and a policy-rc.d forbids service starts for the length of the install.
# Without apt (or not root) say so in one line and succeed: the interop tests then skip themselves.
set -uo pipefail

if command -v postfix >/dev/null 2>&1 || [[ -x /usr/sbin/postfix ]]; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null; then
  echo "ensure_postfix: postfix absent et apt-get indisponible (ou pas root) : tests d'interopérabilité ignorés." >&2
  exit 0
fi
echo "ensure_postfix: installation de postfix (Debian, sans configuration ni service démarré)…"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi
if [[ ! -f /tmp/.mssante-apt-updated ]]; then apt-get update -qq && touch /tmp/.mssante-apt-updated; fi
rc=0
apt-get install -y -qq --no-install-recommends postfix >/dev/null || rc=$?
if [[ $made_policy == 1 ]]; then rm -f "$policy"; fi
if [[ $rc -ne 0 ]]; then
  echo "ensure_postfix: ERREUR : apt-get install postfix a échoué (code $rc)." >&2
  exit 1
fi
echo "ensure_postfix: postfix installé ($(/usr/sbin/postconf -d -h mail_version 2>/dev/null))"
exit 0
