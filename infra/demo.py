"""The platform's main job, end to end, on this machine's servers.

Starts an S3 server (SeaweedFS, unless LIENTHONG_S3_ENDPOINT names one), the five
services as separate processes against a fresh database and RabbitMQ vhost,
seeds the sample province's users, and plays the scenario through the
gateway's HTTP API: the province office drafts a directive, its leader signs,
its clerk seals, issues and sends it to every district and commune; some
recipients verify, accept and report progress; a second document is recalled;
an auditor verifies the log and exports an evidence bundle that the offline
verifier accepts. Prints what happened, with timings.

With ``--keep`` (or ``--history N``) the province first sends documents over
the past weeks, some left overdue, on the development clock
(``infra.history``), so that the leaders' dashboard has weeks to show.
"""

import argparse
import io
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import psycopg
import requests
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from infra import history
from infra.api import Api, ApiError
from infra.client import Client, wait_for
from infra.keys import provisioned_env
from infra.samples import make_appendix_pdf, make_decree_pdf, make_pdf
from infra.stack import (
    SERVICES, SeaweedServer, ServiceProcess, Supervisor, free_port, make_gateway_key,
    port_open, wait_for_docs_directory,
)
from services.gateway.web_text import VI
from services.signing.hsm import provision_softhsm

PROVINCE = "000.00.00.H41"   # UBND tỉnh (sample province)
DISTRICTS = ["000.01.00.H41", "000.02.00.H41"]
COMMUNE = "001.01.00.H41"
AUDITOR_AGENCY = "000.00.00.G22"
HISTORY_WEEKS = 6           # --keep's history: the dashboard's default 12 weeks show it
MAX_HISTORY_WEEKS = 50          # the development clock goes back 366 days at most
CLOCKED = ("docs", "signing", "routing")  # the services on the development clock


class Timer:
    def __init__(self):
        self.t0 = time.monotonic()

    def say(self, text):
        print(f"  [{time.monotonic() - self.t0:6.2f}s] {text}", flush=True)


def fresh_database(server_dsn, name):
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_dsn)
    params["dbname"] = name
    return make_conninfo(**params)


