"""The HTTP face of `bale serve` against its contract, docs/http.md: every route and status,
public URLs and cookies, ETag/If-None-Match, Range, keep-alive and pipelining, limits
(413, 431, 400, 408), multipart batch upload, memcached <-> HTTP on one store, a 64 MiB
object, /metrics and /status, a restart, --http-public-only and --http-port 0.

Requests are written byte by byte on raw sockets (balelib.HttpConn) except the 64 MiB
object, which goes through http.client. Every check names what it expected and what it
got; the first failure ends the test.

Usage: http_test.py BALE TMPDIR
"""

import email.utils
import hashlib
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

import balelib
from balelib import (WAIT_S, HttpConn, Server, build_request, check, http_request,
                     listening_ports, log, roundtrip)

NOT_FOUND = {"error": "not found"}
ETAG_RE = re.compile(r'^"[0-9a-fA-F]{16}"$')
HEX16_RE = re.compile(r"^[0-9a-fA-F]{16}$")
DESC_FIELDS = ("key", "size", "etag", "cookie", "url", "partition", "version")
BATCH_FIELDS = ("name", "filename", "key", "size", "etag", "cookie", "url")
T0 = time.monotonic()


# --- small helpers ----------------------------------------------------------------------

def short(x):
    if isinstance(x, bytes) and len(x) > 120:
        return x[:120] + b"... (%d bytes)" % len(x)
    if isinstance(x, str) and len(x) > 120:
        return x[:120] + "... (%d chars)" % len(x)
    return x


def eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, short(got), short(want)))


def status(r, want, what):
    """r.status must be want (an int or a tuple of allowed ints)."""
    ok = r.status in want if isinstance(want, tuple) else r.status == want
    check(ok, "%s: got status %d, want %s; response %r" % (what, r.status, want, r))
    return r


def step(name):
    log("http: %-52s ok (%.1f s)" % (name, time.monotonic() - T0))


def etag_hex(e, what):
    """The 16 hex digits of an ETag given as "..." (quotes optional, W/ not allowed)."""
    check(isinstance(e, str), "%s: etag %r is not a string" % (what, e))
    s = e[1:-1] if len(e) >= 2 and e[0] == e[-1] == '"' else e
    check(HEX16_RE.match(s), '%s: etag %r is not "16 hex digits"' % (what, e))
    return s.lower()


def url_path(u):
    """The path of a URL the server handed out (absolute or path-only)."""
    check(isinstance(u, str) and u, "url %r is not a non-empty string" % (u,))
    sp = urlsplit(u)
    check(sp.path.startswith("/"), "url %r has no absolute path" % u)
    return sp.path + ("?" + sp.query if sp.query else "")


def public_segments(u):
    """[partition, key, cookie] of a public URL /{partition}/{key}/{cookie}."""
    p = url_path(u)
    segs = p.split("?")[0].split("/")[1:]
    check(len(segs) == 3 and all(segs), "public URL %r is not /{partition}/{key}/{cookie}" % u)
    return segs


def same_cookie(json_cookie, text):
    """True if the JSON cookie (a string, or a number) names the cookie text."""
    if isinstance(json_cookie, str):
        return json_cookie == text
    if isinstance(json_cookie, int):
        return text in (str(json_cookie), "%016x" % json_cookie, "%016X" % json_cookie)
    return False


def check_desc(j, what, key=None, size=None):
    """The JSON of PUT /o/{key} and POST /o."""
    check(isinstance(j, dict), "%s: JSON %r is not an object" % (what, j))
    for f in DESC_FIELDS:
        check(f in j, "%s: JSON lacks %r: %r" % (what, f, j))
    if key is not None:
        eq(str(j["key"]), key, what + ": JSON key")
    if size is not None:
        eq(j["size"], size, what + ": JSON size")
    h = etag_hex(j["etag"], what + ": JSON etag")
    p, _, c = public_segments(j["url"])
    eq(p, str(j["partition"]), what + ": partition in the url vs JSON partition")
    check(same_cookie(j["cookie"], c),
          "%s: cookie in the url %r is not the JSON cookie %r" % (what, c, j["cookie"]))
    v = j["version"]
    check(isinstance(v, int) and v == int(h, 16) or isinstance(v, str) and
          (v.lower() == h or v.isdigit() and int(v) == int(h, 16)),
          "%s: JSON version %r is not the etag %r" % (what, v, j["etag"]))
    return j


def check_object_headers(r, what, body, ctype, flags=None, cookie=None, etag=None,
                         public=False):
    """A 200 answer to GET/HEAD of an object: the headers docs/http.md lists."""
    eq(r.header("content-type"), ctype, what + ": Content-Type")
    eq(r.header("content-length"), str(len(body)), what + ": Content-Length")
    e = r.header("etag")
    check(e is not None and ETAG_RE.match(e), '%s: ETag %r is not "16 hex digits"' % (what, e))
    if etag is not None:
        eq(etag_hex(e, what), etag_hex(etag, what), what + ": ETag")
    lm = r.header("last-modified")
    check(lm is not None, "%s: no Last-Modified: %r" % (what, r))
    try:
        email.utils.parsedate_to_datetime(lm)
    except (TypeError, ValueError):
        raise AssertionError("%s: Last-Modified %r is not an HTTP date" % (what, lm))
    eq(r.header("accept-ranges"), "bytes", what + ": Accept-Ranges")
    if flags is not None:
        eq(r.header("x-bale-flags"), str(flags), what + ": X-Bale-Flags")
    else:
        check(r.header("x-bale-flags") is not None, "%s: no X-Bale-Flags: %r" % (what, r))
    xc = r.header("x-bale-cookie")
    if public:
        eq(xc, None, what + ": X-Bale-Cookie on a public URL")
    else:
        check(xc is not None, "%s: no X-Bale-Cookie: %r" % (what, r))
        if cookie is not None:
            check(same_cookie(cookie, xc),
                  "%s: X-Bale-Cookie %r is not the JSON cookie %r" % (what, xc, cookie))


