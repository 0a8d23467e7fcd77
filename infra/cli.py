"""Liên thông from the command line: for clerks, leaders, auditors and admins.

Every command goes through the gateway's HTTP API (:mod:`infra.api`)::

    python -m infra.cli login van.thu@ubnd-tinh
    python -m infra.cli send chi-thi.pdf --metadata chi-thi.json
    python -m infra.cli submit ID --signer chu.tich@ubnd-tinh
    python -m infra.cli inbox

The API's address comes from ``--api``, else ``LIENTHONG_API``, else
http://127.0.0.1:8000. The bearer token comes from ``LIENTHONG_TOKEN``, else
the file ``login`` writes (``$XDG_CONFIG_HOME/lienthong/token``, mode 0600).
``--json`` prints the API's answers as they are instead of tables.

Exit codes: 0 done, 1 a check failed (``verify``, ``audit verify``),
2 an error (printed as ``error: <code>: <message> (field: <field>)``).
"""

import argparse
import base64
import getpass
import hashlib
import json
import mimetypes
import os
import sys
from contextlib import ExitStack
from urllib.parse import quote

import requests

from infra.api import Api, ApiError

DEFAULT_API = "http://127.0.0.1:8000"
CHUNK = 64 * 1024
RECALL_TYPES = {"revoke": 1, "update": 2, "replace": 3}


class CliError(Exception):
    """An error of the command line itself, printed like the API's."""

    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


# -- output --------------------------------------------------------------------------------


