#!/usr/bin/env bash
# The API against its OpenAPI document, fuzzed long: Schemathesis with every check, all phases
# (examples, coverage, fuzzing, stateful), valid and invalid requests, against the app served as
# the Procfile serves it (gunicorn, 2 workers) over a database of its own filled with the demo
# clinic. Prints the cases run and the failures by check; exits 1 if there were any.
#
#   bench/fuzz.sh [CASES] [postgresql|sqlite]      (default: 20000 postgresql)
#
# The rules no OpenAPI keyword can state, and the operations they apply to, are listed in
# bench/schemathesis.toml. The bounded version of this runs in `make test` (tests/test_contract.py).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${1:-20000}
DATABASE=${2:-postgresql}
BIN=.venv/bin
WORK=$(mktemp -d)
NAME=bench_fuzz
PORT=$($BIN/python -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
BASE="http://127.0.0.1:$PORT"
export PGOPTIONS="-c client_min_messages=warning"  # no NOTICE that the database was not there

case $DATABASE in
  postgresql)
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $NAME" -c "CREATE DATABASE $NAME" >/dev/null
    export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$NAME" ;;
  sqlite) export DATABASE_URL="sqlite:///$WORK/$NAME.db" ;;
  *) echo "unknown database: $DATABASE (postgresql or sqlite)" >&2; exit 2 ;;
esac
export INSTANCE_PATH=$WORK FLASK_APP=server SECRET_KEY=bench-fuzz-secret

GUNICORN=
cleanup() {
  [ -n "$GUNICORN" ] && kill "$GUNICORN" 2>/dev/null && wait "$GUNICORN" 2>/dev/null || true
  [ "$DATABASE" = postgresql ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $NAME" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

$BIN/flask db upgrade >/dev/null 2>&1
$BIN/flask demo >/dev/null
STAFF=$($BIN/flask create-token lead@demo.clinic --name fuzz | tail -1)
SPARE=$($BIN/flask create-token lead@demo.clinic --name "fuzz: revoked on purpose" | tail -1)
PATIENT=$($BIN/python - <<'EOF'
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from server import create_app
from server.extensions import db
from server.models import Clinician, Patient
from server.services.enrolment import enrol, issue_enrolment

app = create_app()
with app.app_context():
    session, now = db.session(), datetime.now(UTC)
    lead = session.scalars(select(Clinician).filter_by(email="lead@demo.clinic")).one()
    patient = session.scalars(select(Patient).order_by(Patient.id.desc())).first()
    link = issue_enrolment(
        session, clinician=lead, patient=patient, now=now, base_url="http://x", ttl=timedelta(hours=1)
    )
    print(enrol(session, token=link.token, now=now)[1])
    session.commit()
EOF
)

$BIN/gunicorn --bind "127.0.0.1:$PORT" --workers 2 'server:create_app()' >"$WORK/web.log" 2>&1 &
GUNICORN=$!
for _ in $(seq 50); do curl -sf "$BASE/api/v1/push/key" >/dev/null && break; sleep 0.2; done

# schemathesis counts examples per operation and phase: spread the cases over the operations
# schemathesis counts examples per operation and phase, and the coverage phase adds boundary
# cases of its own: asking CASES/OPERATIONS examples of each runs at least CASES cases in all
OPERATIONS=$(curl -s "$BASE/api/v1/openapi.json" | $BIN/python -c "import json, sys
methods = {'get', 'put', 'post', 'patch', 'delete'}
print(sum(len(methods & set(path)) for path in json.load(sys.stdin)['paths'].values()))")
PER_OPERATION=$(( (CASES + OPERATIONS - 1) / OPERATIONS ))
echo "fuzzing $OPERATIONS operations on $DATABASE ($PER_OPERATION examples each, ~$CASES cases)"

run() {  # run LABEL TOKEN [schemathesis filters...]
  local label=$1 token=$2; shift 2
  $BIN/schemathesis --config-file bench/schemathesis.toml run "$BASE/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" --checks all --max-examples "$PER_OPERATION" \
    --workers 2 --no-color --suppress-health-check all "$@" >"$WORK/$label.log" 2>&1 || true
}
# the patient's first (the clinic's run revokes patients' devices), then the clinic's; the one
# operation that revokes tokens gets a token of its own to revoke
run patient "$PATIENT" --include-path-regex '^/api/v1/(me|enrol|push)'
run clinic "$STAFF" --exclude-path-regex '^/api/v1/(me|enrol|push)|^/api/v1/auth/tokens/'
run revoke "$SPARE" --include-path-regex '^/api/v1/auth/tokens/'

echo
total=0; failed=0
for label in patient clinic revoke; do
  generated=$(grep -Eo '[0-9]+ generated' "$WORK/$label.log" | tail -1 | cut -d' ' -f1)
  total=$(( total + ${generated:-0} ))
  printf '%-8s %6s cases\n' "$label" "${generated:-0}"
  if grep -q '^Failures:' "$WORK/$label.log"; then
    sed -n '/^Failures:/,/^$/p' "$WORK/$label.log" | grep '❌' | sed 's/^/    /'
    failed=1
  fi
  grep -q 'Server error' "$WORK/$label.log" && failed=1
done
echo "cases run: $total; failures: $([ $failed = 0 ] && echo none || echo 'see above')"
[ "$total" -ge "$CASES" ] || echo "(fewer cases than the $CASES asked)"
if [ $failed = 1 ]; then
  mkdir -p test-output && cp "$WORK"/*.log test-output/
  echo "the full reports: test-output/{patient,clinic,revoke}.log"
  exit 1
fi