def fresh_vhost(name, server_dsn, database):
    """A vhost of the demo's own on the local broker, its services' own users on
    both servers (``infra.provision``; guest gets nothing) and an operator's
    user for the demo's own checks. Returns the operator's URI and each
    service's settings; without rabbitmqctl, the broker's default vhost as is."""
    from infra.provision import amqp_uri, provision

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return os.environ.get("LIENTHONG_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"), {}
    subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True)
    operator = secrets.token_urlsafe(18)
    settings = provision("127.0.0.1:5672", name, server_dsn, database,
                         full_access={"lienthong-demo-operator": operator}, ctl=ctl)
    return amqp_uri("127.0.0.1:5672", name, "lienthong-demo-operator", operator), settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack running after the scenario (Ctrl-C stops it)")
    parser.add_argument("--pdf-kb", type=int, default=512, help="size of the sample PDF")
    parser.add_argument("--history", type=int, metavar="WEEKS", default=None,
                        help="first seed this many past weeks of documents, some left"
                             " overdue, for the leaders' dashboard (default: 6 with --keep,"
                             " else 0); docs, signing and routing then run in development"
                             " mode with a development clock")
    args = parser.parse_args(argv)
    weeks = args.history if args.history is not None else (HISTORY_WEEKS if args.keep else 0)
    if not 0 <= weeks <= MAX_HISTORY_WEEKS:
        parser.error(f"--history: 0 to {MAX_HISTORY_WEEKS} weeks")
    # Confirms that arrive while a short-lived RPC proxy closes are harmless noise.
    logging.getLogger("amqp").setLevel(logging.ERROR)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    log_dir = os.path.join(root, "var", "demo")
    os.makedirs(log_dir, exist_ok=True)
    timer = Timer()
    print("Liên thông: a directive from the province to every district and commune,"
          " through the HTTP API\n")

    server_dsn = os.environ.get("LIENTHONG_PG_SERVER_DSN",
                                "postgresql://postgres@127.0.0.1:5432/postgres")
    pg_dsn = fresh_database(server_dsn, "lienthong_demo")
    vhost = "lienthong-demo"
    amqp_uri, own_logins = fresh_vhost(vhost, server_dsn, "lienthong_demo")
    s3_server = None
    if os.environ.get("LIENTHONG_S3_ENDPOINT"):
        s3 = (os.environ["LIENTHONG_S3_ENDPOINT"], os.environ["LIENTHONG_S3_ACCESS_KEY"],
              os.environ["LIENTHONG_S3_SECRET_KEY"])
    else:
        from infra.privileges import S3_SERVICES, s3_actions
        from shared.objectstore import S3ObjectStore

        # One S3 identity per service, limited to the demo's bucket; the
        # operator (admin) makes the bucket.
        keys = {s: (f"lienthong-{s}", secrets.token_urlsafe(24)) for s in S3_SERVICES}
        shutil.rmtree(os.path.join(log_dir, "s3"), ignore_errors=True)
        s3_server = SeaweedServer(os.path.join(log_dir, "s3"), {
            a: (a, k, s3_actions(s, "lienthong-demo")) for s, (a, k) in keys.items()}).start()
        s3 = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
        S3ObjectStore(s3[0], s3[1], s3[2], "lienthong-demo").ensure_bucket()
        for service, (access, secret_key) in keys.items():
            own_logins.setdefault(service, {}).update(
                LIENTHONG_S3_ACCESS_KEY=access, LIENTHONG_S3_SECRET_KEY=secret_key)
    docs_port = int(os.environ.get("LIENTHONG_DOCS_PORT", free_port()))
    gateway_port = int(os.environ.get("LIENTHONG_GATEWAY_PORT", 0)) or (
        free_port() if port_open("127.0.0.1", 8000) else 8000)
    gateway_env, gateway_key = make_gateway_key(log_dir)
    env = {
        **gateway_env,
        "LIENTHONG_AMQP_URI": amqp_uri, "LIENTHONG_PG_DSN": pg_dsn,
        "LIENTHONG_S3_ENDPOINT": s3[0], "LIENTHONG_S3_ACCESS_KEY": s3[1],
        "LIENTHONG_S3_SECRET_KEY": s3[2], "LIENTHONG_S3_BUCKET": "lienthong-demo",
        "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{docs_port}",
        "LIENTHONG_DOCS_URL": f"http://127.0.0.1:{docs_port}",
        "LIENTHONG_GATEWAY_HTTP": f"127.0.0.1:{gateway_port}",
        "LIENTHONG_PKI_DIR": os.path.join(log_dir, "pki"),
        "LIENTHONG_PKI_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_LOG_KEY_FILE": os.path.join(log_dir, "audit-log.key"),
        "LIENTHONG_LOG_KEY_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_CHECKPOINT_SECONDS": "1",
        "LIENTHONG_CHECKPOINT_RETENTION_DAYS": "1",
    }
    # Keys of the last run were sealed with that run's passphrases.
    if os.path.exists(env["LIENTHONG_LOG_KEY_FILE"]):
        os.remove(env["LIENTHONG_LOG_KEY_FILE"])
    shutil.rmtree(env["LIENTHONG_PKI_DIR"], ignore_errors=True)
    event_keys = os.path.join(log_dir, "event-keys")
    shutil.rmtree(event_keys, ignore_errors=True)
    # The operator's step: each service's event key under its own passphrase, and the
    # trust file every consumer checks events against (python -m infra.keys provision).
    env.update(provisioned_env(event_keys))
    timer.say(f"servers: RabbitMQ vhost {vhost!r}, PostgreSQL database 'lienthong_demo',"
              f" S3 at {s3[0]}{' (SeaweedFS)' if s3_server else ''}"
              + ("; each service logs in as its own least-privilege user (no guest,"
                 " no superuser)" if own_logins else ""))

    users_path, passwords = seed_users(log_dir)
    env["LIENTHONG_SEED_USERS"] = users_path
    dev_clock = None
    if weeks:
        # The history's time (shared.clock): development mode for the services
        # that take event times and deadlines; the overdue watch checks often.
        dev_clock = history.DevClock(os.path.join(log_dir, "dev-clock"))
        dev_clock.real()
        env["LIENTHONG_OVERDUE_CHECK_SECONDS"] = "1"
        for name in CLOCKED:
            own_logins.setdefault(name, {}).update(
                LIENTHONG_DEV_MODE="1", LIENTHONG_DEV_CLOCK_FILE=dev_clock.path)
    client = Client(amqp_uri, f"http://127.0.0.1:{docs_port}", gateway_key)
    api = Api(f"http://127.0.0.1:{gateway_port}")
    # The root CA's, the TSA's and the province's seal keys in SoftHSM2 tokens, as an
    # HSM holds them in production; the demo's leader signs with a key the server keeps
    # (signing's file key store), which only development mode runs.
    hsm_dir = os.path.join(log_dir, "hsm")
    shutil.rmtree(hsm_dir, ignore_errors=True)
    hsm_env, _ = provision_softhsm(hsm_dir, [PROVINCE], platform=True)
    development = {"signing": {"LIENTHONG_DEV_MODE": "1", **hsm_env}}
    timer.say("the root CA's, the TSA's and the province's seal keys made inside"
              " SoftHSM2 tokens (not extractable)")
    processes = [ServiceProcess(name, {**env, **own_logins.get(name, {}),
                                       **development.get(name, {})}, log_dir)
                 for name in SERVICES]
    supervisor = Supervisor(processes, say=timer.say)
    # `kill` or a process manager's SIGTERM cleans up as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for p in processes:
            p.start()
        for p in processes:
            p.wait_ready(client, client.token("auditor", AUDITOR_AGENCY))
        wait_for_docs_directory(pg_dsn)
        supervisor.start()
        timer.say("services up, each its own process (restarted if one dies): "
                  + ", ".join(SERVICES))
        run_scenario(api, client, timer, args.pdf_kb, log_dir, passwords, weeks, dev_clock)
        if args.keep:
            look_around(api.base_url, users_path, weeks)
            print(f"  Nhật ký        {os.path.relpath(log_dir)}/<service>.1.log")
            while True:
                time.sleep(3600)
        print("\nRun `bash infra/demo.sh --keep` to keep the stack running and look around"
              " (API, users, curl examples).")
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()
        for p in processes:
            p.stop()
        if s3_server:
            s3_server.stop()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


