"""A minimal OTLP/HTTP traces receiver for the trace-export test.

Listens on 127.0.0.1 (port 0), prints `listening <port>` first, then decodes every
POST /v1/traces body as an ExportTraceServiceRequest (protobuf, opentelemetry-proto)
and appends one JSON line per span to the file named on the command line, with the
request's headers. `--blackhole` accepts connections and never answers (a hung
collector). `--tls CERT KEY` serves HTTPS with that certificate and key (PEM).
"""

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUT = sys.argv[1]
LOCK = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        rows = []
        for rs in req.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    rows.append(
                        {
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "name": s.name,
                            "kind": s.kind,
                            "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                            "status": s.status.code,
                            "attributes": {a.key: value(a.value) for a in s.attributes},
                            "resource": resource,
                            "scope": ss.scope.name,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "content_type": self.headers.get("Content-Type"),
                        }
                    )
        with LOCK, open(OUT, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def blackhole():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)  # never read, never answered


if __name__ == "__main__":
    if "--blackhole" in sys.argv:
        blackhole()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if "--tls" in sys.argv:
        import ssl

        i = sys.argv.index("--tls")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[i + 1], sys.argv[i + 2])
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