def cell(value):
    """A value as one line of a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:59] + "…"


def format_table(rows, columns=None):
    """``rows`` (dicts) as aligned columns under a header; ``columns`` picks and orders
    them (those no row has are left out), else every key of the first row.
    Widths are ``len()`` of the text: Vietnamese letters count one each."""
    if not rows:
        return "(none)"
    if columns is None:
        columns = list(rows[0])
    else:
        columns = [c for c in columns if any(c in row for row in rows)]
    lines = [[c.upper() for c in columns]] + [[cell(row.get(c)) for c in columns]
                                               for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
                     for line in lines)


def format_fields(answer, keys=None):
    """A dict as ``key: value`` lines (the scalar ones, or ``keys`` when given)."""
    keys = keys or [k for k, v in answer.items() if not isinstance(v, (dict, list))]
    keys = [k for k in keys if k in answer]
    width = max((len(k) for k in keys), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell(answer[k])}" for k in keys)


def format_error(code, message, field=None):
    return f"error: {code}: {message}" + (f" (field: {field})" if field else "")


class Progress:
    """A progress bar on stderr, redrawn only when the percentage changes."""

    def __init__(self, label, stream=None, width=30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.shown = None

    def __call__(self, done, total):
        percent = int(done * 100 / total) if total else 100
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.width * percent // 100
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}]"
                          f" {percent:3d}% {_size(done)}")
        self.stream.flush()

    def close(self):
        if self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


# -- the token -----------------------------------------------------------------------------


def token_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "lienthong", "token")


def save_token(token):
    """Write the token where only its owner can read it (0600, even over an old file)."""
    path = token_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return path


def load_token():
    """``LIENTHONG_TOKEN``, else the saved token, else None."""
    if os.environ.get("LIENTHONG_TOKEN"):
        return os.environ["LIENTHONG_TOKEN"].strip()
    try:
        with open(token_path()) as fh:
            return fh.read().strip() or None
    except FileNotFoundError:
        return None


def read_password(args, prompt="Password: "):
    """From stdin (one line) when asked or when stdin is not a terminal, else a prompt."""
    if getattr(args, "password_stdin", False) or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(prompt)
    if not password:
        raise CliError("validation_failed", "an empty password", "password")
    return password


# -- commands ------------------------------------------------------------------------------
# Each takes (api, args, out) and returns an exit code; ``out(answer, text)`` prints
# the raw JSON under --json, else ``text`` (a string, or a function of the answer).


def doc(document_id, action=""):
    return f"/v1/documents/{document_id}" + (f"/{action}" if action else "")


def cmd_login(api, args, out):
    password = read_password(args)
    answer = api.post("/v1/auth/login", {"user_id": args.user, "password": password})
    path = save_token(answer["token"])
    if args.print_token:
        print(answer["token"])
    else:
        print(f"logged in as {args.user} until {answer['expires_at']} (token in {path})")
    return 0


def cmd_logout(api, args, out):
    """Revoke the saved token at the gateway (it may already be invalid), then forget it."""
    token = load_token()
    if token:
        try:
            Api(api.base_url, token, api.timeout).post("/v1/auth/logout")
        except ApiError as err:
            if err.status != 401:
                raise
    try:
        os.remove(token_path())
        print("logged out")
    except FileNotFoundError:
        print("not logged in")
    if os.environ.get("LIENTHONG_TOKEN"):
        print("note: LIENTHONG_TOKEN is still set", file=sys.stderr)
    return 0


def cmd_send(api, args, out):
    try:
        with open(args.metadata, encoding="utf-8") as fh:
            metadata = json.load(fh)
    except (OSError, ValueError) as err:
        raise CliError("validation_failed", f"cannot read the metadata: {err}",
                       "metadata") from None
    with ExitStack() as stack:
        # Open every file and give its size: the upload streams from them.
        files = []
        for form_name, path in [("file", args.file)] + [("attachment", a)
                                                         for a in args.attach]:
            fh = stack.enter_context(open(path, "rb"))
            kind = ("application/pdf" if form_name == "file"
                    else mimetypes.guess_type(path)[0] or "application/octet-stream")
            files.append((form_name, os.path.basename(path), fh, os.fstat(fh.fileno()).st_size,
                          kind))
        progress = Progress("uploading")
        try:
            answer = api.register(metadata, files, progress=progress)
        finally:
            progress.close()
    out(answer, lambda a: f"registered draft {a['document_id']}\n"
                          f"sha256: {(a.get('file') or {}).get('sha256', '?')}")
    return 0


def _done(what, keys=("document_id", "state", "number_notation", "recipients",
                      "arrival_number", "status")):
    """The printer of an action's answer: one line, then its main fields."""
    def text(answer):
        if not isinstance(answer, dict):
            return what
        fields = format_fields(answer, [k for k in keys if k in answer])
        return what + ("\n" + fields if fields else "")
    return text


def cmd_submit(api, args, out):
    out(api.post(doc(args.id, "submit"), {"signer_user": args.signer}),
        _done(f"submitted {args.id} to {args.signer}"))
    return 0


def cmd_approve(api, args, out):
    answer = api.post(doc(args.id, "sign"))
    serial = ((answer or {}).get("certificate") or {}).get("serial")
    out(answer, _done(f"approved and signed {args.id}"
                      + (f" (certificate {serial})" if serial else "")))
    return 0


def cmd_sign_digest(api, args, out):
    """Sign with the leader's own token (infra.device): the server never sees the PIN."""
    from infra import device

    try:
        answer = device.sign_digest(api, args)
    except device.DeviceError as err:
        raise CliError(err.code, err.message, err.field) from None
    out(answer, _done(f"Đã ký số văn bản {args.id} bằng token {args.token}"))
    return 0


def cmd_certificate_request(api, args, out):
    """Request a certificate for the key in your own token (infra.device): the token
    signs the request; an administrator of your agency approves it."""
    from infra import device

    try:
        answer = device.request_certificate(api, args)
    except device.DeviceError as err:
        raise CliError(err.code, err.message, err.field) from None
    out(answer, _done(f"Đã gửi yêu cầu cấp chứng thư số {answer.get('request_id')} cho khóa"
                      f" trong token {args.token}; chờ quản trị đơn vị phê duyệt",
                      ("request_id", "state", "full_name", "agency", "key_sha256")))
    return 0


