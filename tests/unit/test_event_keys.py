"""Provisioned event keys: one per producer under its own passphrase, a trust
file that alone says which keys count, rotation that keeps old events valid,
and the check every consumer makes."""

import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra import keys as cli
from shared.catalogue import PRODUCERS
from shared.envelope import Actor, new_event
from shared.eventsig import (EventSigner, KeyNotProvisioned, SignatureInvalid, TrustedKeys,
                             authenticate, key_path, passphrase_variable, read_trust_file,
                             rotate_key, signer_at_start, trusted_at_start)

PASSPHRASES = {p: f"{p}-passphrase-0123456789abcdef" for p in PRODUCERS}


def event(producer="docs", event_type="DocumentRegistered"):
    return new_event(event_type, {"n": 1}, actor=Actor("c", "000.00.00.H41", "clerk"),
                     producer=producer, stream_id="document-x").at(1, 1)


@pytest.fixture
def keys_dir(tmp_path):
    directory = str(tmp_path / "keys")
    cli.provision(directory, PASSPHRASES)
    return directory


def text_of(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def config(keys_dir, service="docs", **changes):
    return {"EVENT_KEYS_DIR": keys_dir, "EVENT_TRUST_FILE": os.path.join(keys_dir, "trust.json"),
            "EVENT_KEY_PASSPHRASE": PASSPHRASES.get(service), **changes}


def test_provision_makes_one_key_per_producer_each_under_its_own_passphrase(keys_dir):
    trust = read_trust_file(os.path.join(keys_dir, "trust.json"))
    assert sorted(trust) == sorted(PRODUCERS)
    assert len({raws[0] for raws in trust.values()}) == len(PRODUCERS)
    for producer in PRODUCERS:
        assert EventSigner.load(keys_dir, producer, PASSPHRASES[producer]).public_raw == \
            trust[producer][0]
        with pytest.raises(ValueError):  # another service's passphrase does not open it
            EventSigner.load(keys_dir, producer, PASSPHRASES["gateway" if producer != "gateway"
                                                             else "docs"])
    before = text_of(os.path.join(keys_dir, "trust.json"))
    cli.provision(keys_dir, PASSPHRASES)  # again: nothing changes
    assert text_of(os.path.join(keys_dir, "trust.json")) == before


def test_a_key_file_appearing_in_the_folder_is_not_trusted(keys_dir):
    trusted = TrustedKeys.from_file(os.path.join(keys_dir, "trust.json"))
    intruder = EventSigner("docs", Ed25519PrivateKey.generate())
    with open(os.path.join(keys_dir, "docs.pub"), "w") as fh:  # what the old scheme trusted
        fh.write("anything")
    with pytest.raises(SignatureInvalid, match="no trusted key"):
        authenticate(intruder.sign(event()), trusted, "docs")


def test_a_rotation_keeps_old_events_valid_and_running_consumers_learn_the_new_key(keys_dir):
    trust_file = os.path.join(keys_dir, "trust.json")
    trusted = TrustedKeys.from_file(trust_file)  # a consumer, running
    old = EventSigner.load(keys_dir, "docs", PASSPHRASES["docs"])
    old_event = old.sign(event())
    new = rotate_key(keys_dir, "docs", PASSPHRASES["docs"], trust_file)
    assert new.key_id != old.key_id
    assert EventSigner.load(keys_dir, "docs", PASSPHRASES["docs"]).key_id == new.key_id
    authenticate(old_event, trusted, "docs")
    authenticate(new.sign(event()), trusted, "docs")  # read again from the file
    assert len(read_trust_file(trust_file)["docs"]) == 2
    assert signer_at_start(config(keys_dir), "docs", trusted).key_id == new.key_id


def test_a_rotation_needs_the_services_passphrase(keys_dir):
    with pytest.raises(ValueError):
        rotate_key(keys_dir, "docs", PASSPHRASES["routing"],
                   os.path.join(keys_dir, "trust.json"))
    assert len(read_trust_file(os.path.join(keys_dir, "trust.json"))["docs"]) == 1


@pytest.mark.parametrize("producer, event_type, source, subscribed, reason", [
    ("docs", "ConsignmentSent", "routing", "#", "is produced by routing only, not by docs"),
    ("docs", "DocumentRegistered", "routing", "#", "from docs reached a consumer of routing"),
    ("docs", "DocumentRegistered", "docs", "DocumentIssued", "takes docs's DocumentIssued only"),
    ("docs", "SomethingNew", "docs", "#", "not in the event catalogue"),
])
def test_a_consumer_takes_only_its_sources_catalogued_types(keys_dir, producer, event_type,
                                                          source, subscribed, reason):
    trusted = TrustedKeys.from_file(os.path.join(keys_dir, "trust.json"))
    signed = EventSigner.load(keys_dir, producer, PASSPHRASES[producer]).sign(
        event(producer, event_type))
    with pytest.raises(SignatureInvalid, match=reason):
        authenticate(signed, trusted, source, subscribed)


def test_a_service_without_its_key_or_trust_entry_refuses_to_start(keys_dir, tmp_path):
    trusted = trusted_at_start(config(keys_dir))
    os.remove(key_path(keys_dir, "docs"))
    with pytest.raises(KeyNotProvisioned, match="EVENT_KEYS_DIR: docs has no event key"):
        signer_at_start(config(keys_dir), "docs", trusted)
    with pytest.raises(KeyNotProvisioned, match="EVENT_TRUST_FILE: there is no trust file"):
        trusted_at_start(config(keys_dir, EVENT_TRUST_FILE=str(tmp_path / "none.json")))
    with pytest.raises(KeyNotProvisioned, match="EVENT_KEY_PASSPHRASE: it does not open"):
        signer_at_start(config(keys_dir, "routing",
                               EVENT_KEY_PASSPHRASE=PASSPHRASES["signing"]), "routing", trusted)


def test_in_development_mode_a_service_makes_and_trusts_its_own_key(tmp_path, caplog):
    directory = str(tmp_path / "dev")
    dev = config(directory, DEV_MODE="true", EVENT_KEY_PASSPHRASE="dev-only-passphrase")
    trusted = trusted_at_start(dev)
    signer = signer_at_start(dev, "docs", trusted)
    authenticate(signer.sign(event()), trusted, "docs")
    assert "DEVELOPMENT MODE" in caplog.text


def test_the_command_provisions_from_each_services_variable_and_rotates(tmp_path):
    directory = str(tmp_path / "keys")
    env = {passphrase_variable(p): v for p, v in PASSPHRASES.items()}
    lines = []
    assert cli.main(["provision", directory], environ=env, out=lines.append) == 0
    assert len(lines) == len(PRODUCERS) + 1
    cli.main(["rotate", directory, "routing"], environ=env, out=lines.append)
    trust = json.loads(text_of(os.path.join(directory, "trust.json")))
    assert len(trust["routing"]) == 2 and len(trust["docs"]) == 1
    with pytest.raises(SystemExit, match="LIENTHONG_DOCS_EVENT_KEY_PASSPHRASE is a known"):
        cli.main(["provision", str(tmp_path / "k2")],
                 environ={**env, passphrase_variable("docs"): "dev-only-passphrase"})
    with pytest.raises(SystemExit, match="a passphrase of its own"):
        cli.main(["provision", str(tmp_path / "k3")],
                 environ={**env, passphrase_variable("docs"): PASSPHRASES["routing"]})
