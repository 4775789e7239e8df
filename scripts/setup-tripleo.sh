#!/usr/bin/env bash
# TripleO's own code from PyPI in a venv of its own: the judge tests/quick/tripleo_contract.rs runs
# on what labwarp writes (undercloud.conf, instackenv.json) and the `openstack` command lines
# it issues. python-tripleoclient 20.0.0 brings tripleo-common 18.0.0, oslo.config, cliff and
# python-ironicclient; netifaces is imported by tripleoclient's undercloud preflight but not
# declared; tripleo-ansible 6.0.0 ships the baremetal deployment schemas. Every package is
# pinned (scripts/tripleo-constraints.txt). Idempotent: a venv that already holds exactly
# these pins is left alone (instant); otherwise about 1-2 minutes. Called by setup-host.sh;
# needs python3-venv. LABWARP_TRIPLEO_VENV overrides /opt/labwarp-tripleo.
set -euo pipefail

log() { printf '[setup-tripleo] %s\n' "$*"; }

VENV=${LABWARP_TRIPLEO_VENV:-/opt/labwarp-tripleo}
CONSTRAINTS="$(cd "$(dirname "$0")" && pwd)/tripleo-constraints.txt"
PINS=(python-tripleoclient==20.0.0 tripleo-ansible==6.0.0 netifaces==0.11.0)
STAMP="$VENV/.labwarp-pins"
want="${PINS[*]} $(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"

installed() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
    "$VENV/bin/python" -c 'import tripleoclient.v1.undercloud_preflight, tripleo_common.utils.nodes' \
      2>/dev/null &&
    [ -f "$VENV/share/ansible/plugins/module_utils/baremetal_deploy.py" ]
}

if installed; then
  log "$VENV already holds ${PINS[*]}"
  exit 0
fi
start=$(date +%s)
log "installing ${PINS[*]} into $VENV"
rm -f "$STAMP"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -c "$CONSTRAINTS" "${PINS[@]}"
printf '%s' "$want" > "$STAMP"
installed || { log "ERROR: $VENV does not import tripleoclient and tripleo_common after the install" >&2; exit 1; }
log "installed in $(( $(date +%s) - start )) s"