def cmd_sign_remote(api, args, out):
    """Sign through the leader's remote signing service: only the OTP goes, to the
    server, which asks the provider to sign the hand-out's digest with it."""
    if args.otp_file:
        with open(args.otp_file, encoding="utf-8") as fh:
            code = fh.readline()
    else:
        code = getpass.getpass("Mã OTP trên ứng dụng xác thực của dịch vụ ký số từ xa: ")
    if not code.strip():
        raise CliError("validation_failed", "Chưa nhập mã OTP", "otp")
    out(api.post(doc(args.id, "signature/remote"), {"otp": code.strip()}),
        _done(f"Đã ký số văn bản {args.id} qua dịch vụ ký số từ xa"))
    return 0


def cmd_return(api, args, out):
    out(api.post(doc(args.id, "return"), {"comment": args.comment}),
        _done(f"returned {args.id} to the clerk"))
    return 0


def cmd_seal(api, args, out):
    out(api.post(doc(args.id, "seal")), _done(f"sealed {args.id}"))
    return 0


def cmd_issue(api, args, out):
    out(api.post(doc(args.id, "issue")), _done(f"issued {args.id}"))
    return 0


def dispatch_body(document_id, targets, level=None, consignment=None):
    """The body of ``send``: one subtree at a level, or the agencies named."""
    if level:
        if len(targets) != 1:
            raise CliError("validation_failed", "--level takes exactly one --to", "to")
        addressing = {"subtree": targets[0], "level": level}
    else:
        addressing = {"agencies": list(targets)}
    # The same target gives the same consignment id: a retry is harmless.
    default = f"{document_id}:{level or 'agencies'}:{'+'.join(sorted(targets))}"
    return {"addressing": addressing, "consignment_id": consignment or default[:200]}


def cmd_dispatch(api, args, out):
    body = dispatch_body(args.id, args.to, args.level, args.consignment)
    out(api.post(doc(args.id, "send"), body), _done(f"sent {args.id}"))
    return 0


def cmd_recall(api, args, out):
    body = {"business_type": RECALL_TYPES[args.type], "reason": args.reason}
    out(api.post(doc(args.id, "recall"), body), _done(f"asked to {args.type} {args.id}"))
    return 0


def cmd_answer_recall(api, args, out):
    body = {"agree": bool(args.agree), "reason": args.reason}
    out(api.post(doc(args.id, "recall/answer"), body),
        _done(f"{'agreed to' if args.agree else 'refused'} the recall of {args.id}"))
    return 0


def cmd_show(api, args, out):
    out(api.get(doc(args.id)), format_fields)
    return 0


def cmd_inbox(api, args, out):
    out(api.get("/v1/inbox"), lambda rows: format_table(rows, [
        "document_id", "sender", "urgency", "status", "recalled", "delivered_at"]))
    return 0


def cmd_incoming(api, args, out):
    params = {"year": args.year} if args.year else {}
    out(api.get("/v1/incoming", **params), lambda rows: format_table(rows, [
        "arrival_number", "year", "number_notation", "sender", "state", "arrived_at",
        "document_id", "reason"]))
    return 0


def cmd_accept(api, args, out):
    out(api.post(f"/v1/incoming/{args.id}/accept"), _done(f"accepted {args.id}"))
    return 0


def cmd_reject(api, args, out):
    out(api.post(f"/v1/incoming/{args.id}/return", {"reason": args.reason}),
        _done(f"returned {args.id} to its sender"))
    return 0


def cmd_status(api, args, out):
    out(api.post(doc(args.id, "status"), {"code": args.code, "reason": args.reason}),
        _done(f"reported status {args.code} on {args.id}"))
    return 0


def cmd_statuses(api, args, out):
    def text(rows):
        return format_table([{**r, "updates": len(r.get("history") or [])} for r in rows],
                            ["recipient", "sender", "status", "recalled", "updates"])
    out(api.get(doc(args.id, "statuses")), text)
    return 0


