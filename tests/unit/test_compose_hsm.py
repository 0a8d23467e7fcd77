"""Docker Compose's ``hsm-tokens`` one-shot, its command run on the real SoftHSM2 (no
Docker here): the platform's and the agencies' tokens made once, kept on every later
run, a new agency's token added, never a second token of a label; the keys made
inside and never extractable; the token files signing reads open those tokens."""

import json
import os
import stat
import subprocess
import sys

import pytest

from infra.stack import ROOT
from services.signing import hsm
from shared import tokens

A, B = "000.00.00.H01", "000.00.01.H01"


def provision(directory, *args):
    """The one-shot's command (docker-compose.yml), on ``directory``."""
    return subprocess.run(
        [sys.executable, "-m", "services.signing.hsm", "provision", str(directory),
         "--platform", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def ok(done):
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def snapshot(directory):
    """Every file's bytes, but SoftHSM2's own login record (token.object)."""
    files = {}
    for parent, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(parent, name)
            files[os.path.relpath(path, directory)] = (
                None if name == "token.object" else read(path))
    return files


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def token_labels(directory):
    return hsm._token_labels(tokens.SoftHsm(os.path.join(directory, "softhsm")))


def keys_of(directory, label):
    done = subprocess.run(
        [sys.executable, "-m", "shared.tokens", "keys", os.path.join(directory, "softhsm"),
         "--label", label, "--pin-file", os.path.join(directory, f"{label}.pin")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


SIGNING_READS = """
import json, sys
from cryptography.hazmat.primitives import serialization
from services.signing import hsm
settings = json.loads(sys.argv[1])
module = settings["LIENTHONG_PKCS11_MODULE"]
platform = hsm.PlatformKeys.from_file(module, settings["LIENTHONG_PKI_TOKENS"])
seals = hsm.SealTokens.from_file(module, settings["LIENTHONG_SEAL_TOKENS"])
with open(settings["LIENTHONG_SEAL_TOKENS"]) as fh:
    agencies = list(json.load(fh))
pem = lambda k: k.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
print(json.dumps({"ca": pem(platform.key("ca").public_key()),
                  "tsa": pem(platform.key("tsa").public_key()),
                  **{a: pem(seals.public_key(a)) for a in agencies}}))
"""


def public_keys_signing_reads(directory):
    """The public keys of the tokens the token files name, opened as signing opens
    them (``PlatformKeys``, ``SealTokens``) in a process with the printed settings."""
    settings = hsm.settings(directory)
    done = subprocess.run([sys.executable, "-c", SIGNING_READS, json.dumps(settings)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **settings})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_tokens_are_made_once_kept_after_and_a_new_agency_added(tmp_path):
    directory = str(tmp_path / "hsm")
    first = ok(provision(directory, f"--agencies={A}"))
    assert first[:3] == ["made pki-ca", "made pki-tsa", f"made seal-{A}"]
    # It prints the settings signing needs: the ones docker-compose.yml sets.
    assert dict(line.split("=", 1) for line in first[3:]) == hsm.settings(directory)
    assert sorted(token_labels(directory)) == ["pki-ca", "pki-tsa", f"seal-{A}"]
    for label, key_label in (("pki-ca", "ca"), ("pki-tsa", "tsa"), (f"seal-{A}", "seal")):
        pin = tmp_path / "hsm" / f"{label}.pin"
        assert stat.S_IMODE(pin.stat().st_mode) == 0o600 and len(pin.read_text()) > 12
        [key] = keys_of(directory, label)  # made inside, never out of the token
        assert key == {"label": key_label, "extractable": False, "sensitive": True,
                       "always_sensitive": True, "never_extractable": True, "local": True}
    assert json.loads((tmp_path / "hsm" / "seal-tokens.json").read_text()) == {
        A: {"token_label": f"seal-{A}", "pin_file": f"{directory}/seal-{A}.pin"}}
    public = public_keys_signing_reads(directory)
    assert set(public) == {"ca", "tsa", A} and len(set(public.values())) == 3

    before = snapshot(directory)
    json_written = os.stat(os.path.join(directory, "pki-tokens.json")).st_mtime_ns
    again = ok(provision(directory, f"--agencies={A}"))
    assert again[:3] == ["kept pki-ca", "kept pki-tsa", f"kept seal-{A}"]
    assert snapshot(directory) == before  # no token, key, PIN or file made or rewritten
    assert os.stat(os.path.join(directory, "pki-tokens.json")).st_mtime_ns == json_written
    assert public_keys_signing_reads(directory) == public

    added = ok(provision(directory, f"--agencies={A}, {B}"))
    assert added[:4] == ["kept pki-ca", "kept pki-tsa", f"kept seal-{A}", f"made seal-{B}"]
    labels = token_labels(directory)
    assert sorted(labels) == ["pki-ca", "pki-tsa", f"seal-{A}", f"seal-{B}"]  # once each
    grown = public_keys_signing_reads(directory)
    assert {k: grown[k] for k in public} == public and grown[B] not in public.values()
    after = snapshot(directory)  # the first tokens' files are as they were
    assert {name: after[name] for name in before if name != "seal-tokens.json"} == \
        {name: data for name, data in before.items() if name != "seal-tokens.json"}

    # An agency taken out of the list: its token is kept, out of the token file.
    out = ok(provision(directory, f"--agencies={B}"))
    assert f"kept seal-{A} (not asked for: left out of the token files)" in out
    assert list(json.loads((tmp_path / "hsm" / "seal-tokens.json").read_text())) == [B]
    assert sorted(token_labels(directory)) == sorted(labels)


@pytest.mark.parametrize("agencies, message", [
    ("H01", "'H01' is not an agency code of the form XXX.XX.XX.Ynn"),
    (" , ", "at least one agency code"),
    (f"{A},000.00.00.h02", "'000.00.00.h02' is not an agency code")])
def test_a_bad_agency_list_is_refused_by_name_and_makes_nothing(tmp_path, agencies, message):
    done = provision(tmp_path / "hsm", f"--agencies={agencies}")
    assert done.returncode == 1
    assert "--agencies (LIENTHONG_SEAL_AGENCIES in docker-compose.yml)" in done.stderr
    assert message in done.stderr
    assert not (tmp_path / "hsm").exists()


def test_a_token_whose_pin_file_is_gone_stops_it_and_no_second_token_is_made(tmp_path):
    directory = str(tmp_path / "hsm")
    ok(provision(directory, f"--agencies={A}"))
    os.remove(os.path.join(directory, f"seal-{A}.pin"))
    done = provision(directory, f"--agencies={A}")
    assert done.returncode == 1
    assert f"seal-{A}: the token exists but its PIN file" in done.stderr
    assert sorted(token_labels(directory)) == ["pki-ca", "pki-tsa", f"seal-{A}"]
    # A PIN file that does not open its token is named too.
    with open(os.path.join(directory, f"seal-{A}.pin"), "w") as fh:
        fh.write("not-the-pin\n")
    done = provision(directory, f"--agencies={A}")
    assert done.returncode == 1 and f"seal-{A}: the token refused its PIN file" in done.stderr
    assert "not-the-pin" not in done.stderr + done.stdout
    assert sorted(token_labels(directory)) == ["pki-ca", "pki-tsa", f"seal-{A}"]
