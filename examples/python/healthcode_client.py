#!/usr/bin/env python3
"""A healthcode gRPC client in Python: looks up document numbers with GetCode (one id) or
GetCodes (several) and prints each person's colour and the reasons, laid out like
`healthcode query`.

The message and stub modules are generated from the repository's proto/ with grpcio-tools the
first time they are needed (and again whenever the .proto is newer), into target/python-stubs/,
so nothing generated is committed.

    python healthcode_client.py [--server HOST:PORT] [--tokens FILE | --token T] ID [ID ...]
"""

import argparse
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROTO_ROOT = REPO / "proto"
PROTO_FILE = "healthcode/v1/healthcode.proto"
STUBS_DIR = REPO / "target" / "python-stubs"

# Largest answer accepted: a full GetCodes answer with findings is about 400 kB per 1,000 ids.
MAX_RECEIVE = 64 << 20


def load_stubs(proto_root=PROTO_ROOT, out_dir=STUBS_DIR):
    """The generated modules `healthcode_pb2` and `healthcode_pb2_grpc` of healthcode.v1,
    generating them first when they are missing or older than the .proto."""
    proto = Path(proto_root) / PROTO_FILE
    if not proto.is_file():
        raise SystemExit(f"healthcode_client: {proto}: no such file (the gRPC contract)")
    out_dir = Path(out_dir)
    done = out_dir / "healthcode" / "v1" / "healthcode_pb2_grpc.py"
    if not done.exists() or done.stat().st_mtime < proto.stat().st_mtime:
        from grpc_tools import protoc

        out_dir.parent.mkdir(parents=True, exist_ok=True)
        # Generated beside the final place, then swapped in whole, so that a concurrent run
        # never imports half a directory.
        tmp = Path(tempfile.mkdtemp(prefix=".python-stubs.", dir=out_dir.parent))
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{proto_root}",
                f"--python_out={tmp}",
                f"--grpc_python_out={tmp}",
                PROTO_FILE,
            ]
        )
        if rc != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SystemExit(f"healthcode_client: grpc_tools.protoc failed on {proto} (exit {rc})")
        for d in (tmp / "healthcode", tmp / "healthcode" / "v1"):
            (d / "__init__.py").touch()
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=".python-stubs-old.", dir=out_dir.parent))
            os.replace(out_dir, old / "stubs")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    pb2 = importlib.import_module("healthcode.v1.healthcode_pb2")
    pb2_grpc = importlib.import_module("healthcode.v1.healthcode_pb2_grpc")
    return pb2, pb2_grpc


def default_tokens_file():
    """The demo's tokens file: `demo/tokens` in the healthcode home."""
    home = os.environ.get("HEALTHCODE_HOME") or os.path.expanduser("~/.local/share/healthcode")
    return Path(home) / "demo" / "tokens"


def first_token(path, role="query"):
    """The first token of `role` in a tokens file of lines `ROLE NAME TOKEN` (`#` comments)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"healthcode_client: --tokens {path}: {e.strerror}") from None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3:
            raise SystemExit(f"healthcode_client: {path}:{n}: expected `ROLE NAME TOKEN`")
        if fields[0] == role:
            return fields[2]
    raise SystemExit(f"healthcode_client: {path}: no `{role}` token")


def mask_id(text):
    """A document number with all but its first 6 and last 4 characters hidden, as the server
    and `healthcode query` show it (wholly hidden when too short)."""
    n = len(text)
    if n < 6 + 4 + 4:
        return "*" * n
    return text[:6] + "*" * (n - 10) + text[-4:]


COLOURS = {
    "COLOR_GREEN": "GREEN  (no anomaly found)",
    "COLOR_YELLOW": "YELLOW (home quarantine)",
    "COLOR_RED": "RED    (central quarantine)",
}


def render(pb2, id_number, r):
    """The human-readable form of one CodeResponse, line for line as `healthcode query` prints
    it."""
    colour = COLOURS.get(pb2.Color.Name(r.color), "unknown")
    lines = [
        f"person:  {mask_id(id_number.strip())}{'' if r.known else ' (no record in any feed)'}",
        f"as of:   {r.as_of} (index generation {r.index_generation}, data as of {r.data_as_of})",
        f"colour:  {colour}",
        f"travel:  {'allowed' if r.travel_allowed else 'NOT allowed'}",
        "findings: none" if not r.findings else "findings (strongest first):",
    ]
    for f in r.findings:
        try:
            reason = pb2.Reason.Name(f.reason).removeprefix("REASON_")
        except ValueError:
            reason = "UNKNOWN"
        line = f"  - {reason}"
        if f.region_code:
            line += f" in {f.region_name} ({f.region_code})"
        if f.risk_area_code:
            line += f", risk area {f.risk_area_code}"
        line += f", {f.day}"
        if f.phone_tail:
            line += f", phone ending {f.phone_tail}"
        line += ", blocks travel" if f.blocks_travel else ", popup"
        lines.append(line)
    return "\n".join(lines) + "\n"


def connect(server):
    """A plaintext channel to `server` that accepts large GetCodes answers."""
    import grpc

    return grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", MAX_RECEIVE)])


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Look up health codes on a healthcode server (GetCode for one id, GetCodes for several)."
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="document numbers (18-character resident IDs)")
    p.add_argument("--server", default="127.0.0.1:50051", help="HOST:PORT (default %(default)s)")
    p.add_argument("--token", help="bearer token (default: $HEALTHCODE_TOKEN, else --tokens)")
    p.add_argument(
        "--tokens",
        help="tokens file `ROLE NAME TOKEN`; its first query token is sent "
        "(default: the demo's, $HEALTHCODE_HOME/demo/tokens)",
    )
    p.add_argument("--as-of", default="", help="ask as of this day (YYYY-MM-DD) instead of the server's today")
    args = p.parse_args(argv)

    import grpc

    token = args.token or (None if args.tokens else os.environ.get("HEALTHCODE_TOKEN"))
    if token is None:
        token = first_token(args.tokens or default_tokens_file())
    pb2, pb2_grpc = load_stubs()
    metadata = [("authorization", f"Bearer {token}")]
    stub = pb2_grpc.HealthCodeStub(connect(args.server))
    try:
        if len(args.ids) == 1:
            r = stub.GetCode(pb2.CodeRequest(id_number=args.ids[0], as_of=args.as_of), metadata=metadata, timeout=30)
            sys.stdout.write(render(pb2, args.ids[0], r))
            return 0
        batch = stub.GetCodes(
            pb2.BatchCodeRequest(id_numbers=args.ids, as_of=args.as_of), metadata=metadata, timeout=60
        )
    except grpc.RpcError as e:
        print(f"healthcode_client: {args.server}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    invalid = 0
    for i, (id_number, result) in enumerate(zip(args.ids, batch.results)):
        if i:
            sys.stdout.write("\n")
        if result.valid:
            sys.stdout.write(render(pb2, id_number, result.code))
        else:
            invalid += 1
            sys.stdout.write(f"person:  {mask_id(id_number.strip())}\ninvalid: {result.error}\n")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