def cmd_download(api, args, out):
    url = api.get(doc(args.id, "file"))["url"]
    digest, size = hashlib.sha256(), 0
    progress = Progress("downloading")
    try:
        # Streamed in chunks: the file is never held whole.
        with requests.get(url, stream=True, timeout=api.timeout) as response:
            if response.status_code >= 400:
                raise CliError("download_failed", f"the storage answered"
                               f" {response.status_code}", "url")
            total = int(response.headers.get("Content-Length") or 0)
            with open(args.output, "wb") as fh:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    progress(size, total or size)
    finally:
        progress.close()
    answer = {"document_id": args.id, "path": args.output, "size": size,
              "sha256": digest.hexdigest()}
    out(answer, lambda a: f"wrote {a['path']} ({_size(a['size'])})\nsha256: {a['sha256']}")
    return 0


def _save(url, path, timeout):
    """Stream ``url`` to ``path``: (size, sha256)."""
    digest, size = hashlib.sha256(), 0
    with requests.get(url, stream=True, timeout=timeout) as response:
        if response.status_code >= 400:
            raise CliError("download_failed", f"the storage answered {response.status_code}",
                           "url")
        with open(path, "wb") as fh:
            for chunk in response.iter_content(CHUNK):
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    return size, digest.hexdigest()


def cmd_manifest(api, args, out):
    """The signed manifest and its detached signature, to check with openssl."""
    urls = api.get(doc(args.id, "manifest"))
    written = {}
    for kind in ("json", "p7s"):
        path = os.path.join(args.output, f"{args.id}.manifest.{kind}")
        size, sha256 = _save(urls[kind], path, api.timeout)
        written[kind] = {"path": path, "size": size, "sha256": sha256}
    out(written, lambda w: "\n".join(f"wrote {v['path']} ({_size(v['size'])})"
                                      for v in w.values())
        + f"\ncheck it: openssl cms -verify -binary -inform DER -in {written['p7s']['path']}"
          f" -content {written['json']['path']} -CAfile ROOT.pem -purpose any")
    return 0


def cmd_trust_anchor(api, args, out):
    """The root certificate and the CRL, written as files a recipient's tools read."""
    anchor = api.get("/v1/trust-anchor")
    root = os.path.join(args.output, "lienthong-root.pem")
    crl = os.path.join(args.output, "lienthong.crl")
    with open(root, "w", encoding="ascii") as fh:
        fh.write(anchor["root_certificate"])
    with open(crl, "wb") as fh:
        fh.write(base64.b64decode(anchor["crl"]))
    out({"root_certificate": root, "crl": crl, "tsa_url": anchor["tsa_url"]},
        lambda a: f"wrote {a['root_certificate']} and {a['crl']}\n"
                  f"check a PDF: pdfsig FILE.pdf, or pyhanko sign validate --trust"
                  f" {a['root_certificate']} FILE.pdf")
    return 0


def verify_lines(verdict):
    """Each check of a verification report, ✓ or ✗ with its detail."""
    lines = []
    for part in ("pdf", "manifest"):
        report = verdict.get(part)
        if report is None:
            lines.append(f"✗ {part}: not there")
            continue
        lines.append(f"{part}: {'VALID' if report.get('ok') else 'INVALID'}")
        for check in report.get("checks") or []:
            about = f" [{check['signature']}]" if check.get("signature") else ""
            detail = f": {check['detail']}" if check.get("detail") else ""
            lines.append(f"  {'✓' if check.get('ok') else '✗'} {check.get('check')}"
                         f"{about}{detail}")
    lines.append("ok" if verdict.get("ok") else "NOT OK")
    return "\n".join(lines)


def cmd_verify(api, args, out):
    verdict = api.get(doc(args.id, "verify"))
    out(verdict, verify_lines)
    return 0 if verdict.get("ok") else 1


