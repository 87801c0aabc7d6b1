#!/usr/bin/env python3
"""HTTP throughput of `bale serve` against nginx serving one file per object (the NAS
design Haystack replaced), same client (wrk), alternating within one run.

GET: OBJECTS random SIZE-byte objects (fixed seed) are written once as files in a
256 x 256 hashed directory tree for nginx and PUT once into bale (`PUT /o/{key}`,
image/jpeg), keeping each object's public URL. Every object is then read back from both
servers and compared byte for byte (this also warms both: page cache, nginx's
open_file_cache, bale's index), and a few are fetched with curl. Each round runs
`wrk -t THREADS -c CONNECTIONS --latency` with bench/wrk_random_get.lua (a random object
per request, the same sequence for both) against nginx and then bale, both kept running
across rounds. bale is read by its public URLs (what a CDN fetches) unless
--bale-route o.

Uploads: each round runs nginx WebDAV PUT of one file per object into a 256 x 256 tree
made beforehand (one nginx and tree for all rounds; bench/wrk_put.lua; unless
--durability none the script syncfs()es nginx's file system every --interval-ms
meanwhile, as `bale bench files` does), bale `PUT /o/{key}` (same script and body, new
keys) and bale `POST /batch` of BATCH parts per request (bench/wrk_batch.lua; reported in
objects/s), each bale run on a fresh data directory. `bale bench files` (bale's
in-process one-file-per-object writer, no HTTP) runs once at the end, for scale.

Both servers get THREADS workers: `bale serve --threads THREADS` runs that many event
loops, nginx `worker_processes THREADS`. Client and servers share the machine. Progress
goes to stderr, a markdown table for bench/RESULTS.md to stdout; the exit status is 1 if
a run gave no numbers, a request failed or a byte check failed (130 if interrupted).

  bench/run_http.py [--rounds 3] [--time 10s] [--upload-time 10s] [--objects 20000]
                    [--size 10240] [--bale build/bale] [--bale-route public|o]
                    [--durability interval] [--threads 2] [--connections 64]
                    [--batch 16] [--skip get|upload] [--peer-only]

--peer-only runs only the peers (nginx GET, nginx WebDAV PUT, `bale bench files` if the
binary has it) and drives wrk_batch.lua against an nginx location that discards bodies:
a self-check of the setup, the Lua scripts and the parsing while bale cannot serve HTTP.
"""
import argparse, ctypes, hashlib, http.client, json, os, queue, random, re, shlex, shutil
import resource, signal, socket, statistics, subprocess, sys, tempfile, threading, time
import urllib.parse

from benchlib import free_port, terminate, wait_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PROCS = []  # every server started, stopped by cleanup()
DIRS = []   # every temp dir made, removed by cleanup()
FAILED = []  # what failed; non-empty means exit status 1
MISSING = "failed"  # a table cell without a number; "-" under --peer-only
ERRORS = (RuntimeError, OSError, ValueError, KeyError, TypeError, http.client.HTTPException,
          subprocess.TimeoutExpired)  # a run that raises these failed; the others go on


T0 = time.time()


