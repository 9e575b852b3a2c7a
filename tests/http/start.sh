# Sourced by the dl-fetch CLI tests after tests/cli/lib.sh: starts
# tests/http/server.py on ROOT=$TEST_TMP/www, stops it on exit, and sets
#   SRV   http://127.0.0.1:PORT (empty when the server did not start)
#   REQ   the request log, one "METHOD PATH RANGE STATUS" line per request
WWW=$TEST_TMP/www
REQ=$TEST_TMP/requests.log
mkdir -p "$WWW"
: >"$REQ"
/usr/bin/python3 "$DL_ROOT/tests/http/server.py" "$WWW" "$REQ" >"$TEST_TMP/http.out" 2>&1 &
HTTP_PID=$!
trap 'kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null; rm -rf "$TEST_TMP"' EXIT
PORT=
for _ in $(seq 100); do
	PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$TEST_TMP/http.out" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.1
done
SRV=${PORT:+http://127.0.0.1:$PORT}

# requests PATTERN: how many logged requests match the extended regex
requests() { grep -cE "$1" "$REQ"; }
