"""The operator's commands for the services' event-signing keys.

    python -m infra.keys provision DIR [--trust-file FILE]
    python -m infra.keys rotate DIR SERVICE [--trust-file FILE]
    python -m infra.keys show [--trust-file FILE | DIR]

``provision`` makes each producing service's key in DIR (``{service}.key``,
encrypted PKCS#8) under that service's own passphrase, read from
``LIENTHONG_{SERVICE}_EVENT_KEY_PASSPHRASE`` (the variable its config.yml
reads), and writes the trust file (default ``DIR/trust.json``) that every
consumer checks events against. A key that exists is kept (run it again after
adding a service). ``rotate`` gives SERVICE a new current key; its old public
key stays trusted, so the events it signed still verify. Restart SERVICE after
a rotation; its consumers read the trust file again by themselves.
"""

import argparse
import base64
import os
import secrets
import sys

from shared.catalogue import PRODUCERS
from shared.eventsig import (key_id_of, passphrase_variable, provision_key,
                             read_trust_file, rotate_key)
from shared.settings import secret_problem


def default_trust_file(keys_dir):
    return os.path.join(keys_dir, "trust.json")


def provision(keys_dir, passphrases, trust_file=None):
    """Each producer's key under ``passphrases[producer]``, all in the trust file;
    ``{producer: key_id}``."""
    trust_file = trust_file or default_trust_file(keys_dir)
    return {producer: provision_key(keys_dir, producer, passphrases[producer],
                                    trust_file).key_id
            for producer in PRODUCERS}


def provisioned_env(keys_dir):
    """For a local run (demo, benchmarks): every service's key under a fresh random
    passphrase of its own, provisioned as an operator would; the environment
    variables the services' config.yml files read."""
    passphrases = {p: secrets.token_urlsafe(24) for p in PRODUCERS}
    trust_file = default_trust_file(keys_dir)
    provision(keys_dir, passphrases, trust_file)
    return {"LIENTHONG_EVENT_KEYS_DIR": keys_dir, "LIENTHONG_EVENT_TRUST_FILE": trust_file,
            **{passphrase_variable(p): v for p, v in passphrases.items()}}


def passphrase_from_env(producer, environ=os.environ):
    name = passphrase_variable(producer)
    problem = secret_problem(environ.get(name))
    if problem:
        raise SystemExit(f"{name} {problem}: set it to {producer}'s own passphrase (at least"
                         " 16 random characters, different for each service)")
    return environ[name]


def main(argv=None, environ=os.environ, out=print):
    parser = argparse.ArgumentParser(prog="python -m infra.keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="make every service's event key; write the trust file")
    p.add_argument("keys_dir")
    p.add_argument("--trust-file")
    p = sub.add_parser("rotate", help="a new current key for one service; old keys stay trusted")
    p.add_argument("keys_dir")
    p.add_argument("service", choices=PRODUCERS)
    p.add_argument("--trust-file")
    p = sub.add_parser("show", help="the trusted keys, by producer")
    p.add_argument("keys_dir")
    p.add_argument("--trust-file")
    args = parser.parse_args(argv)
    trust_file = args.trust_file or default_trust_file(args.keys_dir)

    if args.command == "provision":
        passphrases = {p: passphrase_from_env(p, environ) for p in PRODUCERS}
        if len(set(passphrases.values())) < len(passphrases):
            raise SystemExit("each service needs a passphrase of its own: two are the same")
        for producer, key_id in provision(args.keys_dir, passphrases, trust_file).items():
            out(f"{producer:8} key {key_id}")
    elif args.command == "rotate":
        signer = rotate_key(args.keys_dir, args.service,
                            passphrase_from_env(args.service, environ), trust_file)
        out(f"{args.service}: new key {signer.key_id}; restart {args.service}")
    else:
        for producer, raws in sorted(read_trust_file(trust_file).items()):
            for raw in raws:
                out(f"{producer:8} {key_id_of(raw)} {base64.b64encode(raw).decode()}")
    out(f"trust file: {trust_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