def log(msg):
    print(f"run_http: [{time.time() - T0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def fail(msg):
    FAILED.append(msg)
    log(f"FAILED: {msg}")


def stop(proc):
    terminate(proc)
    if proc in PROCS:
        PROCS.remove(proc)


def make_dir(base, prefix):
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    DIRS.append(d)
    return d


def remove_dir(d):
    """rm -rf, several at once over d's entries: a 256 x 256 tree of files comes down
    faster so (and rm -rf is several times faster than shutil.rmtree here)."""
    try:
        entries = [os.path.join(d, e) for e in os.listdir(d)]
    except OSError:
        entries = []
    rms = [subprocess.Popen(["rm", "-rf", "--one-file-system", "--", *entries[i::8]])
           for i in range(min(8, len(entries)))]
    for rm in rms:
        rm.wait()
    if subprocess.run(["rm", "-rf", "--one-file-system", "--", d]).returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
    if d in DIRS:
        DIRS.remove(d)


def cleanup():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip this
    for proc in list(reversed(PROCS)):
        stop(proc)
    for d in list(DIRS):
        remove_dir(d)


def seconds(spec):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", spec)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration like 10s: {spec}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def duration(spec):
    seconds(spec)
    return spec


# ---------------------------------------------------------------- objects and layout

def key_of(i):
    return f"p{i:08d}"


def object_bytes(seed, i, size):
    return random.Random(f"bale-http-bench:{seed}:{i}").randbytes(size)


def hashed_dir(key):
    """ab/cd: the two-level directory of a NAS-style tree, from the key's hash."""
    h = hashlib.md5(key.encode()).hexdigest()
    return f"{h[:2]}/{h[2:4]}"


def put_dir(thread, n):
    """wrk_put.lua's ab/cd for request n of wrk thread `thread` (hashed layout)."""
    h = (n * 2654435761 + thread * 40503) % 65536
    return f"{h // 256:02x}/{h % 256:02x}"


def make_tree(root):
    """root/00/00 .. root/ff/ff, made before the clock starts: a NAS has its tree already."""
    for a in range(256):
        top = os.path.join(root, f"{a:02x}")
        os.mkdir(top)
        for b in range(256):
            os.mkdir(os.path.join(top, f"{b:02x}"))


def multipart_body(parts, boundary):
    out = []
    for name, filename, data in parts:
        assert boundary.encode() not in data
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                   f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n".encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
# Written by bench/run_http.py; the one-file-per-object peer.
{user}
worker_processes {threads};
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    open_file_cache max={cache_max} inactive=600s;
    open_file_cache_valid 600s;
    open_file_cache_errors on;
    types {{ }}
    default_type image/jpeg;
    client_body_temp_path {prefix}/body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;

    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        root {files};
        location / {{
        }}
        location /dav/ {{
            root {dav};
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            log_not_found off;
            client_max_body_size 64m;
        }}
        location = /sink {{
            return 201 "{{}}";
        }}
    }}
}}
"""


def nofile_limit():
    """Raises this process's soft RLIMIT_NOFILE to the hard limit (nginx inherits it;
    raising the hard one needs CAP_SYS_RESOURCE) and returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def file_cache_max(args):
    """open_file_cache entries per worker: every object (a cached file holds an open fd),
    or as many as the fd limit leaves room for beside 1,024 connections."""
    return min(args.objects + 1000, nofile_limit() - 1100)


def nginx_summary(args):
    fd_note = ("" if file_cache_max(args) >= args.objects else
               f": the fd limit, {nofile_limit():,}, is below one fd per object, so some "
               f"reads reopen their file")
    return (f"`worker_processes {args.threads}`, `listen ... reuseport`, `access_log off`, "
            f"`sendfile on`, `tcp_nopush on`, `open_file_cache max={file_cache_max(args)} "
            f"inactive=600s`{fd_note}, `open_file_cache_valid 600s`, "
            f"`keepalive_requests 10000000`")


def start_nginx(args, base, files=None, dav=None):
    """nginx in the foreground on a free port, everything (config, pid, logs, body temp
    files) under a new temp dir in `base`; `files` is the GET root, `dav` holds /dav/."""
    prefix = make_dir(base, "nginx-")
    port = free_port()
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "", threads=args.threads,
            nofile=nofile_limit(), prefix=prefix, cache_max=file_cache_max(args), port=port,
            files=files or prefix, dav=dav or prefix))
    cmd = ["nginx", "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log"),
           "-g", "daemon off;"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    PROCS.append(proc)
    try:
        wait_port(port, proc)
    except RuntimeError:
        log_tail(os.path.join(prefix, "error.log"))
        stop(proc)
        raise
    return proc, port, prefix


def nginx_errors(prefix):
    """[alert]/[crit]/[emerg]/[error] lines nginx logged (none are expected): the first
    three and a count of the rest."""
    try:
        with open(os.path.join(prefix, "error.log")) as f:
            bad = [l.rstrip() for l in f if re.search(r"\[(error|crit|alert|emerg)\]", l)]
    except OSError:
        return []
    return bad[:3] + ([f"... and {len(bad) - 3} more such lines"] if len(bad) > 3 else [])


def log_tail(path, n=10):
    try:
        with open(path, errors="replace") as f:
            for line in f.readlines()[-n:]:
                log(f"  {path}: {line.rstrip()}")
    except OSError:
        pass


class Syncer:
    """syncfs() on `path`'s file system every `interval_ms`, like `bale bench files
    --durability interval`: the nginx peer's writes reach the disk as often as bale's."""

    def __init__(self, path, interval_ms):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self.interval = interval_ms / 1000.0
        self.done = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(self.interval):
            if self.libc.syncfs(self.fd) != 0:
                self.error = os.strerror(ctypes.get_errno())

    def stop(self):
        self.done.set()
        self.thread.join()
        os.close(self.fd)
        if self.error:
            raise RuntimeError(f"syncfs: {self.error}")