def cmd_audit_verify(api, args, out):
    verdict = api.get("/v1/audit/verify")
    out(verdict, format_fields)
    return 0 if verdict.get("ok") else 1


def cmd_audit_status(api, args, out):
    out(api.get("/v1/audit/status"), format_fields)
    return 0


def cmd_audit_history(api, args, out):
    out(api.get(f"/v1/audit/documents/{args.id}/history"), lambda rows: format_table(rows, [
        "index", "event_type", "producer", "occurred_at", "recorded_at", "actor"]))
    return 0


def cmd_audit_evidence(api, args, out):
    bundle = api.get(f"/v1/audit/documents/{args.id}/evidence")
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(bundle, fh, ensure_ascii=False, indent=1)
    entries = len(bundle.get("entries") or [])
    out({"path": args.output, "entries": entries},
        lambda a: f"wrote {a['path']} ({a['entries']} entries); check it offline with"
                  f" python -m services.audit.verify_bundle {a['path']}")
    return 0


def cmd_edxml_export(api, args, out):
    """Write a document (or, with --status, a recipient's status) as edXML."""
    if args.status:
        params = {"recipient": args.recipient} if args.recipient else {}
        answer = api.get(doc(args.id, "edxml/status"), **params)
    else:
        answer = api.get(doc(args.id, "edxml"), inline="true" if args.inline else "false")
    xml = base64.b64decode(answer["package"])
    with open(args.output, "wb") as fh:
        fh.write(xml)
    out({"path": args.output, "bytes": len(xml)},
        lambda a: f"wrote {a['path']} ({a['bytes']} bytes of edXML)")
    return 0


def cmd_admin_import_edxml(api, args, out):
    """Post an edXML package received from the axis (a document, or with
    --status a status package) to the platform."""
    with open(args.file, "rb") as fh:
        package = base64.b64encode(fh.read()).decode()
    if args.status:
        out(api.post("/v1/edxml/statuses", {"package": package}),
            _done("status applied", ("document_id", "recipient", "code", "status")))
    else:
        out(api.post("/v1/edxml/documents", {"package": package}),
            _done("taken in", ("document_id", "from", "number_notation", "recipients",
                               "replaces", "repeated", "business_type", "documents",
                               "not_applied")))
    return 0


def cmd_admin_dead_letters(api, args, out):
    out(api.get(f"/v1/admin/dead-letters/{args.service}"), lambda rows: format_table(rows, [
        "id", "consumer", "event_id", "attempts", "failed_at", "replayed_at", "error"]))
    return 0


def cmd_admin_replay(api, args, out):
    out(api.post(f"/v1/admin/dead-letters/{args.service}/{args.id}/replay"),
        _done(f"dead letter {args.id} sent back", ("consumer", "queue")))
    return 0


def cmd_admin_quarantine(api, args, out):
    out(api.get(f"/v1/admin/quarantine/{args.service}"), lambda rows: format_table(rows, [
        "id", "consumer", "received_at", "producer", "event_type", "event_id", "reason"]))
    return 0


def cmd_admin_users(api, args, out):
    out(api.get("/v1/admin/users"), lambda rows: format_table(rows, [
        "user_id", "agency", "role", "full_name", "created_at"]))
    return 0


def cmd_admin_add_user(api, args, out):
    password = read_password(args, "New user's password: ")
    body = {"user_id": args.user, "agency": args.agency, "role": args.role,
            "full_name": args.name, "password": password}
    out(api.post("/v1/admin/users", body), _done(f"created {args.user}",
                                                 ("user_id", "agency", "role", "full_name")))
    return 0


def cmd_password(api, args, out):
    """Old password, then the new one, each on its own line of stdin (or prompted)."""
    old = read_password(args, "Current password: ")
    new = read_password(args, "New password: ")
    out(api.post("/v1/auth/password", {"old_password": old, "new_password": new}),
        "password changed: log in again (every earlier token stopped working)")
    return 0


