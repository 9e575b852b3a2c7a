#!/usr/bin/python3
"""Misbehaving HTTP server for the dl-fetch tests, on 127.0.0.1 (free port).

    server.py ROOT LOG      prints "port N" on stdout once listening;
                            appends "METHOD PATH RANGE STATUS" per request to LOG

The first path component picks a behaviour; the rest names a file under ROOT
(e.g. /drop/c1/data.bin serves ROOT/c1/data.bin).  State is kept per full
path, so each test uses its own folder.

  /ok/F        plain file: ETag, Last-Modified, honours Range + If-Range
  /nolm/F      like ok, but no ETag or Last-Modified (cannot be resumed)
  /drop/F      1st request: half the body, then the connection is closed;
               later requests: like ok
  /norange/F   1st request like drop; later requests ignore Range (200, all)
  /change/F    1st request: half of F.v1 (ETag "v1"), then closed;
               later: F (ETag "v2"); If-Range "v1" gets the whole new file
  /stall/F     headers and 1000 bytes, then nothing for 60 s
  /busy/F      1st request 503 with Retry-After: 1; later like ok
  /slow/F      like ok, but the body takes about 1.5 s (for lock tests)
  /gone/F      404
  /to-ok/F     302 to /ok/F
  /to-file/F   302 to file:///etc/F
"""
import email.utils
import hashlib
import http.server
import os
import sys
import threading
import time

LOCK = threading.Lock()
SEEN = {}   # full path -> requests so far


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def note(self, status):
        with open(self.server.logpath, "a") as f:
            f.write("%s %s %s %d\n" % (self.command, self.path,
                                       self.headers.get("Range", "-"), status))

    def plain(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.note(status)

    def do_GET(self):
        parts = self.path.split("/", 2)
        if len(parts) < 3:
            return self.plain(404)
        mode, rest = parts[1], parts[2]
        with LOCK:
            n = SEEN.get(self.path, 0)
            SEEN[self.path] = n + 1
        if mode == "gone":
            return self.plain(404, body=b"not here\n")
        if mode == "to-ok":
            return self.plain(302, [("Location", "/ok/" + rest)])
        if mode == "to-file":
            return self.plain(302, [("Location", "file:///etc/" + rest)])
        if mode == "busy" and n == 0:
            return self.plain(503, [("Retry-After", "1")], b"busy\n")
        path = os.path.join(self.server.root, rest)
        if mode == "change" and n == 0:
            path += ".v1"
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return self.plain(404)
        if mode == "change":
            etag = '"v1"' if n == 0 else '"v2"'
        else:
            etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
        mtime = email.utils.formatdate(os.stat(path).st_mtime, usegmt=True)
        validators = [] if mode == "nolm" else [("ETag", etag), ("Last-Modified", mtime)]
        start = 0
        rng = self.headers.get("Range")
        ifr = self.headers.get("If-Range")
        honour = rng and (mode != "norange" or n == 0)
        if honour and ifr is not None and ifr not in (etag, mtime):
            honour = False          # changed since: the whole new file
        if honour and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.plain(416, [("Content-Range", "bytes */%d" % len(data))])
        body = data[start:]
        status = 206 if start else 200
        self.send_response(status)
        for k, v in validators:
            self.send_header(k, v)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.note(status)
        if mode in ("drop", "norange", "change") and n == 0:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(60)
            return
        if mode == "slow":
            step = max(1, len(body) // 15)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.root = sys.argv[1]
    srv.logpath = sys.argv[2]
    print("port %d" % srv.server_port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