# ---------------------------------------------------------------- bale

def bale_cmd(args, data):
    return [args.bale, "serve", "--data", data, "--port", "0", "--http-port", "any",
            "--threads", str(args.threads), "--durability", args.durability,
            "--interval-ms", str(args.interval_ms)]


def start_bale(args, data):
    """`bale serve` on fresh ports; returns (proc, http port) once HTTP answers."""
    proc = subprocess.Popen(bale_cmd(args, data), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
    PROCS.append(proc)
    lines = queue.Queue()

    def reader():  # keeps draining stdout so bale never blocks on it
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    end = time.time() + 15
    seen = []
    while time.time() < end:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line.rstrip())
        m = re.search(r"HTTP on [^\s:]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            wait_port(port, proc)
            return proc, port
    stop(proc)
    raise RuntimeError("bale serve printed no 'bale serve: HTTP on ADDR:PORT' line"
                       + (f" (it printed: {' | '.join(seen)})" if seen else "")
                       + (f"; exit status {proc.returncode}" if proc.returncode is not None
                          else ""))


def request(conn, method, path, body=None, headers=None):
    """One request on a keep-alive connection: (status, headers, body)."""
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r, r.read()


def parallel(n_items, workers, fn):
    """Runs fn(w, i) for i in range(n_items) on threads w = 0 .. workers - 1, thread w
    taking every workers-th item from w; returns the first exception raised, or None."""
    errors = []

    def work(w):
        try:
            for i in range(w, n_items, workers):
                if errors:
                    return
                fn(w, i)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)

    ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors[0] if errors else None


def url_path(url):
    """The path (and query) of a URL bale returned, absolute or not."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def upload_to_bale(args, port):
    """PUT /o/{key} every object over keep-alive connections; returns the paths GETs use."""
    paths = [None] * args.objects
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]

    def put(w, i):
        key = key_of(i)
        status, r, body = request(conns[w], "PUT", "/o/" + urllib.parse.quote(key, safe=""),
                                  object_bytes(args.seed, i, args.size),
                                  {"Content-Type": "image/jpeg"})
        if status != 200:
            raise RuntimeError(f"PUT /o/{key}: status {status}: {body[:200]!r}")
        reply = json.loads(body)
        if reply.get("key") != key or reply.get("size") != args.size or "url" not in reply:
            raise RuntimeError(f"PUT /o/{key}: unexpected reply {body[:300]!r}")
        paths[i] = (url_path(reply["url"]) if args.bale_route == "public"
                    else "/o/" + urllib.parse.quote(key, safe=""))

    err = parallel(args.objects, len(conns), put)
    for c in conns:
        c.close()
    if err:
        raise err
    return paths


def check_all(name, port, paths, args):
    """GETs every object once, comparing bytes (and warming the server)."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]
    bad, types = [], set()

    def get(w, i):
        status, r, body = request(conns[w], "GET", paths[i])
        types.add(r.getheader("Content-Type"))
        if status != 200 or body != object_bytes(args.seed, i, args.size):
            bad.append(f"{paths[i]}: status {status}, {len(body)} bytes")

    start = time.time()
    err = parallel(len(paths), len(conns), get)
    for c in conns:
        c.close()
    if err:
        raise RuntimeError(f"{name}: reading every object back: {err!r}")
    if bad:
        raise RuntimeError(f"{name}: {len(bad)} objects came back wrong, e.g. {bad[:3]}")
    if types != {"image/jpeg"}:
        log(f"warning: {name} answered with Content-Type {sorted(map(str, types))}")
    log(f"{name}: all {len(paths)} objects read back byte for byte "
        f"({time.time() - start:.1f} s, warms it)")


