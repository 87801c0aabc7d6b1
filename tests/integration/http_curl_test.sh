#!/usr/bin/env bash
# curl against the HTTP face (docs/http.md): PUT a file and GET it back byte for byte,
# HEAD, Range, If-None-Match with the ETag from the PUT's JSON, public URLs, DELETE,
# POST /o with its Location, and a multipart batch upload with `curl -F`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
bale_init "$1"
py=$(bale_python)
command -v curl > /dev/null || fail "curl is not installed (apt-get install curl)"

bale_start "$BALE_TMP/data" --threads 2
[ -n "$BALE_HTTP_PORT" ] || fail "no HTTP port in $(cat "$BALE_OUT")"
base=http://127.0.0.1:$BALE_HTTP_PORT
w=$BALE_TMP/w
mkdir -p "$w"

# c ARGS...: curl, quiet but showing errors, bounded, never through a proxy.
c() { curl -sS --noproxy '*' --max-time 30 "$@"; }

# jget FILE EXPR: a value from a JSON file; EXPR is Python over `j` (no jq needed).
jget() {
  "$py" -c 'import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else v)' "$1" "$2"
}

# absurl URL: the server's url (absolute, or a path) as an absolute URL.
absurl() {
  case $1 in
    http://* | https://*) echo "$1" ;;
    /*) echo "$base$1" ;;
    *) fail "url '$1' is neither absolute nor a path" ;;
  esac
}

# expect WHAT GOT WANT
expect() {
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# header FILE NAME: the value of a response header saved with -D (last response in it).
header() {
  tr -d '\r' < "$1" | awk -v n="$(echo "$2" | tr '[:upper:]' '[:lower:]')" '
    /^HTTP\// { v = "" }
    { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) {
        v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v) } }
    END { print v }'
}

head -c 10240 /dev/urandom > "$w/f1"
printf 'line one\r\nline two\r\n--boundary-ish\r\n\r\nEND\r\n' > "$w/f2"

# PUT --data-binary @file with a Content-Type, then GET -o and cmp
code=$(c -o "$w/put.json" -w '%{http_code}' -X PUT --data-binary @"$w/f1" \
  -H 'Content-Type: image/png' "$base/o/photo1")
expect "PUT /o/photo1 ($(cat "$w/put.json"))" "$code" 200
expect "PUT JSON key" "$(jget "$w/put.json" 'j["key"]')" photo1
expect "PUT JSON size" "$(jget "$w/put.json" 'j["size"]')" 10240
etag=$(jget "$w/put.json" 'j["etag"].strip("\"")')
[[ $etag =~ ^[0-9a-fA-F]{16}$ ]] || fail "PUT JSON etag '$etag' is not 16 hex digits"
url=$(absurl "$(jget "$w/put.json" 'j["url"]')")

got=$(c -o "$w/got1" -w '%{http_code} %{content_type}' "$base/o/photo1")
expect "GET /o/photo1" "$got" "200 image/png"
cmp "$w/f1" "$w/got1" || fail "GET /o/photo1: bytes differ from the PUT file"

# HEAD -I
c -I "$base/o/photo1" > "$w/head.txt"
status=$(head -n 1 "$w/head.txt" | tr -d '\r')
[[ $status =~ ^HTTP/1\.1\ 200 ]] || fail "HEAD /o/photo1: status line '$status'"
expect "HEAD Content-Length" "$(header "$w/head.txt" content-length)" 10240
expect "HEAD Content-Type" "$(header "$w/head.txt" content-type)" image/png
expect "HEAD ETag" "$(header "$w/head.txt" etag | tr '[:upper:]' '[:lower:]')" \
  "\"$(echo "$etag" | tr '[:upper:]' '[:lower:]')\""
expect "HEAD Accept-Ranges" "$(header "$w/head.txt" accept-ranges)" bytes
[ -n "$(header "$w/head.txt" last-modified)" ] || fail "HEAD: no Last-Modified: $(cat "$w/head.txt")"
[ -n "$(header "$w/head.txt" x-bale-cookie)" ] || fail "HEAD: no X-Bale-Cookie: $(cat "$w/head.txt")"

# the public URL, and the same URL with a wrong cookie
got=$(c -o "$w/pub1" -w '%{http_code} %{content_type}' "$url")
expect "GET public URL $url" "$got" "200 image/png"
cmp "$w/f1" "$w/pub1" || fail "public URL: bytes differ"
cookie=${url##*/}
wrong=0123456789abcdef
[ "$wrong" != "$cookie" ] || wrong=fedcba9876543210
code=$(c -o "$w/wrong.txt" -w '%{http_code}' "${url%/*}/$wrong")
expect "public URL with a wrong cookie" "$code" 404
expect "404 body" "$(cat "$w/wrong.txt")" "$(c "$base/o/no-such-key")"