def cmd_admin_disable_user(api, args, out):
    out(api.post(f"/v1/admin/users/{quote(args.user, safe='')}/disable"),
        _done(f"disabled {args.user}", ("user_id", "disabled_at")))
    return 0


def cmd_admin_agencies(api, args, out):
    out(api.get("/v1/admin/agencies"), lambda rows: format_table(rows, [
        "code", "name", "level", "parent", "valid_from", "valid_to"]))
    return 0


def cmd_admin_certificates(api, args, out):
    params = {"agency": args.agency} if args.agency else {}
    out(api.get("/v1/admin/certificates", **params), lambda rows: format_table(rows, [
        "serial", "subject", "agency_code", "role", "not_before", "not_after", "revoked_at"]))
    return 0


def cmd_admin_certificate_requests(api, args, out):
    params = {"state": args.state, **({"agency": args.agency} if args.agency else {})}
    out(api.get("/v1/admin/certificates/requests", **params), lambda rows: format_table(
        rows, ["request_id", "holder", "full_name", "agency", "state", "requested_at",
               "decided_by", "serial", "reason"]))
    return 0


def cmd_admin_approve_request(api, args, out):
    out(api.post(f"/v1/admin/certificates/requests/{quote(args.id, safe='')}/approve"),
        _done(f"approved request {args.id}", ("serial", "subject", "holder", "request_id")))
    return 0


def cmd_admin_reject_request(api, args, out):
    out(api.post(f"/v1/admin/certificates/requests/{quote(args.id, safe='')}/reject",
                 {"reason": args.reason}),
        _done(f"rejected request {args.id}", ("request_id", "state", "reason")))
    return 0


# -- arguments -----------------------------------------------------------------------------