def check_curl(name, port, paths, args):
    for i in sorted({0, len(paths) // 2, len(paths) - 1}):
        url = f"http://127.0.0.1:{port}{paths[i]}"
        r = subprocess.run(["curl", "-sS", "--fail", "--max-time", "10", url],
                           capture_output=True, timeout=30)
        if r.returncode != 0 or r.stdout != object_bytes(args.seed, i, args.size):
            raise RuntimeError(f"{name}: curl {url}: exit {r.returncode}, {len(r.stdout)} "
                               f"bytes, {r.stderr.decode(errors='replace').strip()}")
    log(f"{name}: curl fetched the same bytes for 3 objects")


# ---------------------------------------------------------------- wrk

UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def wrk(args, url, script, script_args, run_time):
    """Runs wrk; returns {"rps", "requests", "avg_us", "p99_us", "errors"} and the command."""
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{run_time}", "--latency",
           "--timeout", "10s", "-s", os.path.join(BENCH, script), url, "--", *script_args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds(run_time) + 120)
    out = r.stdout
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    n = re.search(r"^\s*(\d+) requests in", out, re.M)
    avg = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\b", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\b", out, re.M)
    if r.returncode != 0 or not (rps and n and avg and p99):
        raise RuntimeError(f"wrk gave no numbers (exit {r.returncode}): "
                           f"{(r.stderr + out).strip()[-500:]}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     out)
    res = {"rps": float(rps.group(1)), "requests": int(n.group(1)),
           "avg_us": float(avg.group(1)) * UNITS[avg.group(2)],
           "p99_us": float(p99.group(1)) * UNITS[p99.group(2)],
           "errors": sum(map(int, sock.groups())) if sock else 0}
    if non2xx:
        raise RuntimeError(f"wrk: {non2xx.group(1)} of {res['requests']} responses were not "
                           f"2xx/3xx")
    if res["requests"] == 0 or res["errors"] > res["requests"] // 1000:
        raise RuntimeError(f"wrk: {res['requests']} requests, socket errors: "
                           f"{sock.group(0) if sock else '-'}")
    return res, cmd


def show(cmd, port):
    """The command as printed in the table: temp paths and ports made generic."""
    s = shlex.join(cmd).replace(f"127.0.0.1:{port}", "127.0.0.1:PORT")
    return re.sub(r"\S*/(get-paths|body)-(\w+)\.(txt|bin)", r"\1-\2.\3", s).replace(
        BENCH + "/", "bench/")


# ---------------------------------------------------------------- GET phase

def get_phase(args, base):
    """Returns ([(nginx result, bale result) per round], {name: wrk command}); a run that
    failed (or bale under --peer-only) is None."""
    rounds, cmds, ports = [], {}, {}
    nginx = bale = None
    work = make_dir(base, "work-")
    files = make_dir(base, "files-")
    path_files = {"nginx": os.path.join(work, "get-paths-nginx.txt"),
                  "bale": os.path.join(work, "get-paths-bale.txt")}
    try:
        log(f"writing {args.objects} objects of {args.size} bytes (seed {args.seed}) as files")
        nginx_paths = []
        for i in range(args.objects):
            key = key_of(i)
            d = os.path.join(files, hashed_dir(key))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, key), "wb") as f:
                f.write(object_bytes(args.seed, i, args.size))
            nginx_paths.append(f"/{hashed_dir(key)}/{key}")
        with open(path_files["nginx"], "w") as f:
            f.write("".join(p + "\n" for p in nginx_paths))
        nginx, ports["nginx"], prefix = start_nginx(args, base, files=files)
        log(f"nginx on port {ports['nginx']}")
        check_all("nginx", ports["nginx"], nginx_paths, args)
        check_curl("nginx", ports["nginx"], nginx_paths, args)
        if not args.peer_only:
            data = make_dir(base, "bale-data-")
            bale, ports["bale"] = start_bale(args, data)
            log(f"bale on HTTP port {ports['bale']}; PUT /o/KEY of {args.objects} objects")
            start = time.time()
            bale_paths = upload_to_bale(args, ports["bale"])
            log(f"uploaded in {time.time() - start:.1f} s; bale is read by "
                f"{args.bale_route} URLs such as {bale_paths[0]}")
            with open(path_files["bale"], "w") as f:
                f.write("".join(p + "\n" for p in bale_paths))
            check_all("bale", ports["bale"], bale_paths, args)
            check_curl("bale", ports["bale"], bale_paths, args)
        for r in range(args.rounds):
            row = []
            for name in ("nginx", "bale"):
                if name not in ports:
                    row.append(None)
                    continue
                try:
                    res, cmd = wrk(args, f"http://127.0.0.1:{ports[name]}/",
                                   "wrk_random_get.lua", [path_files[name], str(args.seed)],
                                   args.time)
                    cmds[name] = show(cmd, ports[name])
                    log(f"GET round {r + 1}/{args.rounds}: {name} {res['rps']:,.0f} req/s, "
                        f"avg {res['avg_us']:,.0f} µs, p99 {res['p99_us']:,.0f} µs")
                    row.append(res)
                except ERRORS as e:
                    fail(f"GET round {r + 1}: {name}: {e!r}")
                    row.append(None)
            rounds.append(row)
        for line in nginx_errors(prefix):
            fail(f"nginx logged: {line}")
        return rounds, cmds
    finally:
        for proc in (bale, nginx):
            if proc:
                stop(proc)
        for d in list(DIRS):  # this phase's dirs: nothing else is left at this point
            remove_dir(d)


