"""The command line against the whole stack: each user runs ``python -m infra.cli`` as a
subprocess, with the token it saved at login, from draft to the recipient's download."""

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.client import DIRECTIVE, DISTRICT_1, PROVINCE, wait_for
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PASSWORD = "mật khẩu thử nghiệm 2026"
USERS = [
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "chu.tich", "agency": PROVINCE, "role": "leader", "full_name": "Nguyễn Văn An"},
    {"user_id": "van.thu.h1", "agency": DISTRICT_1, "role": "clerk",
     "full_name": "Lê Văn Cường"},
    {"user_id": "quan.tri", "agency": PROVINCE, "role": "admin", "full_name": "Vũ Thị Giang"},
    {"user_id": "van.hanh", "agency": PROVINCE, "role": "operator", "full_name": "Đinh Văn Hà"},
]


@pytest.fixture
def cli(stack, platform, tmp_path):
    """The stack, its gateway seeded with USERS; ``cli(user, *args)`` runs the command
    line as that user (each with a config directory, so a token file, of its own)."""
    seed = tmp_path / "users.json"
    seed.write_text(json.dumps([{**u, "password": PASSWORD} for u in USERS]), encoding="utf-8")
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = str(seed)
    stack.start()

    def run(user, *args, stdin=None, env=None):
        config = tmp_path / "config" / user
        config.mkdir(parents=True, exist_ok=True)
        environment = {k: v for k, v in os.environ.items() if k != "LIENTHONG_TOKEN"}
        environment.update({"LIENTHONG_API": platform.gateway_url,
                            "XDG_CONFIG_HOME": str(config), "PYTHONIOENCODING": "utf-8",
                            **(env or {})})
        return subprocess.run([sys.executable, "-m", "infra.cli", *args], cwd=ROOT,
                              env=environment, input=stdin, capture_output=True,
                              text=True, encoding="utf-8", timeout=120, check=False)
    return run


def ok(result):
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def until_ok(run, what):
    """Retry a command until it succeeds (an event still on its way)."""
    return wait_for(lambda: (r := run()).returncode == 0 and r, timeout=30, what=what)