def build_parser():
    # --api and --json are accepted before or after the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=argparse.SUPPRESS,
                        help=f"the gateway's URL (env LIENTHONG_API, default {DEFAULT_API})")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the API's raw JSON instead of tables")
    parser = argparse.ArgumentParser(prog="lienthong", parents=[common],
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, handler, help, sub=commands, token=True):
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(handler=handler, needs_token=token)
        return p

    p = command("login", cmd_login, "log in and keep the token", token=False)
    p.add_argument("user")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--print-token", action="store_true", help="print the token as well")
    command("logout", cmd_logout, "revoke the saved token and forget it", token=False)
    p = command("password", cmd_password, "change your password (old, then new)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the old and the new password from stdin, a line each")

    # -- outgoing documents
    p = command("send", cmd_send, "register a draft: the PDF, its metadata, attachments")
    p.add_argument("file", metavar="FILE.pdf")
    p.add_argument("--metadata", required=True, metavar="META.json")
    p.add_argument("--attach", action="append", default=[], metavar="FILE")
    p = command("submit", cmd_submit, "submit a draft to the leader who signs")
    p.add_argument("id")
    p.add_argument("--signer", required=True, metavar="USER")
    command("approve", cmd_approve, "approve and sign (leaders)").add_argument("id")
    p = command("sign-digest", cmd_sign_digest,
                "approve and sign with your own PKCS#11 token (leaders; asks the PIN)")
    p.add_argument("id")
    p.add_argument("--token", required=True, metavar="LABEL", help="the token's label")
    p.add_argument("--module", metavar="LIB.so", help="the token's PKCS#11 library (env"
                   " LIENTHONG_PKCS11_MODULE, default SoftHSM2's)")
    p.add_argument("--key-label", default="signing", metavar="LABEL",
                   help="the signing key's label in the token (default: signing)")
    p.add_argument("--pin-file", metavar="FILE", help="read the PIN from FILE (tests)")
    certificate = command("certificate", None, "your certificate (leaders)").add_subparsers(
        dest="certificate_command", required=True, metavar="COMMAND")
    p = command("request", cmd_certificate_request, "request a certificate for the key in"
                " your own PKCS#11 token (asks the PIN); your agency's administrator approves",
                certificate)
    p.add_argument("--token", required=True, metavar="LABEL", help="the token's label")
    p.add_argument("--module", metavar="LIB.so", help="the token's PKCS#11 library (env"
                   " LIENTHONG_PKCS11_MODULE, default SoftHSM2's)")
    p.add_argument("--key-label", default="signing", metavar="LABEL",
                   help="the signing key's label in the token (default: signing)")
    p.add_argument("--new-key", action="store_true",
                   help="make a new key in the token first (it never leaves it)")
    p.add_argument("--pin-file", metavar="FILE", help="read the PIN from FILE (tests)")
    p = command("sign-remote", cmd_sign_remote, "approve and sign through your remote"
                " signing service (leaders; asks the OTP)")
    p.add_argument("id")
    p.add_argument("--otp-file", metavar="FILE", help="read the OTP from FILE (tests)")
    p = command("return", cmd_return, "return a draft to the clerk (leaders)")
    p.add_argument("id")
    p.add_argument("--comment", required=True)
    command("seal", cmd_seal, "apply the agency's signature").add_argument("id")
    command("issue", cmd_issue, "issue: number and time given").add_argument("id")
    p = command("dispatch", cmd_dispatch, "send an issued document to agencies")
    p.add_argument("id")
    p.add_argument("--to", action="append", required=True, metavar="CODE",
                   help="an agency code (repeatable); with --level, the subtree's root")
    p.add_argument("--level", choices=["district", "commune"])
    p.add_argument("--consignment", metavar="ID",
                   help="the consignment id (default: from the document and target)")
    p = command("recall", cmd_recall, "ask every recipient to agree to a recall")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p.add_argument("--type", choices=list(RECALL_TYPES), default="revoke")
    p = command("answer-recall", cmd_answer_recall, "agree to or refuse a recall")
    p.add_argument("id")
    choice = p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--agree", action="store_true")
    choice.add_argument("--refuse", action="store_true")
    p.add_argument("--reason")
    command("show", cmd_show, "a document's metadata and state").add_argument("id")

    # -- incoming documents
    command("inbox", cmd_inbox, "documents delivered to your agency")
    p = command("incoming", cmd_incoming, "the incoming register")
    p.add_argument("--year", type=int)
    command("accept", cmd_accept, "accept an arrival into the register").add_argument("id")
    p = command("reject", cmd_reject, "return an arrival to its sender")
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    p = command("status", cmd_status, "report a status on a received document")
    p.add_argument("id")
    p.add_argument("code", choices=["02", "03", "04", "05", "06"])
    p.add_argument("--reason")
    command("statuses", cmd_statuses, "each recipient's status").add_argument("id")
    p = command("download", cmd_download, "download a document's current file")
    p.add_argument("id")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    command("verify", cmd_verify, "check a document's signatures, one by one"
            ).add_argument("id")
    p = command("manifest", cmd_manifest,
                "download a document's signed manifest and its CMS signature")
    p.add_argument("id")
    p.add_argument("-o", "--output", default=".", metavar="DIR")
    p = command("trust-anchor", cmd_trust_anchor,
                "download the platform's root certificate and CRL (to verify with your tools)")
    p.add_argument("-o", "--output", default=".", metavar="DIR")
    p = command("edxml", cmd_edxml_export,
                "write a document as an edXML package (QCVN 102:2016) for the national axis")
    p.add_argument("id")
    p.add_argument("-o", "--output", required=True, metavar="FILE.xml")
    p.add_argument("--inline", action="store_true", help="carry the files in the package")
    p.add_argument("--status", action="store_true",
                   help="a recipient's status package instead of the document")
    p.add_argument("--recipient", metavar="CODE", help="with --status: whose status")

    # -- auditors
    audit = command("audit", None, "the audit log (auditors)").add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND")
    command("verify", cmd_audit_verify, "verify the log against its checkpoints", audit)
    command("status", cmd_audit_status, "the log's size, checkpoints, alerts", audit)
    command("history", cmd_audit_history, "every logged event about a document",
            audit).add_argument("id")
    p = command("evidence", cmd_audit_evidence, "export a document's evidence bundle", audit)
    p.add_argument("id")
    p.add_argument("-o", "--output", required=True, metavar="FILE")

    # -- admins
    admin = command("admin", None, "users, agencies, certificates (admins); directory,"
                    " edXML imports, dead letters (operators)").add_subparsers(
        dest="admin_command", required=True, metavar="COMMAND")
    command("users", cmd_admin_users, "list users", admin)
    command("disable-user", cmd_admin_disable_user, "disable a user: no more logins, their"
            " tokens stop working at once", admin).add_argument("user")
    p = command("add-user", cmd_admin_add_user, "create a user (password from stdin)", admin)
    p.add_argument("user")
    p.add_argument("--agency", required=True, metavar="CODE")
    p.add_argument("--role", required=True,
                   choices=["clerk", "leader", "auditor", "admin", "operator"])
    p.add_argument("--name", required=True)
    command("agencies", cmd_admin_agencies, "the agency directory", admin)
    services = ["docs", "signing", "routing"]
    command("dead-letters", cmd_admin_dead_letters, "events a service's consumers gave up on",
            admin).add_argument("service", choices=services)
    p = command("replay", cmd_admin_replay, "send a dead letter back to its consumer", admin)
    p.add_argument("service", choices=services)
    p.add_argument("id", type=int)
    command("quarantine", cmd_admin_quarantine,
            "events a service refused (forged, unsigned, wrong producer), with why",
            admin).add_argument("service", choices=services + ["audit"])
    p = command("import-edxml", cmd_admin_import_edxml,
                "take in an edXML package from the national axis", admin)
    p.add_argument("file", metavar="FILE.xml")
    p.add_argument("--status", action="store_true", help="the file is a status package")
    p = command("certificates", cmd_admin_certificates, "certificates issued", admin)
    p.add_argument("--agency", metavar="CODE")
    p = command("certificate-requests", cmd_admin_certificate_requests,
                "leaders' certificate requests (their tokens' CSRs)", admin)
    p.add_argument("--state", default="pending",
                   choices=["pending", "approved", "rejected", "all"])
    p.add_argument("--agency", metavar="CODE")
    command("approve-request", cmd_admin_approve_request, "approve a certificate request:"
            " the CA issues the certificate", admin).add_argument("id")
    p = command("reject-request", cmd_admin_reject_request, "reject a certificate request",
                admin)
    p.add_argument("id")
    p.add_argument("--reason", required=True)
    return parser


# -- main ----------------------------------------------------------------------------------


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    base_url = getattr(args, "api", None) or os.environ.get("LIENTHONG_API") or DEFAULT_API

    def out(answer, text):
        if args.json:
            print(json.dumps(answer, ensure_ascii=False, indent=1))
        else:
            print(text(answer) if callable(text) else text)

    try:
        token = load_token() if args.needs_token else None
        if args.needs_token and not token:
            raise CliError("unauthenticated", "not logged in: run `login USER` or set"
                           " LIENTHONG_TOKEN")
        return args.handler(Api(base_url, token), args, out)
    except (ApiError, CliError) as err:
        print(format_error(err.code, err.message, err.field), file=sys.stderr)
    except requests.ConnectionError:
        print(format_error("unavailable", f"cannot reach the API at {base_url} (is the"
                           " gateway running? see --api or LIENTHONG_API)"), file=sys.stderr)
    except requests.Timeout:
        print(format_error("timeout", f"the API at {base_url} did not answer in time"),
              file=sys.stderr)
    except OSError as err:
        print(format_error("io_error", err.strerror or str(err), err.filename),
              file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