# Range with -r
code=$(c -r 0-9 -D "$w/r1.h" -o "$w/r1" -w '%{http_code}' "$base/o/photo1")
expect "GET -r 0-9" "$code" 206
expect "Content-Range for 0-9" "$(header "$w/r1.h" content-range)" "bytes 0-9/10240"
cmp <(head -c 10 "$w/f1") "$w/r1" || fail "GET -r 0-9: bytes differ"
code=$(c -r 10000- -o "$w/r2" -w '%{http_code}' "$base/o/photo1")
expect "GET -r 10000-" "$code" 206
cmp <(tail -c 240 "$w/f1") "$w/r2" || fail "GET -r 10000-: bytes differ"
code=$(c -r -100 -o "$w/r3" -w '%{http_code}' "$url")
expect "GET -r -100 of the public URL" "$code" 206
cmp <(tail -c 100 "$w/f1") "$w/r3" || fail "GET -r -100: bytes differ"
code=$(c -r 20000- -D "$w/r4.h" -o /dev/null -w '%{http_code}' "$base/o/photo1")
expect "GET -r 20000- (past the end)" "$code" 416
expect "Content-Range of the 416" "$(header "$w/r4.h" content-range)" "bytes */10240"
code=$(c -r 0-1,5-6 -o "$w/r5" -w '%{http_code}' "$base/o/photo1")
expect "GET -r 0-1,5-6 (several ranges)" "$code" 200
cmp "$w/f1" "$w/r5" || fail "GET -r 0-1,5-6: want the whole object"

# If-None-Match with the ETag from the PUT's JSON
code=$(c -H "If-None-Match: \"$etag\"" -o "$w/inm" -w '%{http_code}' "$base/o/photo1")
expect "If-None-Match with the PUT's ETag" "$code" 304
[ ! -s "$w/inm" ] || fail "304 with a body: $(head -c 200 "$w/inm")"
code=$(c -H 'If-None-Match: "0000000000000000"' -o "$w/inm2" -w '%{http_code}' "$base/o/photo1")
expect "If-None-Match with another ETag" "$code" 200
cmp "$w/f1" "$w/inm2" || fail "If-None-Match miss: bytes differ"