class Http:
    """Requests on one keep-alive connection, reopened after the server closes it (the
    answer said Connection: close, or it is one of the statuses that close)."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def __call__(self, method, target, body=None, headers=None, version="HTTP/1.1"):
        if self.conn is None:
            self.conn = HttpConn(self.port)
        r = self.conn.request(method, target, body, headers, version)
        if (r.status in (400, 408, 413, 431) or
                (r.header("connection") or "").lower() == "close"):
            self.conn.close()
            self.conn = None
        return r

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Mc:
    """A raw memcached text-protocol client that parses values by their length (on an
    HttpConn, only for its buffered reader)."""

    def __init__(self, port):
        self.c = HttpConn(port)

    def line(self, cmd):
        self.c.last = cmd[:80].decode("latin-1")
        self.c.sock.sendall(cmd)
        return self.c._line("memcached reply")

    def set(self, key, value, flags=0, exptime=0):
        self.c.last = "set %r" % key
        self.c.sock.sendall(b"set %s %d %d %d\r\n%s\r\n" % (key, flags, exptime, len(value),
                                                            value))
        eq(self.c._line("set reply"), b"STORED", "memcached set %r" % key)

    def gets(self, key):
        """(flags, value, cas) or None."""
        self.c.last = "gets %r" % key
        self.c.sock.sendall(b"gets %s\r\n" % key)
        head = self.c._line("gets reply")
        if head == b"END":
            return None
        p = head.split(b" ")
        check(len(p) == 5 and p[0] == b"VALUE" and p[1] == key,
              "memcached gets %r: reply %r" % (key, head))
        value = self.c._take(int(p[3]) + 2, "value")[:-2]
        eq(self.c._line("END"), b"END", "memcached gets %r: end" % key)
        return int(p[2]), value, int(p[4])

    def close(self):
        self.c.close()


def put(h, key_target, body, headers=None, what=None, key=None):
    what = what or "PUT %s" % key_target
    r = status(h("PUT", key_target, body, headers), 200, what)
    return check_desc(r.json(), what, key=key, size=len(body))


def missing_404(h):
    r = status(h("GET", "/o/no-such-key-%d" % random.getrandbits(40)), 404, "GET a missing key")
    eq(r.json(), NOT_FOUND, "404 body of a missing key")
    return r


def same_404(r, miss, what):
    """r must be answered exactly like the missing object `miss`."""
    status(r, 404, what)
    eq(r.body, miss.body, what + ": 404 body (must be byte-identical to a missing key's)")
    eq(r.header("content-type"), miss.header("content-type"), what + ": 404 Content-Type")


# --- the sections -----------------------------------------------------------------------

def startup(srv):
    check(srv.http_port is not None, "no HTTP port reported: %r" % srv.output())
    lines = srv.output().splitlines()
    if balelib.CLUSTER:  # a router names both ports on its first line
        check(re.match(r"^bale router: memcached protocol on 127\.0\.0\.1:\d+, HTTP on "
                       r"127\.0\.0\.1:%d," % srv.http_port, lines[0] if lines else ""),
              "router's first line %r" % lines[:2])
    else:
        check(re.match(r"^bale serve: HTTP on 127\.0\.0\.1:\d+$", srv.http_line or ""),
              "HTTP line %r, want 'bale serve: HTTP on 127.0.0.1:PORT'" % srv.http_line)
        check(len(lines) >= 2 and lines[1] == srv.http_line,
              "the HTTP line is not the second line of the output: %r" % lines[:3])
    check(srv.http_port != 8080, "--http-port any picked 8080")
    eq(listening_ports(srv.pid), sorted([srv.port, srv.http_port]),
       "TCP ports bale listens on (memcached, HTTP)")
    step("startup: two listeners, HTTP line")


def crud(h, ctx):
    body = os.urandom(1000) + b"\r\n\r\nEND\r\n\x00"
    j = put(h, "/o/alpha", body, {"Content-Type": "image/png"}, key="alpha")
    r = status(h("GET", "/o/alpha"), 200, "GET /o/alpha")
    eq(r.body, body, "GET /o/alpha body")
    check_object_headers(r, "GET /o/alpha", body, "image/png", flags=0, cookie=j["cookie"],
                         etag=j["etag"])
    # HEAD: the same headers and no body (the GET after it on the same connection would
    # be misread if a body followed).
    r = status(h("HEAD", "/o/alpha"), 200, "HEAD /o/alpha")
    eq(r.body, b"", "HEAD body")
    check_object_headers(r, "HEAD /o/alpha", body, "image/png", flags=0, cookie=j["cookie"],
                         etag=j["etag"])
    eq(status(h("GET", "/o/alpha"), 200, "GET after HEAD").body, body, "GET after HEAD body")

    # overwrite: new bytes, new ETag and version
    body2 = b"second version"
    j2 = put(h, "/o/alpha", body2, {"Content-Type": "image/png"}, key="alpha")
    check(etag_hex(j2["etag"], "") != etag_hex(j["etag"], ""),
          "ETag unchanged by a second PUT: %r" % j2["etag"])
    r = status(h("GET", "/o/alpha"), 200, "GET overwritten /o/alpha")
    eq(r.body, body2, "overwritten body")
    eq(etag_hex(r.header("etag"), "ETag"), etag_hex(j2["etag"], ""), "ETag after overwrite")
    ctx["alpha"] = dict(body=body2, ctype="image/png", flags=0, json=j2)

    # Content-Type: kept verbatim, default, 255 bytes kept, 256 refused
    put(h, "/o/no-type", b"x", key="no-type")
    r = status(h("GET", "/o/no-type"), 200, "GET /o/no-type")
    eq(r.header("content-type"), "application/octet-stream", "default Content-Type")
    ct = "text/plain; charset=utf-8"
    put(h, "/o/typed", b"hello", {"Content-Type": ct})
    eq(status(h("GET", "/o/typed"), 200, "GET /o/typed").header("content-type"), ct,
       "Content-Type with parameters")
    ct255 = "application/x-" + "a" * (255 - len("application/x-"))
    put(h, "/o/ct255", b"x", {"Content-Type": ct255})
    eq(status(h("GET", "/o/ct255"), 200, "GET /o/ct255").header("content-type"), ct255,
       "a 255-byte Content-Type")
    status(h("PUT", "/o/ct256", b"x", {"Content-Type": ct255 + "b"}), 400,
           "PUT with a 256-byte Content-Type")
    status(h("GET", "/o/ct256"), 404, "GET /o/ct256 after its PUT was refused")

    # X-Bale-Flags
    put(h, "/o/flagged", b"f", {"X-Bale-Flags": "4294967295"})
    eq(status(h("GET", "/o/flagged"), 200, "GET /o/flagged").header("x-bale-flags"),
       "4294967295", "X-Bale-Flags u32 max")
    for bad in ("abc", "4294967296", "-1"):
        status(h("PUT", "/o/badflags", b"f", {"X-Bale-Flags": bad}), 400,
               "PUT with X-Bale-Flags %r" % bad)
    status(h("PUT", "/o/badexp", b"f", {"X-Bale-Expires": "soon"}), 400,
           "PUT with X-Bale-Expires 'soon'")

    # empty object
    put(h, "/o/empty", b"", {"Content-Type": "text/plain"}, key="empty")
    r = status(h("GET", "/o/empty"), 200, "GET /o/empty")
    eq((r.body, r.header("content-length")), (b"", "0"), "empty object")

    # DELETE
    put(h, "/o/doomed", b"bye")
    r = status(h("DELETE", "/o/doomed"), 204, "DELETE /o/doomed")
    eq(r.body, b"", "204 body")
    miss = missing_404(h)
    same_404(h("GET", "/o/doomed"), miss, "GET after DELETE")
    status(h("HEAD", "/o/doomed"), 404, "HEAD after DELETE")
    same_404(h("DELETE", "/o/doomed"), miss, "DELETE of a deleted key")
    same_404(h("DELETE", "/o/never-was"), miss, "DELETE of a missing key")
    step("PUT/GET/HEAD/DELETE, Content-Type, flags")


def keys(h, mc, ctx):
    # percent-decoding, then memcached's key rules
    utf8 = "/o/caf%C3%A9"
    put(h, utf8, b"utf-8 key")
    eq(status(h("GET", "/o/caf%c3%a9"), 200, "GET lower-case %-escapes").body, b"utf-8 key",
       "GET /o/caf%c3%a9")
    got = mc.gets(b"caf\xc3\xa9")
    check(got is not None and got[1] == b"utf-8 key",
          "memcached get of the decoded key b'caf\\xc3\\xa9': %r" % (got,))
    put(h, "/o/%41BC-pct", b"abc", key="ABC-pct")
    eq(status(h("GET", "/o/ABC-pct"), 200, "GET /o/ABC-pct").body, b"abc",
       "/o/%41BC-pct is /o/ABC-pct")
    j = put(h, "/o/dir%2Fsub%2Ffile.txt", b"slashes", {"Content-Type": "text/plain"},
            key="dir/sub/file.txt")
    got = mc.gets(b"dir/sub/file.txt")
    check(got is not None and got[1] == b"slashes", "memcached get dir/sub/file.txt: %r" % (got,))
    r = status(h("GET", url_path(j["url"])), 200, "public URL of a key with '/': %s" % j["url"])
    eq(r.body, b"slashes", "public URL of dir/sub/file.txt")
    ctx["slashed"] = dict(body=b"slashes", ctype="text/plain", flags=0, json=j,
                          target="/o/dir%2Fsub%2Ffile.txt")
    put(h, "/o/100%25", b"percent", key="100%")
    got = mc.gets(b"100%")
    check(got is not None and got[1] == b"percent", "memcached get '100%%': %r" % (got,))

    for bad, why in (("/o/a%20b", "a space"), ("/o/a%09b", "a tab"), ("/o/a%00b", "a NUL"),
                     ("/o/a%0D%0Ab", "CRLF"), ("/o/a%7Fb", "DEL")):
        status(h("PUT", bad, b"x"), 400, "PUT of a key with %s (%s)" % (why, bad))
        status(h("GET", bad), 400, "GET of a key with %s (%s)" % (why, bad))
    k250, k251 = "k" * 250, "k" * 251
    put(h, "/o/" + k250, b"250", key=k250)
    eq(status(h("GET", "/o/" + k250), 200, "GET a 250-byte key").body, b"250", "250-byte key")
    status(h("PUT", "/o/" + k251, b"251"), 400, "PUT a 251-byte key")
    status(h("GET", "/o/" + k251), 400, "GET a 251-byte key")
    status(h("DELETE", "/o/" + k251), 400, "DELETE a 251-byte key")
    # the limit applies to the decoded key: 124 escaped 'é' (2 bytes each) + 'x' is 249
    # bytes (745 in the URL), + 'yz' is 251
    k = "%C3%A9" * 124 + "x"
    put(h, "/o/" + k, b"long escaped")
    status(h("PUT", "/o/" + k + "yz", b"x"), 400, "PUT a 251-byte key (decoded)")
    step("percent-encoded keys, key rules")


def expiry_start(h, ctx):
    put(h, "/o/exp1", b"short-lived", {"X-Bale-Expires": "1"})
    j = put(h, "/o/exp-public", b"short-lived too", {"X-Bale-Expires": "1"})
    ctx["exp_at"] = time.monotonic()
    ctx["exp_url"] = url_path(j["url"])
    put(h, "/o/exp-abs", b"an hour", {"X-Bale-Expires": str(int(time.time()) + 3600)})
    put(h, "/o/exp-long", b"a day", {"X-Bale-Expires": "86400"})
    put(h, "/o/exp-past", b"already gone",
        {"X-Bale-Expires": str(int(time.time()) - 100)})
    status(h("GET", "/o/exp-past"), 404, "GET of a key stored with a past unix exptime")


def expiry_end(h, ctx, miss):
    wait = ctx["exp_at"] + 2.1 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    same_404(h("GET", "/o/exp1"), miss, "GET /o/exp1 2.1 s after X-Bale-Expires: 1")
    status(h("HEAD", "/o/exp1"), 404, "HEAD /o/exp1 after expiry")
    same_404(h("GET", ctx["exp_url"]), miss, "public URL of an expired object")
    eq(status(h("GET", "/o/exp-abs"), 200, "GET /o/exp-abs").body, b"an hour",
       "object with a unix exptime an hour ahead")
    eq(status(h("GET", "/o/exp-long"), 200, "GET /o/exp-long").body, b"a day",
       "object with exptime 86400")
    step("X-Bale-Expires")


def post(h, ctx):
    body = b"posted \x00\xff bytes"
    r = status(h("POST", "/o", body, {"Content-Type": "text/plain"}), 201, "POST /o")
    j = check_desc(r.json(), "POST /o", size=len(body))
    key = str(j["key"])
    check(key.isdigit() and int(key) < 1 << 64, "POST /o key %r is not a decimal u64" % key)
    loc = r.header("location")
    check(loc is not None, "POST /o: no Location: %r" % r)
    eq(url_path(loc), url_path(j["url"]), "POST /o: Location vs JSON url")
    r = status(h("GET", url_path(loc)), 200, "GET the Location of POST /o")
    eq(r.body, body, "public URL body")
    check_object_headers(r, "public URL", body, "text/plain", flags=0, etag=j["etag"],
                         public=True)
    r = status(h("GET", "/o/" + key), 200, "GET /o/{generated key}")
    eq(r.body, body, "GET /o/{generated key} body")
    check_object_headers(r, "GET /o/{generated key}", body, "text/plain", cookie=j["cookie"])
    ctx["posted"] = dict(body=body, ctype="text/plain", flags=0, json=j, target="/o/" + key)
    seen_keys, seen_cookies = {key}, {j["url"]}
    for i in range(30):
        r = status(h("POST", "/o", b"%d" % i), 201, "POST /o #%d" % i)
        jj = r.json()
        k = str(jj.get("key"))
        check(k not in seen_keys, "POST /o generated key %r twice" % k)
        seen_keys.add(k)
        seen_cookies.add(jj.get("url"))
    eq(len(seen_cookies), 31, "distinct public URLs of 31 POSTs")
    step("POST /o")


def public(h, ctx, partitions):
    body = os.urandom(3000)
    j = put(h, "/o/pub", body, {"Content-Type": "image/webp"}, key="pub")
    url = url_path(j["url"])
    p, k, c = public_segments(url)
    r = status(h("GET", url), 200, "GET public URL %s" % url)
    eq(r.body, body, "public URL body")
    check_object_headers(r, "GET public URL", body, "image/webp", flags=0, etag=j["etag"],
                         public=True)
    r = status(h("HEAD", url), 200, "HEAD public URL")
    check_object_headers(r, "HEAD public URL", body, "image/webp", public=True)

    miss = missing_404(h)
    same_404(h("GET", "/o/no-such-key"), miss, "second missing key")
    same_404(h("GET", "/%s/no-such-key/%s" % (p, c)), miss, "public URL of a missing key")

    def other_cookie():
        while True:
            if c.isdigit() and not HEX16_RE.match(c):
                o = str(random.getrandbits(64))
            else:
                o = "%016x" % random.getrandbits(64)
                o = o.upper() if c.isupper() else o
            if o.lower() != c.lower():
                return o

    n = int(p)
    wrong = [("a random wrong cookie", "/%s/%s/%s" % (p, k, other_cookie())) for _ in range(20)]
    flip = c[:-1] + ("0" if c[-1] != "0" else "1")
    wrong += [
        ("the cookie with its last digit changed", "/%s/%s/%s" % (p, k, flip)),
        ("the next partition", "/%d/%s/%s" % ((n + 1) % partitions, k, c)),
        ("the previous partition", "/%d/%s/%s" % ((n - 1) % partitions, k, c)),
        ("partition + partition count", "/%d/%s/%s" % (n + partitions, k, c)),
        ("partition -1", "/-1/%s/%s" % (k, c)),
        ("a partition that is not a number", "/abc/%s/%s" % (k, c)),
        ("an empty partition", "//%s/%s" % (k, c)),
        ("a huge partition", "/%d/%s/%s" % (n + (1 << 64), k, c)),
        ("an empty cookie", "/%s/%s/" % (p, k)),
        ("a cookie that is not hex", "/%s/%s/%s" % (p, k, "zz" + c[2:])),
        ("a cookie one digit short", "/%s/%s/%s" % (p, k, c[:-1])),
        ("a cookie one digit long", "/%s/%s/%s" % (p, k, c + "0")),
        ("a 0x-prefixed cookie", "/%s/%s/0x%s" % (p, k, c)),
        ("a cookie with a space", "/%s/%s/%s%%20" % (p, k, c)),
        ("a huge cookie", "/%s/%s/%s" % (p, k, "9" * 40)),
        ("an extra segment", "/%s/%s/%s/x" % (p, k, c)),
        ("no cookie segment", "/%s/%s" % (p, k)),
        ("an empty key", "/%s//%s" % (p, c)),
        ("another key", "/%s/alpha/%s" % (p, c)),
        ("a 251-byte key", "/%s/%s/%s" % (p, "k" * 251, c)),
        ("a key with a space", "/%s/a%%20b/%s" % (p, c)),
    ]
    for what, target in wrong:
        same_404(h("GET", target), miss, "GET public URL with %s (%s)" % (what, target))
    status(h("HEAD", wrong[0][1]), 404, "HEAD public URL with a wrong cookie")
    # still served with the right one, then gone once deleted
    eq(status(h("GET", url), 200, "public URL after the guesses").body, body, "public body")
    status(h("DELETE", "/o/pub"), 204, "DELETE /o/pub")
    same_404(h("GET", url), miss, "public URL of a deleted object")
    step("public URLs: right cookie 200, %d wrong ones 404" % len(wrong))
    return miss


def etags(h):
    j = put(h, "/o/etag", b"etag me")
    hx = etag_hex(j["etag"], "PUT etag")
    e = j["etag"] if j["etag"].startswith('"') else '"%s"' % j["etag"]
    other = '"%016x"' % ((int(hx, 16) + 1) % (1 << 64))
    conn = HttpConn(h.port)
    for inm, what in ((e, "its ETag"), ('%s, %s' % (other, e), "a list holding its ETag"),
                      ("*", "*")):
        r = status(conn.request("GET", "/o/etag", headers={"If-None-Match": inm}), 304,
                   "GET with If-None-Match: %s (%s)" % (inm, what))
        eq(etag_hex(r.header("etag") or "", "304 ETag"), hx, "304 ETag")
        r = status(conn.request("HEAD", "/o/etag", headers={"If-None-Match": inm}), 304,
                   "HEAD with If-None-Match: %s" % inm)
    # a 304 has no body: the next answer on the connection must parse
    r = status(conn.request("GET", "/o/etag", headers={"If-None-Match": other}), 200,
               "GET with a non-matching If-None-Match")
    eq(r.body, b"etag me", "body after a non-matching If-None-Match")
    r = status(conn.request("GET", url_path(j["url"]), headers={"If-None-Match": e}), 304,
               "public URL with If-None-Match")
    j2 = put(h, "/o/etag", b"etag me again")
    r = status(conn.request("GET", "/o/etag", headers={"If-None-Match": e}), 200,
               "If-None-Match with the ETag of the previous version")
    eq(r.body, b"etag me again", "body of the new version")
    eq(etag_hex(r.header("etag"), ""), etag_hex(j2["etag"], ""), "ETag of the new version")
    status(conn.request("GET", "/o/no-etag-here", headers={"If-None-Match": "*"}), 404,
           "If-None-Match: * on a missing key")
    conn.close()
    step("ETag, If-None-Match (304, lists, *)")


def ranges(h):
    body = os.urandom(100)
    j = put(h, "/o/range", body, {"Content-Type": "video/mp4"})
    n = len(body)
    cases = [("bytes=0-9", 0, 9), ("bytes=10-", 10, 99), ("bytes=-5", 95, 99),
             ("bytes=90-1000", 90, 99), ("bytes=99-99", 99, 99), ("bytes=-1000", 0, 99),
             ("bytes=0-0", 0, 0)]
    for spec, a, b in cases:
        r = status(h("GET", "/o/range", headers={"Range": spec}), 206, "Range: %s" % spec)
        eq(r.header("content-range"), "bytes %d-%d/%d" % (a, b, n),
           "Content-Range for %s" % spec)
        eq(r.body, body[a:b + 1], "body for Range: %s" % spec)
        eq(r.header("content-length"), str(b - a + 1), "Content-Length for Range: %s" % spec)
        eq(r.header("content-type"), "video/mp4", "Content-Type of a 206")
    for spec in ("bytes=100-", "bytes=100-200", "bytes=5000-"):
        r = status(h("GET", "/o/range", headers={"Range": spec}), 416, "Range: %s" % spec)
        eq(r.header("content-range"), "bytes */%d" % n, "Content-Range of a 416 (%s)" % spec)
    for spec in ("bytes=0-1,5-6", "bytes=0-9, 20-29", "bytes=abc", "items=0-5", "bytes=5-2",
                 "bytes=", "bytes=-", "bytes 0-9"):
        r = status(h("GET", "/o/range", headers={"Range": spec}), 200,
                   "Range: %r (several or malformed: whole object)" % spec)
        eq(r.body, body, "body for Range: %r" % spec)
        eq(r.header("content-range"), None, "Content-Range for Range: %r" % spec)
    r = status(h("GET", url_path(j["url"]), headers={"Range": "bytes=-5"}), 206,
               "Range on a public URL")
    eq(r.body, body[-5:], "public URL Range body")
    step("Range: 206, 416, several/malformed -> 200")


def methods(h, miss):
    for method, target, allow in (("POST", "/o/k", {"GET", "HEAD", "PUT", "DELETE"}),
                                  ("PATCH", "/o/k", {"GET", "HEAD", "PUT", "DELETE"}),
                                  ("PUT", "/o", {"POST"}), ("GET", "/o", {"POST"}),
                                  ("DELETE", "/o", {"POST"}),
                                  ("GET", "/batch", {"POST"}), ("PUT", "/batch", {"POST"}),
                                  ("POST", "/metrics", {"GET"}), ("PUT", "/status", {"GET"}),
                                  ("DELETE", "/metrics", {"GET"})):
        body = b"x" if method in ("POST", "PUT", "PATCH") else None
        r = status(h(method, target, body), 405, "%s %s" % (method, target))
        a = r.header("allow")
        check(a is not None, "%s %s: 405 without Allow: %r" % (method, target, r))
        got = {m.strip() for m in a.split(",") if m.strip()}
        check(allow <= got and method not in got,
              "%s %s: Allow %r, want it to list %s and not %s"
              % (method, target, a, sorted(allow), method))
        check(isinstance(r.json().get("error"), str), "405 body %r is not {error}" % r.body)
    for target in ("/", "/nope", "/a/b/c/d", "/x/y", "/metricsx", "/statusz", "/oo/k",
                   "/batches", "/favicon.ico"):
        same_404(h("GET", target), miss, "GET %s (unknown path)" % target)
    step("405 with Allow, 404 for unknown paths")


def errors(hp, miss):
    def one(raw, want, what):
        with HttpConn(hp) as c:
            c.send(raw, what)
            r = status(c.read_response(), want, what)
            check(isinstance(r.json().get("error"), str),
                  "%s: body %r is not {\"error\": ...}" % (what, r.body))
            check(c.closed_by_peer(), "%s: connection not closed after %d" % (what, want))
    one(b"GARBAGE\r\n\r\n", 400, "a garbage request line")
    one(b"GET /o/alpha HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400,
        "a request line with four words")
    one(b"GET /o/alpha HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400,
        "a header line without a colon")
    one(b"PUT /o/cl HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400,
        "Content-Length: ten")
    one(b"GET /o/alpha HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 << 10) + b"\r\n\r\n", 431,
        "a 20 KiB header")
    one(b"GET /o/alpha HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(70)) +
        b"\r\n", 431, "70 headers")
    # 60 small headers are fine
    with HttpConn(hp) as c:
        r = c.request("GET", "/o/alpha", headers=[("X-H%d" % i, "v") for i in range(60)])
        status(r, 200, "GET with 60 headers")
    status(http_request(hp, "GET", "/o/alpha"), 200, "GET after the bad requests")
    step("400, 431 (and the connection closed)")


def keepalive(h, hp):
    put(h, "/o/ka", b"keep me alive")
    with HttpConn(hp) as c:
        for i in range(300):
            r = status(c.request("GET", "/o/ka"), 200, "request %d on one connection" % i)
            eq(r.body, b"keep me alive", "body of request %d on one connection" % i)
            check((r.header("connection") or "").lower() != "close",
                  "HTTP/1.1 answer %d says Connection: close" % i)
        # answers that must not close the connection either
        status(c.request("GET", "/o/missing-ka"), 404, "404 on a kept-alive connection")
        status(c.request("POST", "/o/ka", b"x"), 405, "405 on a kept-alive connection")
        status(c.request("PUT", "/o/ka2", b"x"), 200, "PUT on a kept-alive connection")
        status(c.request("DELETE", "/o/ka2"), 204, "DELETE on a kept-alive connection")
        status(c.request("GET", "/o/ka", headers={"Range": "bytes=0-3"}), 206, "206 kept alive")
        status(c.request("GET", "/o/ka", headers={"Range": "bytes=99-"}), 416, "416 kept alive")
        status(c.request("HEAD", "/o/ka"), 200, "HEAD kept alive")
        eq(status(c.request("GET", "/o/ka"), 200, "GET at the end").body, b"keep me alive",
           "last GET on the kept-alive connection")
        check(not c.closed_by_peer(0.3), "the server closed a kept-alive connection")
    step("keep-alive: 300+ requests on one connection")


def pipelining(h, hp):
    vals = {}
    for i in range(50):
        v = (b"pipe-%02d:" % i) * (1 + (i * 97) % 300)
        put(h, "/o/pipe-%02d" % i, v)
        vals[i] = v
    order = list(range(50))
    random.shuffle(order)
    with HttpConn(hp) as c:
        c.send(b"".join(build_request("GET", "/o/pipe-%02d" % i) for i in order),
               "50 pipelined GETs")
        for n, i in enumerate(order):
            r = status(c.read_response(), 200, "pipelined answer %d (pipe-%02d)" % (n, i))
            eq(r.body, vals[i], "pipelined answer %d must be pipe-%02d's" % (n, i))
        # a mixed pipeline, sent in small pieces: the PUT must be seen by the GET after it
        mixed = [("GET", "/o/pipe-01", None, 200, vals[1]),
                 ("HEAD", "/o/pipe-02", None, 200, b""),
                 ("GET", "/o/pipe-missing", None, 404, None),
                 ("PUT", "/o/pipe-new", b"new\r\n\r\nGET / HTTP/1.1\r\n\r\n", 200, None),
                 ("GET", "/o/pipe-new", None, 200, b"new\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
                 ("DELETE", "/o/pipe-new", None, 204, b""),
                 ("GET", "/o/pipe-new", None, 404, None),
                 ("GET", "/o/pipe-03", None, 206, vals[3][2:5]),
                 ("POST", "/o/pipe-04", b"nope", 405, None),
                 ("GET", "/o/pipe-49", None, 200, vals[49])]
        raw = b""
        for m, t, b, _, _ in mixed:
            hs = {"Range": "bytes=2-4"} if t == "/o/pipe-03" else None
            raw += build_request(m, t, b, hs)
        pieces = []
        pos = 0
        while pos < len(raw):
            n = random.randint(1, 40)
            pieces.append(raw[pos:pos + n])
            pos += n
        for p in pieces:
            c.sock.sendall(p)
            time.sleep(0.0005)
        for n, (m, t, _, want, body) in enumerate(mixed):
            r = status(c.read_response(m), want, "mixed pipeline answer %d (%s %s)" % (n, m, t))
            if body is not None:
                eq(r.body, body, "mixed pipeline answer %d (%s %s) body" % (n, m, t))
    step("pipelining: 50 GETs in one write, a mixed pipeline")


def connection_close(hp):
    with HttpConn(hp) as c:
        r = status(c.request("GET", "/o/ka", version="HTTP/1.0"), 200, "HTTP/1.0 GET")
        eq(r.body, b"keep me alive", "HTTP/1.0 body")
        check(c.closed_by_peer(), "HTTP/1.0 request without keep-alive: connection not closed")
    with HttpConn(hp) as c:
        for i in range(3):
            r = status(c.request("GET", "/o/ka", headers={"Connection": "keep-alive"},
                                 version="HTTP/1.0"), 200, "HTTP/1.0 keep-alive GET %d" % i)
            eq(r.body, b"keep me alive", "HTTP/1.0 keep-alive body")
        check(not c.closed_by_peer(0.3), "HTTP/1.0 with Connection: keep-alive was closed")
        status(c.request("GET", "/o/ka", version="HTTP/1.0"), 200, "HTTP/1.0 GET at the end")
        check(c.closed_by_peer(), "HTTP/1.0 without keep-alive after keep-alive: not closed")
    with HttpConn(hp) as c:
        r = status(c.request("GET", "/o/ka", headers={"Connection": "close"}), 200,
                   "GET with Connection: close")
        eq(r.body, b"keep me alive", "Connection: close body")
        check(c.closed_by_peer(), "Connection: close not honoured")
    with HttpConn(hp) as c:
        # pipelined behind a Connection: close: only the first is answered
        c.send(build_request("GET", "/o/ka", headers={"Connection": "close"}) +
               build_request("GET", "/o/ka"), "GET close + GET")
        status(c.read_response(), 200, "GET with Connection: close, pipelined")
        check(c.closed_by_peer(), "Connection: close (pipelined) not honoured")
        eq(c.buf, b"", "bytes after the answer to a Connection: close request")
    step("HTTP/1.0 and Connection: close")


def half_close_idle(srv, h, hp):
    """A client pipelines GETs of a large object, half-closes and reads nothing for a
    while: the server must wait without spinning (its end of stream is not a reason to
    wake every round), then deliver every reply and close."""
    body = os.urandom(1 << 20)
    put(h, "/o/half-close", body)
    n = 40
    with HttpConn(hp) as c:
        c.send(build_request("GET", "/o/half-close") * n, "pipelined GETs")
        c.sock.shutdown(socket.SHUT_WR)
        time.sleep(0.3)
        before = srv.cpu_seconds()
        time.sleep(2)
        spent = srv.cpu_seconds() - before
        check(spent < 0.5, "server used %.2f s of CPU in 2 s waiting for a half-closed "
              "client to read" % spent)
        for i in range(n):
            r = status(c.read_response(), 200, "GET %d after the half-close" % i)
            check(r.body == body, "body %d after the half-close" % i)
        check(c.closed_by_peer(), "connection not closed after the replies")
    step("half-closed client not reading: no spinning, %d replies, close" % n)


def multipart(parts, boundary):
    b = boundary.encode()
    out = []
    for name, filename, ctype, data in parts:
        check(b"\r\n--" + b not in data, "test bug: part %r holds the delimiter" % name)
        cd = 'form-data; name="%s"' % name
        if filename is not None:
            cd += '; filename="%s"' % filename
        out.append(b"--" + b + b"\r\nContent-Disposition: " + cd.encode() + b"\r\n")
        if ctype is not None:
            out.append(b"Content-Type: " + ctype.encode() + b"\r\n")
        out.append(b"\r\n" + data + b"\r\n")
    out.append(b"--" + b + b"--\r\n")
    return b"".join(out)


def batch(h, ctx):
    B = "----bale-Boundary-7MA4YWxkTrZu0gW"
    Bb = B.encode()
    tricky = (b"x--" + Bb + b"--\r\n" + b"y\n--" + Bb + b"\r\n" + b"z\r--" + Bb + b"\r\n" +
              b"\r\n--" + Bb[:-1] + b"\r\n" + b"\r\n-" + Bb + b"\r\n" + Bb + b"--" +
              b"\r\n\r\nContent-Disposition: form-data; name=\"fake\"\r\n\r\n" + b"\r\n--\r\n")
    parts = [
        ("photo", "photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + os.urandom(3000) + tricky),
        ("notes", "notes.txt", "text/plain; charset=utf-8", b"line 1\r\nline 2\r\n\r\n"),
        ("meta", None, "application/json", b'{"a": [1, 2, 3]}'),
        ("blob", "blob.bin", "application/octet-stream",
         bytes(range(256)) * 8 + tricky + b"\r\n\r"),
        ("thumb", "my thumb.jpg", "image/jpeg", b""),
    ]
    body = multipart(parts, B)
    r = status(h("POST", "/batch", body, {"Content-Type": "multipart/form-data; boundary=" + B}),
               201, "POST /batch with 5 parts")
    j = r.json()
    objs = j.get("objects") if isinstance(j, dict) else None
    check(isinstance(objs, list) and len(objs) == 5, "POST /batch JSON %r: want 5 objects" % j)
    keys = set()
    stored = []
    for (name, filename, ctype, data), o in zip(parts, objs):
        what = "POST /batch part %r" % name
        for f in BATCH_FIELDS:
            check(f in o, "%s: JSON lacks %r: %r" % (what, f, o))
        eq(o["name"], name, what + ": name")
        if filename is None:
            check(o["filename"] in (None, ""), "%s: filename %r, want null" % (what, o["filename"]))
        else:
            eq(o["filename"], filename, what + ": filename")
        eq(o["size"], len(data), what + ": size")
        k = str(o["key"])
        check(k.isdigit(), "%s: generated key %r is not decimal" % (what, k))
        check(k not in keys, "%s: key %r given twice" % (what, k))
        keys.add(k)
        etag_hex(o["etag"], what)
        _, _, c = public_segments(o["url"])
        check(same_cookie(o["cookie"], c), "%s: cookie %r vs url %r" % (what, o["cookie"], o["url"]))
        r = status(h("GET", url_path(o["url"])), 200, what + ": GET its url")
        eq(r.body, data, what + ": bytes via its url")
        eq(r.header("content-type"), ctype, what + ": Content-Type via its url")
        r = status(h("GET", "/o/" + k), 200, what + ": GET /o/" + k)
        eq(r.body, data, what + ": bytes via /o/")
        check(same_cookie(o["cookie"], r.header("x-bale-cookie") or ""),
              "%s: X-Bale-Cookie %r, JSON cookie %r" % (what, r.header("x-bale-cookie"),
                                                         o["cookie"]))
        stored.append(dict(body=data, ctype=ctype, flags=None, json=o, target="/o/" + k))
    ctx["batch"] = stored

    # a quoted boundary
    r = status(h("POST", "/batch", multipart([("q", "q.txt", "text/csv", b"a,b\r\n")], B),
                 {"Content-Type": 'multipart/form-data; boundary="%s"' % B}), 201,
               "POST /batch with a quoted boundary")
    o = r.json()["objects"][0]
    eq(status(h("GET", url_path(o["url"])), 200, "quoted-boundary part").body, b"a,b\r\n",
       "quoted-boundary part bytes")

    # ?keys=names
    named = [("batch-a", "a.gif", "image/gif", os.urandom(500)),
             ("batch-b.txt", None, "text/plain", b"bee"),
             ("dir/batch-c", "c.bin", "application/x-c", b"\r\n")]
    if balelib.CLUSTER:
        # Named keys on several store nodes cannot be written all or nothing yet: the
        # router refuses such a batch whole (docs/cluster.md). 30 names span the nodes.
        spread = [("spread-%d" % i, None, "text/plain", b"s") for i in range(30)]
        r = status(h("POST", "/batch?keys=names", multipart(spread, B),
                     {"Content-Type": "multipart/form-data; boundary=" + B}), 400,
                   "POST /batch?keys=names over several store nodes")
        check(b"several nodes" in r.body, "refusal names the reason: %r" % r.body)
        for name, _, _, _ in spread:
            status(h("GET", "/o/" + name), 404, "GET /o/%s after the refused batch" % name)
    r = h("POST", "/batch?keys=names", multipart(named, B),
          {"Content-Type": "multipart/form-data; boundary=" + B})
    if balelib.CLUSTER and r.status == 400 and b"several nodes" in r.body:
        for target in ("/o/batch-a", "/o/batch-b.txt", "/o/dir%2Fbatch-c"):
            status(h("GET", target), 404, "GET %s after the refused batch" % target)
        named = []  # these names happen to span nodes in this cluster
        r = status(h("POST", "/batch?keys=names", multipart([("batch-one", None, "text/plain",
                                                               b"one")], B),
                     {"Content-Type": "multipart/form-data; boundary=" + B}), 201,
                   "POST /batch?keys=names, one part")
        named = [("batch-one", None, "text/plain", b"one")]
    status(r, 201, "POST /batch?keys=names")
    objs = r.json()["objects"]
    eq([str(o["key"]) for o in objs], [n for n, _, _, _ in named], "keys from ?keys=names")
    targets = ("/o/batch-a", "/o/batch-b.txt", "/o/dir%2Fbatch-c") if len(named) == 3 else \
        ("/o/batch-one",)
    for (name, _, ctype, data), target in zip(named, targets):
        r = status(h("GET", target), 200, "GET %s after ?keys=names" % target)
        eq(r.body, data, "bytes of %s" % target)
        eq(r.header("content-type"), ctype, "Content-Type of %s" % target)

    # nothing is stored when one part is bad
    for bad, why in (("bad name", "a space"), ("n" * 251, "251 bytes"), ("", "empty")):
        parts_bad = [("inv-ok-1", None, "text/plain", b"1"), ("inv-ok-2", "f", "image/png", b"2"),
                     (bad, None, "text/plain", b"3"), ("inv-ok-3", None, "text/plain", b"4")]
        status(h("POST", "/batch?keys=names", multipart(parts_bad, B),
                 {"Content-Type": "multipart/form-data; boundary=" + B}), 400,
               "POST /batch?keys=names with a part named with %s" % why)
        for k in ("inv-ok-1", "inv-ok-2", "inv-ok-3"):
            status(h("GET", "/o/" + k), 404,
                   "GET /o/%s after a refused batch (a name with %s)" % (k, why))

    # malformed multipart bodies
    good = multipart([("m", None, "text/plain", b"m")], B)
    ct = {"Content-Type": "multipart/form-data; boundary=" + B}
    for what, b, hs in (
            ("no closing delimiter", good[:-len(B) - 6], ct),
            ("no Content-Disposition", b"--" + Bb + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" +
             Bb + b"--\r\n", ct),
            ("another boundary", good, {"Content-Type": "multipart/form-data; boundary=other"}),
            ("no boundary parameter", good, {"Content-Type": "multipart/form-data"}),
            ("not multipart", good, {"Content-Type": "text/plain"}),
            ("no Content-Type", good, None)):
        status(h("POST", "/batch", b, hs), 400, "POST /batch with %s" % what)
    step("POST /batch (multipart, ?keys=names, all-or-nothing)")


def cross(h, mc):
    # memcached set -> HTTP GET
    v = b"from memcached\r\nEND\r\n\x00\xff"
    # learn the key's partition from a PUT, then let memcached rewrite the object
    part = public_segments(put(h, "/o/xp-1", b"probe")["url"])[0]
    mc.set(b"xp-1", v, flags=42)
    r = status(h("GET", "/o/xp-1"), 200, "HTTP GET of a memcached set")
    eq(r.body, v, "HTTP GET of a memcached set: bytes")
    eq(r.header("content-type"), "application/octet-stream", "Content-Type of a memcached set")
    eq(r.header("x-bale-flags"), "42", "X-Bale-Flags of a memcached set with flags 42")
    cookie = r.header("x-bale-cookie")
    check(cookie, "memcached-written object has no X-Bale-Cookie: %r" % r)
    _, _, cas = mc.gets(b"xp-1")
    eq(etag_hex(r.header("etag"), "ETag"), "%016x" % cas, "ETag vs memcached gets CAS unique")
    r = status(h("GET", "/%s/xp-1/%s" % (part, cookie)), 200,
               "public URL of a memcached-written object")
    eq(r.body, v, "public URL of a memcached-written object: bytes")

    # HTTP PUT -> memcached get
    hv = os.urandom(5000) + b"\r\nEND\r\n"
    j = put(h, "/o/hp-1", hv, {"X-Bale-Flags": "7", "Content-Type": "image/png"})
    got = mc.gets(b"hp-1")
    check(got is not None, "memcached gets of an HTTP PUT: miss")
    eq((got[0], got[1]), (7, hv), "memcached gets of an HTTP PUT (flags, bytes)")
    eq("%016x" % got[2], etag_hex(j["etag"], ""), "memcached CAS vs the PUT's etag")

    # memcached touch keeps the Content-Type (and the cookie)
    j = put(h, "/o/tp-1", b"gif", {"Content-Type": "image/gif", "X-Bale-Expires": "100"})
    eq(mc.line(b"touch tp-1 0\r\n"), b"TOUCHED", "memcached touch")
    r = status(h("GET", "/o/tp-1"), 200, "GET after memcached touch")
    eq((r.body, r.header("content-type")), (b"gif", "image/gif"),
       "bytes and Content-Type after memcached touch")
    check(same_cookie(j["cookie"], r.header("x-bale-cookie") or ""),
          "cookie changed by memcached touch: %r -> %r" % (j["cookie"], r.header("x-bale-cookie")))
    status(h("GET", url_path(j["url"])), 200, "public URL after memcached touch")

    # deletes cross over too
    eq(mc.line(b"delete hp-1\r\n"), b"DELETED", "memcached delete of an HTTP object")
    status(h("GET", "/o/hp-1"), 404, "HTTP GET after memcached delete")
    status(h("DELETE", "/o/xp-1"), 204, "HTTP DELETE of a memcached object")
    eq(mc.gets(b"xp-1"), None, "memcached gets after HTTP DELETE")
    mc.set(b"xp-2", b"kept", flags=3)
    step("memcached <-> HTTP on one store")
    return {"xp-2": dict(body=b"kept", ctype="application/octet-stream", flags=3, json=None,
                         target="/o/xp-2")}


def big(hp):
    size, chunk = 64 << 20, 1 << 20
    rnd = random.Random(64)
    want = hashlib.sha256()
    probe_at = 33 * chunk + 12345
    probe = None
    t = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", hp, timeout=60)
    c.putrequest("PUT", "/o/big-64m", skip_accept_encoding=True)
    c.putheader("Content-Length", str(size))
    c.putheader("Content-Type", "application/x-big")
    c.endheaders()
    for i in range(size // chunk):
        b = rnd.randbytes(chunk)
        if i == probe_at // chunk:
            probe = b[probe_at % chunk:probe_at % chunk + 100]
        want.update(b)
        try:
            c.send(b)
        except OSError as e:
            try:
                r = c.getresponse()
                said = "status %d, body %r" % (r.status, r.read()[:200])
            except (OSError, http.client.HTTPException) as e2:
                said = "no answer (%s)" % e2
            raise AssertionError("PUT of 64 MiB: the server stopped reading after %d MiB "
                                 "(%s); it said: %s" % (i, e, said))
    r = c.getresponse()
    body = r.read()
    check(r.status == 200, "PUT of 64 MiB: status %d, body %r" % (r.status, body[:200]))
    eq(json.loads(body).get("size"), size, "PUT of 64 MiB: JSON size")
    t_put = time.monotonic() - t
    t = time.monotonic()
    c.request("GET", "/o/big-64m")
    r = c.getresponse()
    check(r.status == 200, "GET of 64 MiB: status %d" % r.status)
    eq(r.getheader("Content-Length"), str(size), "GET of 64 MiB: Content-Length")
    got, n = hashlib.sha256(), 0
    while True:
        b = r.read(chunk)
        if not b:
            break
        got.update(b)
        n += len(b)
    eq(n, size, "GET of 64 MiB: bytes read")
    eq(got.hexdigest(), want.hexdigest(), "GET of 64 MiB: sha256")
    t_get = time.monotonic() - t
    c.request("GET", "/o/big-64m", headers={"Range": "bytes=%d-%d" % (probe_at, probe_at + 99)})
    r = c.getresponse()
    eq((r.status, r.read()), (206, probe), "Range inside the 64 MiB object")
    c.request("DELETE", "/o/big-64m")
    r = c.getresponse()
    r.read()
    eq(r.status, 204, "DELETE of the 64 MiB object")
    c.close()
    step("64 MiB PUT %.1f s, GET %.1f s, sha256 equal" % (t_put, t_get))


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_metrics(text):
    """[(name, {labels}, value)] and {name: type}; checks the text format line by line."""
    samples, types = [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            p = line.split(None, 3)
            if len(p) >= 3 and p[1] in ("HELP", "TYPE"):
                check(p[2].startswith("bale_"), "metric %r is not prefixed bale_" % p[2])
                if p[1] == "TYPE":
                    check(len(p) == 4 and p[3] in ("counter", "gauge", "histogram", "summary",
                                                   "untyped"), "bad TYPE line %r" % line)
                    types[p[2]] = p[3]
            continue
        m = _SAMPLE_RE.match(line)
        check(m, "/metrics line %r is not Prometheus text format" % line)
        name = m.group(1)
        check(name.startswith("bale_"), "metric %r is not prefixed bale_" % name)
        labels = {}
        if m.group(3):
            rest = m.group(3).rstrip(",")
            pos = 0
            while pos < len(rest):
                lm = _LABEL_RE.match(rest, pos)
                check(lm, "/metrics line %r: bad labels" % line)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        try:
            value = float(m.group(4))
        except ValueError:
            raise AssertionError("/metrics line %r: value is not a number" % line)
        samples.append((name, labels, value))
    return samples, types


def get_metrics(hp):
    r = status(http_request(hp, "GET", "/metrics"), 200, "GET /metrics")
    ct = r.header("content-type") or ""
    check(ct.startswith("text/plain"), "/metrics Content-Type %r, want text/plain..." % ct)
    return parse_metrics(r.body.decode("utf-8"))


def request_counter(samples, types, proto_pred):
    """Sum of the request counter samples whose protocol label satisfies proto_pred."""
    found = [(n, l, v) for n, l, v in samples
             if "request" in n and "protocol" in l and proto_pred(l["protocol"]) and
             not n.endswith(("_bucket", "_sum", "_count", "_created")) and
             types.get(n, types.get(n[:-6] if n.endswith("_total") else n)) == "counter"]
    if not found:
        return None, None
    name = found[0][0]
    return name, sum(v for n, _, v in found if n == name)


def metric_sum(samples, name):
    vals = [v for n, _, v in samples if n == name]
    return sum(vals) if vals else None


def metrics(h, hp, mc):
    samples, types = get_metrics(hp)
    is_http = lambda p: p == "http"  # noqa: E731
    is_mc = lambda p: "memcache" in p  # noqa: E731
    hname, h0 = request_counter(samples, types, is_http)
    check(hname, "/metrics has no request counter (TYPE counter) labelled protocol=\"http\"")
    mname, m0 = request_counter(samples, types, is_mc)
    check(mname, "/metrics has no request counter labelled protocol=\"memcached\"")
    hists = [n for n, t in types.items() if t == "histogram"]
    check(hists, "/metrics has no histogram (want a latency histogram)")
    for n in ("bale_objects", "bale_index_bytes", "bale_segments"):
        check(metric_sum(samples, n) is not None, "/metrics has no %s" % n)
    obj0 = metric_sum(samples, "bale_objects")

    for i in range(5):
        put(h, "/o/metrics-%d" % i, b"m")
    for i in range(20):
        status(h("GET", "/o/metrics-%d" % (i % 5)), 200, "GET for /metrics")
    for i in range(10):
        mc.gets(b"metrics-%d" % (i % 5))
    samples, types = get_metrics(hp)
    _, h1 = request_counter(samples, types, is_http)
    _, m1 = request_counter(samples, types, is_mc)
    check(h1 >= h0 + 25, "%s{protocol=http}: %s -> %s after 25 HTTP requests" % (hname, h0, h1))
    check(m1 >= m0 + 10, "%s{protocol=memcached}: %s -> %s after 10 gets" % (mname, m0, m1))
    obj1 = metric_sum(samples, "bale_objects")
    check(obj1 >= obj0 + 5, "bale_objects %s -> %s after 5 new objects" % (obj0, obj1))
    check(metric_sum(samples, "bale_index_bytes") > 0, "bale_index_bytes is 0")
    check(metric_sum(samples, "bale_segments") > 0, "bale_segments is 0")
    # every histogram: _bucket (le, non-decreasing, +Inf == _count), _sum, _count
    latency_seen = False
    for hn in hists:
        series = {}
        for n, l, v in samples:
            if n == hn + "_bucket":
                check("le" in l, "%s_bucket without le: %r" % (hn, l))
                key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                series.setdefault(key, []).append((float(l["le"]), v))
        check(series, "histogram %s has no _bucket samples" % hn)
        for key, buckets in series.items():
            buckets.sort()
            check(buckets[-1][0] == float("inf"), "%s%r: no le=\"+Inf\" bucket" % (hn, key))
            vals = [v for _, v in buckets]
            check(vals == sorted(vals), "%s%r: buckets decrease: %r" % (hn, key, buckets))
            lab = dict(key)
            cnt = [v for n, l, v in samples if n == hn + "_count" and l == lab]
            sm = [v for n, l, v in samples if n == hn + "_sum" and l == lab]
            check(cnt and sm, "%s%r: no _count or _sum" % (hn, key))
            eq(cnt[0], vals[-1], "%s%r: _count vs the +Inf bucket" % (hn, key))
        if any(w in hn for w in ("latency", "duration", "seconds")):
            latency_seen = True
    check(latency_seen, "no latency histogram (a name with latency/duration/seconds): %r" % hists)
    step("/metrics: bale_ names, counters, histograms")


def status_json(hp, partitions, min_objects):
    r = status(http_request(hp, "GET", "/status"), 200, "GET /status")
    check("json" in (r.header("content-type") or ""), "/status Content-Type %r"
          % r.header("content-type"))
    j = r.json()
    check(isinstance(j, dict), "/status JSON is not an object: %r" % j)
    for f in ("version", "config", "partitions", "objects", "disk"):
        check(f in j, "/status lacks %r: %r" % (f, sorted(j)))
    # docs/http.md names the fields in prose: "uptime" may carry its unit (uptime_seconds)
    up = [k for k in j if k == "uptime" or k.startswith("uptime_")]
    check(up, "/status has no uptime field: %r" % sorted(j))
    check(isinstance(j[up[0]], (int, float)) and j[up[0]] >= 0,
          "/status %s %r" % (up[0], j[up[0]]))
    check(isinstance(j["version"], str) and j["version"], "/status version %r" % j["version"])
    p = j["partitions"]
    n = p if isinstance(p, int) else len(p) if isinstance(p, (list, dict)) else None
    eq(n, partitions, "/status partitions (a count, or one entry per partition)")
    o = j["objects"]
    check(isinstance(o, int) and o >= min_objects, "/status objects %r, want >= %d"
          % (o, min_objects))
    check(j["disk"] not in (None, "", {}, []), "/status disk is empty: %r" % j["disk"])
    return j


def verify_objects(h, objs, what):
    for name, o in objs.items():
        target = o.get("target", "/o/" + name)
        r = status(h("GET", target), 200, "%s: GET %s" % (what, target))
        eq(r.body, o["body"], "%s: bytes of %s" % (what, target))
        eq(r.header("content-type"), o["ctype"], "%s: Content-Type of %s" % (what, target))
        if o["flags"] is not None:
            eq(r.header("x-bale-flags"), str(o["flags"]), "%s: flags of %s" % (what, target))
        j = o["json"]
        if j is not None:
            check(same_cookie(j["cookie"], r.header("x-bale-cookie") or ""),
                  "%s: X-Bale-Cookie of %s %r, was %r" % (what, target,
                                                           r.header("x-bale-cookie"), j["cookie"]))
            eq(etag_hex(r.header("etag"), ""), etag_hex(j["etag"], ""),
               "%s: ETag of %s" % (what, target))
            r = status(h("GET", url_path(j["url"])), 200, "%s: public URL %s" % (what, j["url"]))
            eq(r.body, o["body"], "%s: bytes via %s" % (what, j["url"]))
            eq(r.header("content-type"), o["ctype"], "%s: Content-Type via %s" % (what, j["url"]))


def public_only(bale, data, objs, miss):
    srv = Server(bale, data, "--http-public-only")
    hp = srv.http_port
    check(hp, "--http-public-only: no HTTP port: %r" % srv.output())
    h = lambda *a: http_request(hp, *a)  # noqa: E731 (a fresh connection each)
    some = objs["alpha"]
    url = url_path(some["json"]["url"])
    r = status(h("GET", url), 200, "--http-public-only: public URL")
    eq(r.body, some["body"], "--http-public-only: public URL bytes")
    for method, target, body in (("GET", "/o/alpha", None), ("HEAD", "/o/alpha", None),
                                 ("PUT", "/o/alpha", b"overwrite"), ("PUT", "/o/po-new", b"x"),
                                 ("DELETE", "/o/alpha", None), ("POST", "/o", b"x"),
                                 ("POST", "/batch", b"x")):
        r = status(h(method, target, body), (404, 405) if method != "GET" else 404,
                   "--http-public-only: %s %s" % (method, target))
        if r.status == 404 and method != "HEAD":
            eq(r.body, miss.body, "--http-public-only: %s %s body" % (method, target))
    eq(status(h("GET", url), 200, "--http-public-only: public URL again").body, some["body"],
       "--http-public-only: object untouched by the refused PUT/DELETE")
    status(h("GET", "/metrics"), 200, "--http-public-only: /metrics")
    status(h("GET", "/status"), 200, "--http-public-only: /status")
    roundtrip(srv.port, key=b"public-only-mc")
    rc = srv.stop()
    eq(rc, 0, "--http-public-only server exit code")
    step("--http-public-only")


def http_off(bale, data):
    srv = Server(bale, data, "--http-port", "0")
    if balelib.CLUSTER:
        lines = srv.output().splitlines()
        check(lines and ", HTTP off," in lines[0], "--http-port 0: router's line %r" % lines[:2])
    else:
        deadline = time.monotonic() + WAIT_S
        while ("bale serve: HTTP off" not in srv.output().splitlines() and
               time.monotonic() < deadline):
            time.sleep(0.05)
        lines = srv.output().splitlines()
        check(len(lines) >= 2 and lines[1] == "bale serve: HTTP off",
              "--http-port 0: second line %r, want 'bale serve: HTTP off'" % lines[:3])
    eq(srv.http_port, None, "--http-port 0: HTTP port")
    eq(listening_ports(srv.pid), [srv.port], "--http-port 0: TCP ports bale listens on")
    roundtrip(srv.port, key=b"http-off")
    eq(srv.stop(), 0, "--http-port 0 server exit code")
    step("--http-port 0: HTTP off, one listener")


def limits(bale, data):
    # 413 first, on a server with the default --http-timeout (30 s, as long as the
    # client waits): a 413 can only come from the headers, never from a timeout.
    srv = Server(bale, data, "--http-max-body", "1m")
    hp = srv.http_port
    h = Http(hp)
    mib = os.urandom(1 << 20)
    put(h, "/o/one-mib", mib)
    eq(status(h("GET", "/o/one-mib"), 200, "GET 1 MiB").body, mib, "1 MiB (= --http-max-body)")

    # Content-Length over the limit: refused before any of the body is sent
    with HttpConn(hp) as c:
        c.send(b"PUT /o/too-big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (2 << 20),
               "PUT headers announcing 2 MiB, no body (a server waiting for it never answers)")
        status(c.read_response(), 413, "PUT announcing 2 MiB (limit 1m), body not sent")
        check(c.closed_by_peer(), "connection not closed after 413")
    # the 2 MiB actually sent (a writer thread, as the server may stop reading)
    with HttpConn(hp) as c:
        payload = build_request("PUT", "/o/too-big-2", os.urandom(2 << 20))
        errs = []

        def writer():
            try:
                c.sock.sendall(payload)
            except OSError as e:
                errs.append(e)
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        c.last = "PUT of 2 MiB (limit 1m)"
        status(c.read_response(), 413, "PUT of 2 MiB with --http-max-body 1m")
        check(c.closed_by_peer(), "connection not closed after 413 (body sent)")
        w.join(10)
    status(h("GET", "/o/too-big"), 404, "GET of the refused 2 MiB PUT")
    status(h("GET", "/o/too-big-2"), 404, "GET of the refused 2 MiB PUT (body sent)")
    status(h("POST", "/o", b"x" * ((1 << 20) + 1)), 413, "POST /o of 1 MiB + 1")
    h.close()
    eq(srv.stop(), 0, "413 server exit code")

    # 408 on the same data with --http-timeout 1. The upper bounds on how long a 408
    # takes are far above 1 s (the machine may be busy) and below the 30 s default.
    srv = Server(bale, data, "--http-max-body", "1m", "--http-timeout", "1")
    hp = srv.http_port
    h = Http(hp)

    # 408: half the headers, then nothing
    for what, raw in (("half the headers", b"GET /o/one-mib HTTP/1.1\r\nHost: x\r\n"),
                      ("half a body", b"PUT /o/slow HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 100\r\n\r\n0123456789")):
        with HttpConn(hp) as c:
            t = time.monotonic()
            c.send(raw, what)
            status(c.read_response(), 408, "%s with --http-timeout 1" % what)
            took = time.monotonic() - t
            check(0.8 <= took <= 10, "408 after %.1f s, want about 1 s (%s)" % (took, what))
            check(c.closed_by_peer(), "connection not closed after 408 (%s)" % what)
    # trickling bytes do not extend the timeout: it runs from the request's first byte
    # (trickled whole, the request would take 30 s)
    with HttpConn(hp) as c:
        stop = threading.Event()
        line = b"GET /o/one-mib HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 565

        def trickle():
            for i in range(len(line)):
                if stop.is_set():
                    return
                try:
                    c.sock.sendall(line[i:i + 1])
                except OSError:
                    return
                time.sleep(0.05)
        t = time.monotonic()
        threading.Thread(target=trickle, daemon=True).start()
        c.last = "a request trickled one byte per 50 ms"
        status(c.read_response(), 408, "a request trickled one byte per 50 ms")
        stop.set()
        took = time.monotonic() - t
        check(took <= 10, "408 for a trickled request after %.1f s, want about 1 s" % took)
    eq(status(h("GET", "/o/one-mib"), 200, "GET after 413/408").body, mib, "1 MiB after 413/408")
    h.close()
    eq(srv.stop(), 0, "limits server exit code")
    step("413 (announced and sent), 408")


def main():
    bale, tmp = sys.argv[1], sys.argv[2]
    data = os.path.join(tmp, "data")
    srv = Server(bale, data, "--threads", "2")
    startup(srv)
    hp = srv.http_port
    h = Http(hp)
    mc = Mc(srv.port)
    ctx = {}
    expiry_start(h, ctx)
    crud(h, ctx)
    keys(h, mc, ctx)
    post(h, ctx)
    miss = public(h, ctx, srv.partitions)
    etags(h)
    ranges(h)
    methods(h, miss)
    errors(hp, miss)
    keepalive(h, hp)
    pipelining(h, hp)
    connection_close(hp)
    half_close_idle(srv, h, hp)
    batch(h, ctx)
    durable = cross(h, mc)
    big(hp)
    metrics(h, hp, mc)
    expiry_end(h, ctx, miss)

    durable["alpha"] = ctx["alpha"]
    durable["slashed"] = ctx["slashed"]
    durable["posted"] = ctx["posted"]
    for i, o in enumerate(ctx["batch"]):
        durable["batch-%d" % i] = o
    verify_objects(h, durable, "before restart")
    st = status_json(hp, srv.partitions, len(durable))
    step("/status (version %s, %s objects)" % (st["version"], st["objects"]))
    h.close()
    mc.close()

    rc = srv.stop()
    eq(rc, 0, "bale serve exit code after SIGTERM (output %r)" % srv.output()[-500:])
    srv = Server(bale, data, "--threads", "2")
    h = Http(srv.http_port)
    verify_objects(h, durable, "after restart")
    status(h("GET", "/o/exp1"), 404, "after restart: expired /o/exp1")
    status(h("GET", "/o/doomed"), 404, "after restart: deleted /o/doomed")
    status_json(srv.http_port, srv.partitions, len(durable))
    h.close()
    eq(srv.stop(), 0, "restarted server exit code")
    step("restart: %d objects, Content-Type, cookies, public URLs" % len(durable))

    public_only(bale, data, durable, miss)
    http_off(bale, os.path.join(tmp, "data-off"))
    limits(bale, os.path.join(tmp, "data-limits"))
    log("http: all checks passed in %.1f s" % (time.monotonic() - T0))


if __name__ == "__main__":
    main()
