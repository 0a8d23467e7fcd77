"""The platform's main job, end to end, on this machine's servers.

Starts an S3 server (moto, unless LIENTHONG_S3_ENDPOINT names one), the four
services as separate processes against a fresh database and RabbitMQ vhost,
then plays the scenario: the province office's clerk registers a directive
for two districts, its leader signs, routing delivers, each district clerk
downloads the file and checks its SHA-256, and an auditor reads the history
and verifies the log. Prints what happened, with timings.
"""

import argparse
import logging
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time

import psycopg
import requests
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from infra.client import Client, wait_for
from infra.samples import make_pdf
from infra.stack import SERVICES, MotoServer, ServiceProcess, free_port

PROVINCE = "000.00.00.H41"   # UBND tỉnh (sample province)
DISTRICTS = ["000.01.00.H41", "000.02.00.H41"]
AUDITOR_AGENCY = "000.00.00.G22"
# Registered, submitted, signed, sealed, issued and sent; docs following the
# signature, the seal and the sending; at each district: delivered, registered,
# accepted, and the accepted status (03) told to the sender.
FLOW_EVENTS = 6 + 3 + 2 * 4


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


def fresh_vhost(name):
    """A vhost of the demo's own on the local broker, when rabbitmqctl is here."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return "/"
    subprocess.run([ctl, "-q", "delete_vhost", name], capture_output=True)
    subprocess.run([ctl, "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run([ctl, "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    return name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack running after the scenario (Ctrl-C stops it)")
    parser.add_argument("--pdf-kb", type=int, default=512, help="size of the sample PDF")
    args = parser.parse_args(argv)
    # Confirms that arrive while a short-lived RPC proxy closes are harmless noise.
    logging.getLogger("amqp").setLevel(logging.ERROR)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    log_dir = os.path.join(root, "var", "demo")
    os.makedirs(log_dir, exist_ok=True)
    timer = Timer()
    print("Liên thông: one document from clerk to leader to recipients to auditor\n")

    server_dsn = os.environ.get("LIENTHONG_PG_SERVER_DSN",
                                "postgresql://postgres@127.0.0.1:5432/postgres")
    pg_dsn = fresh_database(server_dsn, "lienthong_demo")
    vhost = fresh_vhost("lienthong-demo")
    amqp_uri = os.environ.get("LIENTHONG_AMQP_URI",
                              f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    moto = None
    if os.environ.get("LIENTHONG_S3_ENDPOINT"):
        s3 = (os.environ["LIENTHONG_S3_ENDPOINT"], os.environ["LIENTHONG_S3_ACCESS_KEY"],
              os.environ["LIENTHONG_S3_SECRET_KEY"])
    else:
        moto = MotoServer(log_dir).start()
        s3 = (moto.endpoint, moto.access_key, moto.secret_key)
    docs_port = int(os.environ.get("LIENTHONG_DOCS_PORT", free_port()))
    gateway_port = int(os.environ.get("LIENTHONG_GATEWAY_PORT", 8000))
    secret = secrets.token_hex(16)
    env = {
        "LIENTHONG_AMQP_URI": amqp_uri, "LIENTHONG_PG_DSN": pg_dsn,
        "LIENTHONG_S3_ENDPOINT": s3[0], "LIENTHONG_S3_ACCESS_KEY": s3[1],
        "LIENTHONG_S3_SECRET_KEY": s3[2], "LIENTHONG_S3_BUCKET": "lienthong-demo",
        "LIENTHONG_AUTH_SECRET": secret, "LIENTHONG_DOCS_HTTP": f"127.0.0.1:{docs_port}",
        "LIENTHONG_DOCS_URL": f"http://127.0.0.1:{docs_port}",
        "LIENTHONG_GATEWAY_HTTP": f"127.0.0.1:{gateway_port}",
        "LIENTHONG_PKI_DIR": os.path.join(log_dir, "pki"),
        "LIENTHONG_PKI_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_EVENT_KEYS_DIR": os.path.join(log_dir, "event-keys"),
        "LIENTHONG_EVENT_KEY_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_LOG_KEY_FILE": os.path.join(log_dir, "audit-log.key"),
        "LIENTHONG_LOG_KEY_PASSPHRASE": secrets.token_hex(16),
        "LIENTHONG_CHECKPOINT_SECONDS": "1",
        "LIENTHONG_CHECKPOINT_RETENTION_DAYS": "1",
    }
    # Keys of the last run were sealed with that run's passphrases.
    if os.path.exists(env["LIENTHONG_LOG_KEY_FILE"]):
        os.remove(env["LIENTHONG_LOG_KEY_FILE"])
    for key_dir in ("LIENTHONG_EVENT_KEYS_DIR", "LIENTHONG_PKI_DIR"):
        shutil.rmtree(env[key_dir], ignore_errors=True)
    timer.say(f"servers: RabbitMQ vhost {vhost!r}, PostgreSQL database 'lienthong_demo',"
              f" S3 at {s3[0]}{' (moto)' if moto else ''}")

    client = Client(amqp_uri, f"http://127.0.0.1:{docs_port}", secret)
    processes = [ServiceProcess(name, env, log_dir) for name in SERVICES]
    try:
        for p in processes:
            p.start()
        for p in processes:
            p.wait_ready(client, client.token("auditor", AUDITOR_AGENCY))
        timer.say("services up, each its own process: " + ", ".join(SERVICES))
        run_scenario(client, timer, args.pdf_kb, log_dir)
        if args.keep:
            print(f"\nThe stack keeps running (logs in {log_dir}). docs HTTP:"
                  f" http://127.0.0.1:{docs_port}/v1/documents; Ctrl-C stops it.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for p in processes:
            p.stop()
        if moto:
            moto.stop()
    return 0


def run_scenario(client, timer, pdf_kb, log_dir):
    clerk = client.token("clerk", PROVINCE, user="van.thu@ubnd-tinh")
    leader = client.token("leader", PROVINCE, user="chu.tich@ubnd-tinh")
    auditor = client.token("auditor", AUDITOR_AGENCY, user="thanh.tra@vpcp")

    pdf = make_pdf("Chi thi ve phong, chong bao so 3", padding=pdf_kb * 1024)
    response = client.register(clerk, pdf, metadata={
        "subject": "Chỉ thị về việc chủ động ứng phó với bão số 3", "document_type": "CT",
        "urgency": 2, "recipients": DISTRICTS, "agency_abbreviation": "UBND",
        "drafting_unit": "Văn phòng UBND tỉnh",
        "signer": {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân",
                   "position": "Chủ tịch", "full_name": "Nguyễn Văn An"}})
    if response.status_code != 201:
        raise SystemExit(f"registration failed: {response.status_code} {response.text}")
    document = response.json()
    document_id, sha = document["document_id"], document["file"]["sha256"]
    timer.say(f"clerk of {PROVINCE} registered a draft Chỉ thị (PDF {len(pdf) // 1024} KB,"
              f" SHA-256 {sha[:16]}…) as document {document_id}")

    with client.rpc(clerk) as rpc:
        rpc.docs.submit(document_id, "chu.tich@ubnd-tinh")
    timer.say("clerk submitted it for approval to chu.tich@ubnd-tinh")
    with client.rpc(leader) as rpc:
        signed = wait_for(lambda: rpc.signing.sign_document(document_id),
                          what="the signing service to receive the submission")
    timer.say(f"leader approved and signed it (key {signed['key_id']})")
    with client.rpc(clerk) as rpc:
        sealed = rpc.signing.seal_document(document_id)
        timer.say(f"clerk applied the agency's signature (key {sealed['key_id']})")
        issued = wait_for(lambda: rpc.docs.issue(document_id),
                          what="docs to learn of the signature and the seal")
    timer.say(f"clerk issued it: Số {issued['number_notation']}, {issued['issued_at']};"
              " routing sends it to the recipients named in it")

    pdf_path = None
    for agency in DISTRICTS:
        with client.rpc(client.token("clerk", agency)) as rpc:
            wait_for(lambda: any(i["document_id"] == document_id for i in rpc.routing.inbox()),
                     what=f"delivery to {agency}")
            url = wait_for(lambda: rpc.docs.file_url(document_id), what="the download URL")
            issued_sha = rpc.docs.get_document(document_id)["file"]["sha256"]
            verdict = rpc.signing.verify_document(document_id)
        digest = hashlib.sha256()
        pdf_path = os.path.join(log_dir, f"document-{document_id}.pdf")
        with requests.get(url, stream=True, timeout=60) as r, open(pdf_path, "wb") as out:
            for chunk in r.iter_content(64 * 1024):
                digest.update(chunk)
                out.write(chunk)
        ok = digest.hexdigest() == issued_sha
        timer.say(f"{agency} found it in its inbox and downloaded the signed PDF:"
                  f" SHA-256 {'matches the issued file' if ok else 'DOES NOT MATCH'}")
        if not ok:
            raise SystemExit("downloaded file differs from the issued one")
        passed = [c["check"] for c in verdict["pdf"]["checks"] if c["ok"]]
        failed = [f"{c['check']}: {c['detail']}" for c in verdict["pdf"]["checks"] if not c["ok"]]
        timer.say(f"{agency} verified both signatures and the manifest:"
                  f" {'VALID' if verdict['ok'] else 'INVALID'}"
                  f" ({len(passed)} checks passed: {', '.join(sorted(set(passed)))})")
        if not verdict["ok"]:
            raise SystemExit("signature verification failed: " + "; ".join(failed))
        with client.rpc(client.token("clerk", agency)) as rpc:
            [arrival] = wait_for(rpc.docs.incoming, what=f"{agency}'s incoming register")
            rpc.docs.accept_incoming(document_id)
        timer.say(f"{agency}'s clerk accepted it into the incoming register as số đến"
                  f" {arrival['arrival_number']:02d}")

    with client.rpc(auditor) as rpc:
        bundle = wait_for(lambda: (b := rpc.audit.evidence_bundle(document_id))
                          and len(b["entries"]) == FLOW_EVENTS and b,
                          what="a signed checkpoint covering the whole flow")
        # Verify once the whole log is in WORM storage, so every entry is checked
        # against a signed checkpoint.
        status = wait_for(lambda: (st := rpc.audit.status())["entries_not_in_worm"] == 0
                          and st, what="the whole log to be checkpointed")
        verdict = rpc.audit.verify()
        reconciled = rpc.audit.reconcile()
        history = rpc.audit.document_state(document_id)["history"]
    timer.say("auditor's history: " + " → ".join(h["summary"] for h in history))
    timer.say(f"auditor verified the log against its signed checkpoints in WORM storage:"
              f" {'OK' if verdict['ok'] else 'BROKEN'}, {verdict['covered']} of"
              f" {verdict['entries']} entries covered by {verdict['checkpoints']}"
              " signed checkpoint(s)")
    timer.say(f"replaying the log matches what docs, signing and routing report:"
              f" {len(reconciled['differences'])} difference(s)")
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
    timer.say(f"offline verifier, no server, no network: {first_line}")
    if offline.returncode != 0:
        raise SystemExit(offline.stdout + offline.stderr)
    rel = os.path.relpath(path)
    print("\nDone: registered, approved and signed, sealed, numbered and issued, delivered"
          " to both districts, downloaded intact, accepted, logged, checkpointed and verified.")
    print(f"The signed PDF is {os.path.relpath(pdf_path)}: `pdfsig` (poppler-utils) shows both"
          " signatures.")
    print(f"The evidence bundle is {rel}; check it yourself, offline:\n"
          f"  .venv/bin/python -m services.audit.verify_bundle {rel}"
          f" --log-key \"$(cat {os.path.relpath(key_path)})\"")


if __name__ == "__main__":
    sys.exit(main())