# ---------------------------------------------------------------- upload phase

def read_back(name, port, paths, want):
    """GETs `paths` (objects a wrk_put.lua run may have written): at least one must be
    there, and every one that is must hold `want`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    found = 0
    try:
        for path in paths:
            status, _, body = request(conn, "GET", path)
            if status == 200 and body == want:
                found += 1
            elif status != 404:
                raise RuntimeError(f"{name}: GET {path} after the run: status {status}, "
                                   f"{len(body)} bytes (want {len(want)})")
    finally:
        conn.close()
    if not found:
        raise RuntimeError(f"{name}: none of {paths} was stored")


def first_keys(args, tag):
    """(thread, key) of the first two requests of every wrk thread of a wrk_put.lua run
    (wrk calls request() once before the run to check it, so some were never sent)."""
    return [(t, n, f"u{tag}-{t}-{n}") for t in range(args.threads) for n in (1, 2)]


def nginx_put_run(args, port, dav, body_file, body, tag):
    syncer = Syncer(dav, args.interval_ms) if args.durability != "none" else None
    try:
        res, cmd = wrk(args, f"http://127.0.0.1:{port}/", "wrk_put.lua",
                       ["/dav/", body_file, tag, "hashed"], args.upload_time)
    finally:
        if syncer:
            syncer.stop()
    read_back("nginx", port, [f"/dav/{put_dir(t, n)}/{k}" for t, n, k in first_keys(args, tag)],
              body)
    return res, show(cmd, port)


def with_bale(args, base, fn):
    """fn(port) against a `bale serve` started on an empty data directory, which is
    removed afterwards: a run's objects take GiBs, so runs do not keep them."""
    data = make_dir(base, "bale-data-")
    bale = None
    try:
        bale, port = start_bale(args, data)
        return fn(port)
    finally:
        if bale:
            stop(bale)
        remove_dir(data)


def bale_put_run(args, port, body_file, body, tag):
    res, cmd = wrk(args, f"http://127.0.0.1:{port}/", "wrk_put.lua",
                   ["/o/", body_file, tag, "flat"], args.upload_time)
    read_back("bale", port, [f"/o/{k}" for _, _, k in first_keys(args, tag)], body)
    return res, show(cmd, port)


def check_batch(port, body_file, boundary, objects):
    """POSTs one batch and checks it in full: 201, every part stored and readable by its
    key and its public URL."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        with open(body_file, "rb") as f:
            status, _, reply = request(
                conn, "POST", "/batch", f.read(),
                {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            got = json.loads(reply)["objects"]
        except (ValueError, KeyError, TypeError):
            got = None
        if status != 201 or not isinstance(got, list) or len(got) != len(objects):
            raise RuntimeError(f"POST /batch: status {status}, reply {reply[:300]!r}")
        for o, want in zip(got, objects):
            for path in ("/o/" + urllib.parse.quote(str(o["key"]), safe=""), url_path(o["url"])):
                status, _, body = request(conn, "GET", path)
                if status != 200 or body != want:
                    raise RuntimeError(f"POST /batch stored {path} wrong: status {status}, "
                                       f"{len(body)} bytes")
    finally:
        conn.close()


def bale_batch_run(args, port, body_file, boundary, objects):
    check_batch(port, body_file, boundary, objects)
    res, cmd = wrk(args, f"http://127.0.0.1:{port}/batch", "wrk_batch.lua",
                   [body_file, boundary], args.upload_time)
    return res, show(cmd, port)


def sink_run(args, port, body_file, boundary):
    """--peer-only: wrk_batch.lua against nginx's body-discarding /sink, a script check."""
    res, _ = wrk(args, f"http://127.0.0.1:{port}/sink", "wrk_batch.lua",
                 [body_file, boundary], "2s")
    log(f"self-check: wrk_batch.lua posted {res['requests']:,} batches to nginx /sink "
        f"({res['rps']:,.0f}/s, all 2xx)")


