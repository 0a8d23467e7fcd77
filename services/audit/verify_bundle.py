"""Verify an evidence bundle offline, from the command line.

    python -m services.audit.verify_bundle BUNDLE.json [--log-key VKEY]
        [--witness-key VKEY ...] [--require-witness NAME ...] [--export-timestamp DIR]

Prints what was checked and what it proves. Exit status: 0 if every check
passes, 1 if any fails, 2 if the file cannot be read or is not JSON (or the
arguments are wrong). Needs no server and no network: only the bundle and,
ideally, the log's verifier key obtained apart from it (``--log-key``).
"""

import argparse
import base64
import binascii
import json
import os
import sys

from services.audit.offline import no_duplicate_keys, verify_bundle, visible

ASCII_MARKS = ("OK  ", "FAIL")


def _load(path):
    if path == "-":
        return json.load(sys.stdin, object_pairs_hook=no_duplicate_keys)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, object_pairs_hook=no_duplicate_keys)


def _marks(stream):
    """The check marks, or ASCII ones if the output cannot encode them."""
    try:
        "\u2713\u2717".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return ASCII_MARKS
    return ("\u2713", "\u2717")


def _export(bundle, directory):
    """Write the stamped note, token and chain for openssl; False (said on stderr) if
    the bundle carries no time stamp."""
    stamp = bundle.get("checkpoint_timestamp") if isinstance(bundle, dict) else None
    try:
        files = {"checkpoint.note": stamp["signed_note"].encode("utf-8"),
                 "checkpoint.tst": base64.b64decode(stamp["token"], validate=True),
                 "tsa-chain.pem": "".join(stamp["tsa_chain"]).encode("ascii")}
    except (TypeError, KeyError, AttributeError, ValueError, binascii.Error):
        print("Gói chứng cứ không có dấu thời gian dùng được để xuất / the bundle carries"
              " no usable checkpoint time stamp to export", file=sys.stderr)
        return False
    os.makedirs(directory, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(directory, name), "wb") as fh:
            fh.write(content)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m services.audit.verify_bundle",
        description="Verify a Liên thông evidence bundle (lienthong-evidence/1) offline.")
    parser.add_argument("bundle", help="the bundle's JSON file, or - for standard input")
    parser.add_argument("--log-key", metavar="VKEY",
                        help="the audit log's verifier key, obtained apart from the bundle")
    parser.add_argument("--witness-key", metavar="VKEY", action="append", default=[],
                        help="a witness verifier key you trust (repeatable)")
    parser.add_argument("--require-witness", metavar="NAME", action="append", default=[],
                        help="fail unless the witness of this name (its key given with"
                             " --witness-key) cosigned the checkpoint (repeatable)")
    parser.add_argument("--export-timestamp", metavar="DIR",
                        help="also write the checkpoint's stamped note, time-stamp token and"
                             " TSA chain to DIR (checkpoint.note, checkpoint.tst,"
                             " tsa-chain.pem) for openssl ts -verify")
    args = parser.parse_args(argv)

    try:
        bundle = _load(args.bundle)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        print(visible(f"không đọc được / cannot read {args.bundle}: {err}"), file=sys.stderr)
        return 2

    if args.export_timestamp and not _export(bundle, args.export_timestamp):
        return 2
    report = verify_bundle(bundle, trusted_log_key=args.log_key,
                           trusted_witness_keys=args.witness_key,
                           required_witnesses=args.require_witness)
    text = report.render(marks=_marks(sys.stdout))
    if hasattr(sys.stdout, "reconfigure"):  # Vietnamese names on an ASCII terminal
        sys.stdout.reconfigure(errors="backslashreplace")
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