def test_a_document_goes_out_and_in_through_the_command_line(cli, tmp_path):
    for user in ("van.thu", "chu.tich", "van.thu.h1"):
        login = ok(cli(user, "login", user, "--password-stdin", stdin=PASSWORD + "\n"))
        assert f"logged in as {user}" in login.stdout
        token_file = tmp_path / "config" / user / "lienthong" / "token"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        assert token_file.read_text().strip() not in login.stdout

    # -- the clerk drafts, the leader approves, the clerk seals and issues ------------
    pdf_path, meta_path = tmp_path / "chi-thi.pdf", tmp_path / "chi-thi.json"
    pdf = make_pdf("Chi thi qua dong lenh", padding=300_000)
    pdf_path.write_bytes(pdf)
    meta_path.write_text(json.dumps(DIRECTIVE, ensure_ascii=False), encoding="utf-8")
    sent = ok(cli("van.thu", "send", str(pdf_path), "--metadata", str(meta_path)))
    document_id = re.search(r"registered draft (\S+)", sent.stdout).group(1)
    assert f"sha256: {hashlib.sha256(pdf).hexdigest()}" in sent.stdout
    assert "100%" in sent.stderr  # the upload's progress bar

    submitted = ok(cli("van.thu", "submit", document_id, "--signer", "chu.tich"))
    assert "submitted" in submitted.stdout
    until_ok(lambda: cli("chu.tich", "approve", document_id), "signing to get the submission")
    ok(cli("van.thu", "seal", document_id))
    issued = until_ok(lambda: cli("van.thu", "issue", document_id), "docs to learn of the seal")
    assert "01/CT-UBND" in issued.stdout

    # A leader may not seal: the API's refusal, in the CLI's format, exit code 2.
    leader_token = (tmp_path / "config" / "chu.tich" / "lienthong" / "token").read_text()
    denied = cli("nobody", "seal", document_id, env={"LIENTHONG_TOKEN": leader_token})
    assert denied.returncode == 2, denied
    assert denied.stderr.startswith("error: forbidden: ")
    assert denied.stdout == ""

    # -- the district sees it, verifies it and downloads it ---------------------------
    inbox = wait_for(lambda: (r := ok(cli("van.thu.h1", "inbox"))) and document_id in r.stdout
                     and r, timeout=30, what="the district's inbox")
    header, *rows = inbox.stdout.splitlines()
    assert header.split()[:3] == ["DOCUMENT_ID", "SENDER", "URGENCY"]
    row = next(line for line in rows if document_id in line)
    assert PROVINCE in row and header.index("SENDER") == row.index(PROVINCE)

    verified = ok(cli("van.thu.h1", "verify", document_id))
    assert "✓ integrity" in verified.stdout and "✗" not in verified.stdout
    assert verified.stdout.splitlines()[-1] == "ok"

    out = tmp_path / "downloaded.pdf"
    downloaded = ok(cli("van.thu.h1", "download", document_id, "-o", str(out)))
    shown = json.loads(ok(cli("van.thu.h1", "--json", "show", document_id)).stdout)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == shown["file"]["sha256"]
    assert f"sha256: {digest}" in downloaded.stdout

    # With nothing of ours: the trust anchor and the signed manifest, checked by openssl.
    mine = tmp_path / "mine"
    mine.mkdir()
    ok(cli("van.thu.h1", "trust-anchor", "-o", str(mine)))
    manifest = ok(cli("van.thu.h1", "manifest", document_id, "-o", str(mine)))
    assert "openssl cms -verify" in manifest.stdout
    root, body = mine / "lienthong-root.pem", mine / f"{document_id}.manifest.json"
    signature = mine / f"{document_id}.manifest.p7s"
    assert root.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (mine / "lienthong.crl").stat().st_size > 0

    def openssl_verify(content):
        return subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
             "-content", str(content), "-CAfile", str(root), "-purpose", "any",
             "-out", os.devnull], capture_output=True, text=True, check=False)
    checked = openssl_verify(body)
    assert checked.returncode == 0 and "Verification successful" in checked.stderr, checked
    assert digest in body.read_text()  # the manifest names the file's SHA-256
    tampered = tmp_path / "tampered.json"
    tampered.write_text(body.read_text().replace(digest, "0" * 64))
    assert openssl_verify(tampered).returncode != 0

    # --json gives the API's answer as it is.
    raw = json.loads(ok(cli("van.thu.h1", "inbox", "--json")).stdout)
    assert [item["document_id"] for item in raw] == [document_id]

    token = (tmp_path / "config" / "van.thu.h1" / "lienthong" / "token").read_text().strip()
    ok(cli("van.thu.h1", "logout"))
    assert cli("van.thu.h1", "inbox").stderr.startswith("error: unauthenticated: ")
    # The gateway revoked the token too: a copy of it no longer works.
    revoked = cli("van.thu.h1", "inbox", env={"LIENTHONG_TOKEN": token})
    assert revoked.stderr.startswith("error: unauthenticated: token revoked"), revoked.stderr


def test_an_edxml_package_goes_in_and_out_through_the_command_line(cli, tmp_path):
    """The axis connector's operator takes in a package from a file; the district's
    clerk writes the document back out, its file inline, and its status."""
    import base64

    from services.routing import edxml
    from tests.support.edxml import APPENDIX, MAIN, package

    received = tmp_path / "from-axis.xml"
    received.write_bytes(base64.b64decode(package(to=(DISTRICT_1,))))
    for user in ("van.hanh", "quan.tri", "van.thu.h1"):
        ok(cli(user, "login", user, "--password-stdin", stdin=PASSWORD))
    taken = ok(cli("van.hanh", "admin", "import-edxml", str(received), "--json"))
    document_id = json.loads(taken.stdout)["document_id"]
    again = ok(cli("van.hanh", "admin", "import-edxml", str(received)))
    assert re.search(r"^repeated +yes$", again.stdout, re.M), again.stdout

    until_ok(lambda: cli("van.thu.h1", "accept", document_id), "the arrival to accept")
    out = tmp_path / "out.xml"
    ok(cli("van.thu.h1", "edxml", document_id, "-o", str(out), "--inline"))
    carried = edxml.import_package(out.read_bytes()).attachments
    assert [a.content for a in carried] == [MAIN, APPENDIX]  # the appendix too
    status = tmp_path / "status.xml"
    ok(cli("van.thu.h1", "edxml", document_id, "-o", str(status), "--status"))
    assert edxml.import_status(status.read_bytes()).from_agency.id == DISTRICT_1
    for user in ("van.thu.h1", "quan.tri"):  # a clerk, an agency admin: not the connector
        refused = cli(user, "admin", "import-edxml", str(received))
        assert refused.returncode != 0 and "forbidden" in (refused.stdout + refused.stderr)