USERS = [  # user id, agency, role, full name
    ("van.hanh@vpcp", AUDITOR_AGENCY, "operator", "Vận hành nền tảng"),
    ("quan.tri@vpcp", AUDITOR_AGENCY, "admin", "Quản trị hệ thống"),
    ("quan.tri@ubnd-tinh", PROVINCE, "admin", "Quản trị UBND tỉnh"),
    ("thanh.tra@vpcp", AUDITOR_AGENCY, "auditor", "Thanh tra viên"),
    ("van.thu@ubnd-tinh", PROVINCE, "clerk", "Lê Thị Văn Thư"),
    ("chu.tich@ubnd-tinh", PROVINCE, "leader", "Nguyễn Văn An"),
    ("van.thu@huyen-1", DISTRICTS[0], "clerk", "Trần Văn Huyện"),
    ("van.thu@huyen-2", DISTRICTS[1], "clerk", "Phạm Thị Hai"),
    ("van.thu@xa-1-1", COMMUNE, "clerk", "Hoàng Văn Xã"),
]
SIGNER = {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân", "position": "Chủ tịch",
          "full_name": "Nguyễn Văn An"}


def seed_users(log_dir):
    """The demo's users, each with a fresh password, in a file only its owner reads."""
    users = [{"user_id": u, "agency": a, "role": r, "full_name": n,
              "password": secrets.token_urlsafe(12)} for u, a, r, n in USERS]
    path = os.path.join(log_dir, "users.json")
    if os.path.exists(path):
        os.remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(users, fh, ensure_ascii=False, indent=1)
    return path, {u["user_id"]: u["password"] for u in users}