def files_run(args, base):
    d = os.path.join(make_dir(base, "files-bench-"), "files")
    cmd = [args.bale, "bench", "files", "--objects", str(args.objects), "--value-size",
           str(args.size), "--threads", str(args.threads), "--durability", args.durability,
           "--interval-ms", str(args.interval_ms), "--dir", d]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        remove_dir(os.path.dirname(d))
    m = re.search(r"^put_per_s=([\d.e+]+)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"bale bench files: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return float(m.group(1)), shlex.join(cmd).replace(d, "DIR").replace(ROOT + "/", "")


def has_bench_files(args):
    try:
        r = subprocess.run([args.bale, "bench", "files", "--help"], capture_output=True,
                           text=True, timeout=30)
    except OSError:
        return False
    return r.returncode == 0 and "--value-size" in r.stdout


def upload_phase(args, base):
    """Returns ([{name: result} per round], {name: command}): name is nginx, bale, batch
    (wrk results) or files (puts/s); a run that failed is missing from its round."""
    work = make_dir(base, "work-")
    body = object_bytes(args.seed, -1, args.size)
    body_file = os.path.join(work, "body-put.bin")
    with open(body_file, "wb") as f:
        f.write(body)
    objects = [object_bytes(args.seed, -2 - j, args.size) for j in range(args.batch)]
    boundary = "bale-bench-" + hashlib.sha1(str(args.seed).encode()).hexdigest()
    batch_file = os.path.join(work, "body-batch.bin")
    with open(batch_file, "wb") as f:
        f.write(multipart_body([(f"photo{j}", f"photo{j}.jpg", o)
                                for j, o in enumerate(objects)], boundary))
    with_files = args.files and has_bench_files(args)
    if args.files and not with_files:
        log(f"{args.bale} has no `bench files`; skipping that reference")
    rounds, cmds = [], {}
    nginx = None
    try:
        dav = make_dir(base, "dav-")  # nginx maps /dav/ab/cd/KEY to dav/dav/ab/cd/KEY
        log("making nginx's 256 x 256 upload tree")
        os.mkdir(os.path.join(dav, "dav"))
        make_tree(os.path.join(dav, "dav"))
        nginx, nport, prefix = start_nginx(args, base, dav=dav)
        runs = [("nginx", lambda tag: nginx_put_run(args, nport, dav, body_file, body, tag))]
        if args.peer_only:
            try:
                sink_run(args, nport, batch_file, boundary)
            except ERRORS as e:
                fail(f"self-check of wrk_batch.lua: {e!r}")
        else:
            runs += [("bale", lambda tag: with_bale(args, base, lambda port: bale_put_run(
                          args, port, body_file, body, tag))),
                     ("batch", lambda tag: with_bale(args, base, lambda port: bale_batch_run(
                         args, port, batch_file, boundary, objects)))]
        for r in range(args.rounds):
            row = {}
            for name, run in runs:
                try:
                    res, cmd = run(f"{r + 1}{name[0]}")
                    cmds[name] = cmd
                    row[name] = res
                    per = args.batch if name == "batch" else 1
                    log(f"upload round {r + 1}/{args.rounds}: {name} "
                        f"{res['rps'] * per:,.0f} objects/s ({res['rps']:,.0f} req/s, "
                        f"avg {res['avg_us']:,.0f} µs, p99 {res['p99_us']:,.0f} µs)")
                except ERRORS as e:
                    fail(f"upload round {r + 1}: {name}: {e!r}")
            rounds.append(row)
        for line in nginx_errors(prefix):
            fail(f"nginx logged: {line}")
        stop(nginx)
        log("removing the upload phase's files")
        for d in list(DIRS):
            remove_dir(d)
        if with_files:  # once, after the rounds: its 256 x 256 tree costs ~20 s here
            try:
                log("running `bale bench files` once")
                files, cmds["files"] = files_run(args, base)
                log(f"bale bench files: {files:,.0f} puts/s (in-process)")
                rounds[-1]["files"] = files
            except ERRORS as e:
                fail(f"bale bench files: {e!r}")
        return rounds, cmds
    finally:
        if nginx:
            stop(nginx)
        if DIRS:
            log("removing the upload phase's files")
        for d in list(DIRS):
            remove_dir(d)


# ---------------------------------------------------------------- report

def num(v):
    return MISSING if v is None else f"{v:,.0f}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def rat(v, bold=False):
    if v is None:
        return "-"
    return f"**{v:.2f}**" if bold else f"{v:.2f}"


def header(args):
    path = args.bale
    if path.startswith(ROOT + "/"):
        path = os.path.relpath(path, ROOT)
    bale = shlex.join([path] + bale_cmd(args, "DIR")[1:])
    print(f"`{shlex.join(['bench/run_http.py'] + sys.argv[1:])}` on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; {nginx_version()}, {wrk_version()}; client and "
          f"servers share the machine. bale: `{bale}` ({args.threads} event-loop threads); "
          f"nginx: {nginx_summary(args)}.\n")


def nginx_version():
    r = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    m = re.search(r"nginx/(\S+)", r.stderr)
    return f"nginx {m.group(1)}" if m else "nginx"


def wrk_version():
    r = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    m = re.search(r"wrk (\S+)", r.stdout + r.stderr)
    return f"wrk {m.group(1)}" if m else "wrk"


def report_get(args, rounds, cmds):
    route = ("public URLs `/{partition}/{key}/{cookie}`" if args.bale_route == "public"
             else "`/o/{key}`")
    print(f"### HTTP GET, {args.objects:,} random objects of {args.size:,} bytes: bale "
          f"({route}) against nginx (one file per object)\n")
    header(args)
    print("nginx serves the objects as files in a 256 × 256 hashed directory tree; bale "
          "holds them after one `PUT /o/{key}` each. Every object was read back from both "
          "and compared byte for byte before the rounds (which also warmed both), and "
          "each round reads the same random sequence of objects from each:\n")
    for name in ("nginx", "bale"):
        if name in cmds:
            print(f"    {cmds[name]}")
    print()
    print("| round | nginx req/s | bale req/s | bale/nginx | nginx avg µs | bale avg µs "
          "| nginx p99 µs | bale p99 µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    g = lambda res, k: None if res is None else res[k]
    for i, (n, b) in enumerate(rounds):
        print(f"| {i + 1} | {num(g(n, 'rps'))} | {num(g(b, 'rps'))} | "
              f"{rat(ratio(g(b, 'rps'), g(n, 'rps')))} | {num(g(n, 'avg_us'))} | "
              f"{num(g(b, 'avg_us'))} | {num(g(n, 'p99_us'))} | {num(g(b, 'p99_us'))} |")
    col = lambda j, k: med(g(r[j], k) for r in rounds)
    ratios = [ratio(g(b, "rps"), g(n, "rps")) for n, b in rounds]
    mr = med(ratios)
    print(f"| median | {num(col(0, 'rps'))} | {num(col(1, 'rps'))} | {rat(mr, True)} | "
          f"{num(col(0, 'avg_us'))} | {num(col(1, 'avg_us'))} | {num(col(0, 'p99_us'))} | "
          f"{num(col(1, 'p99_us'))} |\n")
    if mr is not None:
        print(f"The bold figure is the median of the per-round ratios (goal ≥ 1.0: "
              f"{'met' if mr >= 1.0 else 'not met'}); the ratio of the median req/s is "
              f"{rat(ratio(col(1, 'rps'), col(0, 'rps')))}.\n")


def report_upload(args, rounds, cmds):
    print(f"### HTTP uploads of {args.size:,}-byte objects: bale `PUT /o/{{key}}` and "
          f"`POST /batch` ({args.batch} objects a request) against nginx WebDAV `PUT` of "
          f"one file per object, bale `--durability {args.durability}`\n")
    header(args)
    sync = (f"a thread syncfs()es its file system every {args.interval_ms} ms while it runs "
            f"(as `bale bench files --durability interval`"
            + ("; bale syncs before every reply, which nginx cannot" if args.durability == "sync"
               else "") + ")" if args.durability != "none" else "nothing syncs its files")
    print(f"Every key is new. One nginx serves the whole phase, so later rounds write next "
          f"to earlier rounds' files; each bale run starts on an empty data directory "
          f"(removed after the run: a run writes GiBs). nginx (`dav_methods PUT`: each body "
          f"goes to a temp file on the same file system, then is renamed) writes into a "
          f"256 × 256 tree made beforehand; {sync}. Objects "
          f"written by each run were read back and compared, and before each batch run one "
          f"batch was checked object by object. Each round runs, in this order:\n")
    for name in ("nginx", "bale", "batch"):
        if name in cmds:
            print(f"    {cmds[name]}")
    print()
    print("| round | nginx PUT/s | bale PUT/s | bale/nginx | bale batch objects/s | "
          "batch/nginx | nginx avg µs | bale PUT avg µs | bale batch avg µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rps = lambda row, k, per=1: row[k]["rps"] * per if k in row else None
    avg = lambda row, k: row[k]["avg_us"] if k in row else None
    for i, row in enumerate(rounds):
        n, b, bb = rps(row, "nginx"), rps(row, "bale"), rps(row, "batch", args.batch)
        print(f"| {i + 1} | {num(n)} | {num(b)} | {rat(ratio(b, n))} | {num(bb)} | "
              f"{rat(ratio(bb, n))} | {num(avg(row, 'nginx'))} | {num(avg(row, 'bale'))} | "
              f"{num(avg(row, 'batch'))} |")
    mcol = lambda f: med(f(row) for row in rounds)
    r1 = med(ratio(rps(row, "bale"), rps(row, "nginx")) for row in rounds)
    r2 = med(ratio(rps(row, "batch", args.batch), rps(row, "nginx")) for row in rounds)
    print(f"| median | {num(mcol(lambda r: rps(r, 'nginx')))} | "
          f"{num(mcol(lambda r: rps(r, 'bale')))} | {rat(r1, True)} | "
          f"{num(mcol(lambda r: rps(r, 'batch', args.batch)))} | {rat(r2, True)} | "
          f"{num(mcol(lambda r: avg(r, 'nginx')))} | {num(mcol(lambda r: avg(r, 'bale')))} | "
          f"{num(mcol(lambda r: avg(r, 'batch')))} |\n")
    print("Bold figures are medians of the per-round ratios; batch latency is per request "
          f"of {args.batch} objects.\n")
    files = rounds[-1].get("files") if rounds else None
    if files is not None:
        bm = med(rps(row, "bale") for row in rounds)
        print(f"For scale, `{cmds['files']}` (bale's in-process one-file-per-object writer: "
              f"no HTTP, {args.objects:,} objects, {args.threads} threads, the same "
              f"durability), run once after the rounds, wrote {num(files)} files/s"
              + (f"; bale `PUT /o/` did {bm / files:.2f}× that" if bm else "") + ".\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--time", type=duration, default="10s", help="wrk -d for GET rounds")
    p.add_argument("--upload-time", type=duration, help="wrk -d for uploads (default --time)")
    p.add_argument("--objects", type=int, default=20000)
    p.add_argument("--size", type=int, default=10240)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bale", default=os.path.join(ROOT, "build", "bale"))
    p.add_argument("--bale-route", choices=["public", "o"], default="public",
                   help="GET bale's public URLs (default) or /o/{key}")
    p.add_argument("--durability", default="interval", choices=["sync", "interval", "none"])
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2,
                   help="wrk -t, bale --threads, nginx worker_processes")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="objects per POST /batch")
    p.add_argument("--skip", choices=["get", "upload"], action="append", default=[])
    p.add_argument("--no-files", dest="files", action="store_false",
                   help="skip the `bale bench files` reference")
    p.add_argument("--tmp", help="where temp dirs go (default build/ if it exists, "
                                 "else the system temp dir); bale and nginx share it")
    p.add_argument("--peer-only", action="store_true",
                   help="only nginx (and `bale bench files`): a self-check without bale HTTP")
    args = p.parse_args()
    global MISSING
    MISSING = "-" if args.peer_only else "failed"
    args.upload_time = args.upload_time or args.time
    args.bale = os.path.abspath(args.bale)
    if args.rounds < 1 or args.objects < 1 or args.size < 1 or args.batch < 1:
        p.error("--rounds, --objects, --size and --batch must be positive")
    for tool in ("wrk", "nginx", "curl"):
        if shutil.which(tool) is None:
            p.error(f"{tool} is not installed")
    if not args.peer_only and not os.access(args.bale, os.X_OK):
        p.error(f"{args.bale} is missing; build it first (make build)")
    base = args.tmp or (os.path.join(ROOT, "build") if os.path.isdir(os.path.join(ROOT, "build"))
                        else tempfile.gettempdir())
    free = shutil.disk_usage(base).free
    need = (2 * args.objects * (args.size + 4096) + (2 << 30)
            + int(seconds(args.upload_time)) * (512 << 20))  # a bale upload run at 512 MiB/s
    if free < need:
        p.error(f"{base} has {free >> 20} MiB free; the run wants about {need >> 20} MiB")

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    status = 0
    results = {}
    try:
        if "get" not in args.skip:
            try:
                results["get"] = get_phase(args, base)
            except ERRORS as e:
                fail(f"GET phase: {e!r}")
        if "upload" not in args.skip:
            try:
                results["upload"] = upload_phase(args, base)
            except ERRORS as e:
                fail(f"upload phase: {e!r}")
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        status = 130
    finally:
        cleanup()
    if status:
        return status
    if "get" in results:
        report_get(args, *results["get"])
    if "upload" in results:
        report_upload(args, *results["upload"])
    if FAILED:
        log(f"{len(FAILED)} failure(s):")
        for f in FAILED:
            log(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