# no Content-Type: application/octet-stream
code=$(c -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$w/f2" -H 'Content-Type:' \
  "$base/o/untyped")
expect "PUT without Content-Type" "$code" 200
expect "GET untyped" "$(c -o /dev/null -w '%{content_type}' "$base/o/untyped")" \
  application/octet-stream

# POST /o: 201, Location is the public URL
code=$(c -D "$w/post.h" -o "$w/post.json" -w '%{http_code}' --data-binary @"$w/f2" \
  -H 'Content-Type: text/plain' "$base/o")
expect "POST /o ($(cat "$w/post.json"))" "$code" 201
loc=$(header "$w/post.h" location)
[ -n "$loc" ] || fail "POST /o: no Location: $(cat "$w/post.h")"
loc=$(absurl "$loc")
expect "POST /o: Location vs JSON url" "$loc" "$(absurl "$(jget "$w/post.json" 'j["url"]')")"
got=$(c -o "$w/post.got" -w '%{http_code} %{content_type}' "$loc")
expect "GET the Location" "$got" "200 text/plain"
cmp "$w/f2" "$w/post.got" || fail "GET the Location: bytes differ"

# DELETE
expect "DELETE /o/photo1" "$(c -X DELETE -o /dev/null -w '%{http_code}' "$base/o/photo1")" 204
expect "DELETE /o/photo1 again" \
  "$(c -X DELETE -o /dev/null -w '%{http_code}' "$base/o/photo1")" 404
code=$(c -o "$w/gone" -w '%{http_code}' "$base/o/photo1")
expect "GET after DELETE" "$code" 404
expect "404 body" "$(jget "$w/gone" 'j == {"error": "not found"}')" True
expect "public URL after DELETE" "$(c -o /dev/null -w '%{http_code}' "$url")" 404

# batch upload: curl -F, generated keys
code=$(c -o "$w/batch.json" -w '%{http_code}' -F "a=@$w/f1;type=image/png" \
  -F "b=@$w/f2;type=text/plain" "$base/batch")
expect "POST /batch with curl -F ($(head -c 300 "$w/batch.json"))" "$code" 201
expect "batch objects" "$(jget "$w/batch.json" 'len(j["objects"])')" 2
i=0
for pair in "a f1 image/png" "b f2 text/plain"; do
  read -r name file type <<< "$pair"
  expect "batch part $i name" "$(jget "$w/batch.json" "j['objects'][$i]['name']")" "$name"
  expect "batch part $i filename" "$(jget "$w/batch.json" "j['objects'][$i]['filename']")" "$file"
  expect "batch part $i size" "$(jget "$w/batch.json" "j['objects'][$i]['size']")" \
    "$(stat -c %s "$w/$file")"
  u=$(absurl "$(jget "$w/batch.json" "j['objects'][$i]['url']")")
  got=$(c -o "$w/batch.$i" -w '%{http_code} %{content_type}' "$u")
  expect "GET batch part $i ($u)" "$got" "200 $type"
  cmp "$w/$file" "$w/batch.$i" || fail "batch part $i: bytes differ"
  k=$(jget "$w/batch.json" "j['objects'][$i]['key']")
  c -o "$w/batch.o.$i" "$base/o/$k"
  cmp "$w/$file" "$w/batch.o.$i" || fail "batch part $i via /o/$k: bytes differ"
  i=$((i + 1))
done

# batch upload under the field names
code=$(c -o "$w/named.json" -w '%{http_code}' -F "curl-a=@$w/f1;type=image/gif" \
  -F "curl-b=@$w/f2;type=text/csv" "$base/batch?keys=names")
expect "POST /batch?keys=names ($(head -c 300 "$w/named.json"))" "$code" 201
got=$(c -o "$w/named.a" -w '%{http_code} %{content_type}' "$base/o/curl-a")
expect "GET /o/curl-a" "$got" "200 image/gif"
cmp "$w/f1" "$w/named.a" || fail "GET /o/curl-a: bytes differ"
got=$(c -o "$w/named.b" -w '%{http_code} %{content_type}' "$base/o/curl-b")
expect "GET /o/curl-b" "$got" "200 text/csv"
cmp "$w/f2" "$w/named.b" || fail "GET /o/curl-b: bytes differ"
code=$(c -o /dev/null -w '%{http_code}' -F "curl-ok=@$w/f1" -F "bad name=@$w/f2" \
  "$base/batch?keys=names")
expect "POST /batch?keys=names with a field named 'bad name'" "$code" 400
expect "GET /o/curl-ok after the refused batch" \
  "$(c -o /dev/null -w '%{http_code}' "$base/o/curl-ok")" 404

# a 3 MiB upload (curl sends Expect: 100-continue for it)
head -c $((3 << 20)) /dev/urandom > "$w/f3"
t0=$SECONDS
code=$(c -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$w/f3" \
  -H 'Content-Type: application/x-big' "$base/o/three-mib")
expect "PUT of 3 MiB" "$code" 200
c -o "$w/got3" "$base/o/three-mib"
cmp "$w/f3" "$w/got3" || fail "GET of 3 MiB: bytes differ"
echo "http_curl: 3 MiB PUT + GET in $((SECONDS - t0)) s"

# /metrics and /status answer
c -o "$w/metrics" "$base/metrics"
grep -q '^bale_' "$w/metrics" || fail "/metrics has no bale_ sample: $(head -c 300 "$w/metrics")"
c -o "$w/status.json" "$base/status"
jget "$w/status.json" 'j["version"]' > /dev/null || fail "/status: $(cat "$w/status.json")"

rc=0
bale_stop "$BALE_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$BALE_OUT"; fail "bale serve exited $rc after SIGTERM"; }
echo "http_curl: ok"