def run_scenario(api, client, timer, pdf_kb, log_dir, passwords, weeks=0, dev_clock=None):
    """Everything through the gateway's HTTP API, as each user would; with
    ``weeks``, that many past weeks of history first (``infra.history``)."""
    with client.rpc(client.token("admin", PROVINCE, user="quan.tri@ubnd-tinh")) as rpc:
        leader_cert = rpc.signing.enroll("chu.tich@ubnd-tinh", PROVINCE, "leader",
                                         "Nguyễn Văn An")
        # the seal's certificate names the agency as the directory does: its ring shows it
        agency_name = rpc.routing.agency(PROVINCE)["name"]
        seal_cert = rpc.signing.enroll(PROVINCE, PROVINCE, "agency", agency_name)
    timer.say(f"the province's administrator issued the leader's certificate"
              f" ({leader_cert['serial'][:12]}…) and the province's seal certificate"
              f" ({seal_cert['serial'][:12]}…, {agency_name}) from the development root CA")
    as_user = {user: api.login(user, password) for user, password in passwords.items()}
    clerk, leader = as_user["van.thu@ubnd-tinh"], as_user["chu.tich@ubnd-tinh"]
    auditor = as_user["thanh.tra@vpcp"]
    timer.say(f"{len(as_user)} users logged in through the gateway at {api.base_url}")
    if weeks:
        history.seed(as_user, dev_clock, weeks, {u: a for u, a, _, _ in USERS}, timer.say)
        timer.say(f"history: {weeks} past weeks seeded (event times on the development"
                  " clock; certificates and time stamps on the real time); back to today")

    # -- the province office drafts, its leader signs, its clerk seals and issues --------
    pdf = make_decree_pdf(  # laid out as Decree 30 Appendix I shows, the number's fields empty
        kind="CHỈ THỊ", notation="CT-UBND", subject="Về việc chủ động ứng phó với bão số 3",
        body=("Thực hiện Công điện của Thủ tướng Chính phủ về việc ứng phó với bão số 3,",
              "Chủ tịch Ủy ban nhân dân tỉnh chỉ thị:",
              "1. Ủy ban nhân dân các huyện, xã tổ chức trực ban 24/24 giờ;",
              "2. Sơ tán người dân khỏi khu vực nguy hiểm trước 17 giờ ngày mai;",
              "3. Báo cáo tình hình về Văn phòng Ủy ban nhân dân tỉnh trước 16 giờ hằng ngày."),
        recipients=("UBND các huyện, xã;", "Lưu: VT, VP."), padding=pdf_kb * 1024)
    appendix = make_appendix_pdf()  # its own file: sealed with the number at the issue
    sent_bytes = []
    document = clerk.register(
        {"subject": "Chỉ thị về việc chủ động ứng phó với bão số 3", "document_type": "CT",
         "urgency": 2, "recipients": DISTRICTS, "agency_abbreviation": "UBND",
         "drafting_unit": "Văn phòng UBND tỉnh", "signer": SIGNER},
        [("file", "chi-thi.pdf", io.BytesIO(pdf), len(pdf), "application/pdf"),
         ("attachment", "phu-luc.pdf", io.BytesIO(appendix), len(appendix),
          "application/pdf")],
        progress=lambda sent, total: sent_bytes.append(sent))
    document_id = document["document_id"]
    draft_appendix = document["attachments"][0]["sha256"]
    timer.say(f"clerk registered a draft Chỉ thị ({len(pdf) // 1024} KB, streamed in"
              f" {len(sent_bytes)} pieces) as {document_id}")
    clerk.post(f"/v1/documents/{document_id}/submit", {"signer_user": "chu.tich@ubnd-tinh"})
    signed = wait_for(lambda: leader.post(f"/v1/documents/{document_id}/sign"),
                      what="the signing service to receive the submission")
    timer.say(f"leader approved and signed it with a PAdES signature (certificate"
              f" {signed['certificate']['serial'][:12]}…, {signed['certificate']['subject']})")
    # The register numbers and dates it as docs learns of the signature; the seal
    # writes them on page one under the agency's signature ("chưa cấp số" before).
    wait_for(lambda: clerk.post(f"/v1/documents/{document_id}/seal"),
             what="signing to learn the number given at the signature")
    issued = wait_for(lambda: clerk.post(f"/v1/documents/{document_id}/issue"),
                      what="docs to learn of the seal")
    timer.say(f"the register gave it Số {issued['number_notation']} and its date; the clerk"
              " sealed it over them with the agency's signature and issued it")

    # -- to every district and commune of the province ---------------------------------
    everyone = set(DISTRICTS)
    for level in ("district", "commune"):
        # Routing learns of the issue from an event; the same consignment id makes
        # each retry harmless.
        sent = wait_for(lambda: clerk.post(f"/v1/documents/{document_id}/send", {
            "addressing": {"subtree": PROVINCE, "level": level},
            "consignment_id": f"{document_id}:{level}"}), what="routing to know the issue")
        everyone.update(sent["recipients"])
    wait_for(lambda: len(clerk.get(f"/v1/documents/{document_id}/statuses")) == len(everyone),
             what="a delivery to every recipient")
    timer.say(f"sent to every district and commune: {len(everyone)} agencies, each got it"
              " once in its inbox (status 01)")

    # -- recipients acknowledge, accept, report progress -------------------------------
    actions = {"van.thu@huyen-1": ["04", "05"], "van.thu@huyen-2": ["04", "06"],
               "van.thu@xa-1-1": ["05"]}
    for user, codes in actions.items():
        recipient = as_user[user]
        wait_for(lambda: any(i["document_id"] == document_id
                             for i in recipient.get("/v1/incoming")),
                 what=f"{user}'s incoming register")
        verdict = recipient.get(f"/v1/documents/{document_id}/verify")
        if not verdict["ok"]:
            raise SystemExit(f"signature verification failed for {user}: {verdict}")
        url = recipient.get(f"/v1/documents/{document_id}/file")["url"]
        body = requests.get(url, timeout=60).content
        delivered = os.path.join(log_dir, "chi-thi-as-delivered.pdf")
        appendix_said = None
        if user == "van.thu@huyen-1":  # the signed document as a recipient got it
            with open(delivered, "wb") as fh:
                fh.write(body)
            appendix_said = save_sealed_appendix(recipient, document_id, draft_appendix,
                                                 issued["number_notation"], log_dir)
        arrival = recipient.post(f"/v1/incoming/{document_id}/accept")
        # docs tells routing (IncomingAccepted); the sender's status 03 follows.
        wait_for(lambda: recipient.get(f"/v1/documents/{document_id}/statuses")[0]["status"]
                 == "03", what="the acceptance to reach routing")
        for code in codes:
            recipient.post(f"/v1/documents/{document_id}/status", {"code": code})
        timer.say(f"{user}: signatures VALID ({len(verdict['pdf']['checks'])} checks),"
                  f" {len(body) // 1024} KB downloaded, accepted as số đến"
                  f" {arrival['arrival_number']:02d}, reported {', '.join(codes)}")
        if appendix_said:
            timer.say(f"{user}: {appendix_said}")
    statuses = clerk.get(f"/v1/documents/{document_id}/statuses")
    tally = {}
    for row in statuses:
        tally[row["status"]] = tally.get(row["status"], 0) + 1
    timer.say("the sender sees, per recipient: " + ", ".join(
        f"{count} at {code}" for code, count in sorted(tally.items())))

    # -- a second document goes out by mistake and is recalled --------------------------
    wrong = make_pdf("Cong van gui nham")
    second = clerk.register(
        {"subject": "Công văn về lịch họp (gửi nhầm)", "document_type": "CV",
         "recipients": DISTRICTS, "agency_abbreviation": "UBND",
         "drafting_unit_abbreviation": "VP", "signer": SIGNER},
        [("file", "cong-van.pdf", io.BytesIO(wrong), len(wrong), "application/pdf")])
    recalled_id = second["document_id"]
    clerk.post(f"/v1/documents/{recalled_id}/submit", {"signer_user": "chu.tich@ubnd-tinh"})
    wait_for(lambda: leader.post(f"/v1/documents/{recalled_id}/sign"), what="signing")
    clerk.post(f"/v1/documents/{recalled_id}/seal")
    numbered = wait_for(lambda: clerk.post(f"/v1/documents/{recalled_id}/issue"),
                        what="the issue")
    for user in ("van.thu@huyen-1", "van.thu@huyen-2"):
        wait_for(lambda: any(i["document_id"] == recalled_id
                             for i in as_user[user].get("/v1/inbox")), what="the delivery")
    clerk.post(f"/v1/documents/{recalled_id}/recall",
               {"business_type": 1, "reason": "Gửi nhầm, thu hồi để sửa"})
    as_user["van.thu@huyen-1"].post(f"/v1/documents/{recalled_id}/recall/answer",
                                    {"agree": True})
    # A revoke is not refused (Decree 30 Art. 18(4)): the recipient cancels and reports 15.
    try:
        as_user["van.thu@huyen-2"].post(f"/v1/documents/{recalled_id}/recall/answer",
                                        {"agree": False, "reason": "Đã chuyển xử lý"})
        raise SystemExit("a district refused a revoke, which Decree 30 Art. 18(4) forbids")
    except ApiError as err:
        if err.status != 409:
            raise
    as_user["van.thu@huyen-2"].post(f"/v1/documents/{recalled_id}/recall/answer",
                                    {"agree": True})
    wait_for(lambda: clerk.get(f"/v1/documents/{recalled_id}")["state"] == "recalled",
             what="the sender's copy to be frozen")

    def withdrawn(user):
        try:
            as_user[user].get(f"/v1/documents/{recalled_id}/file")
        except ApiError as err:
            return err.status == 403
        return False
    for user in ("van.thu@huyen-1", "van.thu@huyen-2"):
        wait_for(lambda: withdrawn(user), what=f"{user}'s copy to go out of use")
    timer.say(f"Số {numbered['number_notation']} was sent by mistake and recalled (13):"
              f" {DISTRICTS[0]} and {DISTRICTS[1]} cancelled their copies and reported 15"
              " (a revoke cannot be refused, 16: Decree 30 Art. 18(4)); the sender's copy"
              " is frozen")

    # -- the auditor ---------------------------------------------------------------------
    def covered():
        bundle = auditor.get(f"/v1/audit/documents/{document_id}/evidence")
        status = auditor.get("/v1/audit/status")
        return (not bundle["not_yet_covered"] and not status["entries_not_in_worm"]
                and (bundle, status))
    wait_for(lambda: len(auditor.get(f"/v1/audit/documents/{recalled_id}/history")) >= 10,
             what="the recall to reach the log")
    bundle, status = wait_for(covered, what="signed checkpoints covering the whole log")
    verdict = auditor.get("/v1/audit/verify")
    with client.rpc(client.token("auditor", AUDITOR_AGENCY, user="thanh.tra@vpcp")) as rpc:
        reconciled = rpc.audit.reconcile()
    timer.say(f"auditor verified the log against its signed checkpoints in WORM storage:"
              f" {'OK' if verdict['ok'] else 'BROKEN'}, {verdict['covered']} of"
              f" {verdict['entries']} entries covered by {verdict['checkpoints']}"
              " signed checkpoint(s)")
    timer.say(f"replaying the log matches what docs, signing and routing report:"
              f" {len(reconciled['differences'])} difference(s) over"
              f" {reconciled['documents']} documents")
    if not verdict["ok"] or reconciled["differences"]:
        raise SystemExit(f"audit failed: {verdict} {reconciled}")

    path = os.path.join(log_dir, f"evidence-{document_id}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(bundle, fh, ensure_ascii=False, indent=1)
    key_path = os.path.join(log_dir, "audit-log.vkey")
    with open(key_path, "w") as fh:
        fh.write(status["verifier_key"] + "\n")
    command = [sys.executable, "-m", "services.audit.verify_bundle", path,
               "--log-key", status["verifier_key"]]
    offline = subprocess.run(command, capture_output=True, text=True, timeout=120)
    first_line = (offline.stdout.strip().splitlines() or ["(no output)"])[0]
    timer.say(f"auditor exported the evidence bundle of Số {issued['number_notation']}"
              f" ({len(bundle['entries'])} entries); offline verifier, no server, no"
              f" network: {'ACCEPTED' if offline.returncode == 0 else 'REJECTED'}"
              f" — {first_line}")
    if offline.returncode != 0:
        raise SystemExit(offline.stdout + offline.stderr)
    if weeks:
        board = history.shown(leader, weeks)
        past = [b for b in board["trend"] if b["bucket"] in history.expected(weeks)]
        timer.say(f"bảng điều hành of {PROVINCE} (the leader's, last 12 weeks): the {weeks}"
                  f" past weeks hold {sum(b['sent'] for b in past)} documents sent,"
                  f" {sum(b['received'] for b in past)} copies received,"
                  f" {sum(b['overdue'] for b in past)} overdue"
                  f" (routing's overdue watch); this week {board['trend'][-1]['sent']} sent")
    rel = os.path.relpath(path)
    print(f"\nDone: a directive approved, signed, numbered, sealed and sent to"
          f" {len(everyone)} districts and communes, verified, accepted and followed up;"
          " a second document recalled; the log verified and its evidence checked offline.")
    print(f"Evidence bundle: {rel}; check it yourself:\n"
          f"  .venv/bin/python -m services.audit.verify_bundle {rel}"
          f" --log-key \"$(cat {os.path.relpath(key_path)})\"")


def save_sealed_appendix(recipient, document_id, draft_sha256, number_notation, log_dir):
    """The appendix as a recipient downloads it (the agency's invisible signature with
    the number and time at the top right of page one, made as the document was
    issued) into ``log_dir``/phu-luc-as-delivered.pdf; what to say of it."""
    wait_for(lambda: recipient.get(f"/v1/documents/{document_id}")["attachments"][0][
        "sha256"] != draft_sha256, what="docs to learn of the sealed appendix")
    url = recipient.get(f"/v1/documents/{document_id}/attachments/0")["url"]
    body = requests.get(url, timeout=60).content
    with open(os.path.join(log_dir, "phu-luc-as-delivered.pdf"), "wb") as fh:
        fh.write(body)
    return (f"the directive's appendix (Phụ lục, its own file, {len(body) // 1024} KB) came"
            f" with the agency's invisible signature, Số {number_notation} and the signing"
            " time at its top right")


def look_around(api_url, users_path, weeks=0):
    """What to open once the scenario is done: in Vietnamese first, as the web
    application speaks; every demo user with their role and agency (their
    passwords stay in ``users_path``, readable by its owner only)."""
    role = {name: VI["role_" + name] for name in ("clerk", "leader", "auditor", "admin",
                                                  "operator")}
    people = "\n".join(f"    {u:<22} {role[r]:<18} {a}   {n}" for u, a, r, n in USERS)
    print(f"""
Dùng thử (look around; hệ thống chạy đến khi nhấn Ctrl-C):
  Trang web      {api_url}/web/   (tiếng Việt; ?lang=en: English)
  Người dùng mẫu (tên đăng nhập, vai trò, cơ quan, họ tên):
{people}
  Mật khẩu       {os.path.relpath(users_path)}   (mật khẩu của từng người dùng mẫu)
  API            {api_url}/v1/openapi.json   (OpenAPI 3: mọi điểm cuối, dữ liệu gửi và lỗi)
  Đăng nhập      curl -s -X POST {api_url}/v1/auth/login -H 'Content-Type: application/json' \\
                   -d '{{"user_id": "van.thu@huyen-1", "password": "…"}}'
  Văn bản đến    curl -s {api_url}/v1/inbox -H "Authorization: Bearer $TOKEN"
""")
    if weeks:
        print(f"  Bảng điều hành {api_url}/web/dashboard   (chu.tich@ubnd-tinh: {weeks} tuần"
              " trước, có văn bản quá hạn; van.thu@huyen-2: văn bản đến quá hạn)\n")


if __name__ == "__main__":
    sys.exit(main())
