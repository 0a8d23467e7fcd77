"""Bad input at each service entrypoint: a clear error, and nothing changed.

Each refused request must leave no event, no projection row and no object.
"""

import hashlib
import io
import json

import pytest
from nameko.testing.services import entrypoint_hook

from services.docs.service import DocsService
from services.signing.service import SigningService
from shared.envelope import Actor, new_event, system_actor
from shared.errors import (
    Conflict, Forbidden, NotFound, StorageError, Unauthenticated, ValidationFailed,
)
from tests.support.client import DISTRICT_1, PROVINCE, Client
from tests.support.db import scalar
from tests.support.events import signed
from tests.support.pdf import make_pdf, make_signed_pdf

pytestmark = pytest.mark.integration

GOOD = {"subject": "Công văn về lịch họp", "document_type": "CV", "recipients": [DISTRICT_1],
        "agency_abbreviation": "UBND", "drafting_unit_abbreviation": "VP",
        "signer": {"competence": "KT.", "on_behalf_of": "Chủ tịch", "position": "Phó Chủ tịch",
                   "full_name": "Lê Văn C"}}
PDF = make_pdf()
PDF_SHA = hashlib.sha256(PDF).hexdigest()


@pytest.fixture
def docs(run_container, platform):
    run_container(DocsService)
    client = Client(platform)
    store = platform.object_store()

    def nothing_stored():
        return (scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events") == 0
                and scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM documents") == 0
                and store.keys() == [])

    return client, nothing_stored


def error_of(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["field"]


@pytest.mark.parametrize("metadata, field", [
    ({k: v for k, v in GOOD.items() if k != "subject"}, "subject"),
    ({**GOOD, "subject": ""}, "subject"),
    ({**GOOD, "subject": "x" * 501}, "subject"),
    ({**GOOD, "document_type": "XYZ"}, "document_type"),
    ({**GOOD, "recipients": []}, "recipients"),
    ({**GOOD, "recipients": ["H41.01"]}, "recipients.0"),
    ({**GOOD, "recipients": [DISTRICT_1, DISTRICT_1]}, "recipients"),
    ({**GOOD, "recipients": [PROVINCE]}, "recipients"),
    # Well formed, but no agency of the directory (docs' copy of routing's).
    ({**GOOD, "recipients": [DISTRICT_1, "000.00.99.H99"]}, "recipients.1"),
    ({**GOOD, "urgency": 9}, "urgency"),
    ({**GOOD, "surprise": 1}, "surprise"),
    ({**GOOD, "due_date": "2020-01-01"}, "due_date"),
    ({**GOOD, "secrecy": 1}, "secrecy"),
    ({**GOOD, "signer": {"position": "Chủ tịch"}}, "signer.full_name"),
    ({**GOOD, "replaces": "6f1c2a7e-0000-4000-8000-0000000000aa"}, "replaces"),
    ({**GOOD, "files": [{"sha256": PDF_SHA, "size": len(PDF) + 1}]}, "file"),
    ({**GOOD, "files": [{"sha256": "0" * 64, "size": len(PDF)}]}, "file"),
    ({**GOOD, "files": [{"sha256": PDF_SHA, "size": len(PDF)}] * 2}, "files"),
])
def test_register_refuses_bad_metadata_naming_the_field(docs, metadata, field):
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), PDF, metadata=metadata)
    assert error_of(response) == (400, "validation_failed", field), response.text
    assert nothing_stored()


def test_register_refuses_a_file_that_is_not_a_pdf(docs):
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), b"MZ\x90\x00 an executable" * 1000)
    assert error_of(response) == (415, "unsupported_media_type", "file")
    assert "not a PDF" in response.json()["error"]["message"]
    assert nothing_stored()


def test_register_refuses_a_truncated_pdf(docs):
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), make_pdf(padding=200_000)[:150_000])
    assert error_of(response) == (415, "unsupported_media_type", "file")
    assert nothing_stored()


def test_register_refuses_an_oversized_file_while_streaming(docs):
    client, nothing_stored = docs
    # The limit in tests is 2 MiB; this file is 3 MiB and spans several reads.
    response = client.register(client.token("clerk"), make_pdf(padding=3 * 1024 * 1024))
    assert error_of(response) == (413, "payload_too_large", "file")
    assert nothing_stored()


def test_register_refuses_a_pdf_that_is_already_signed(docs):
    """Signed elsewhere, it would be accepted as a draft and fail the leader's
    approval (500); it is refused here, where the clerk can still fix it."""
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), make_signed_pdf(field_name="ChuKyNgoai"))
    assert error_of(response) == (400, "validation_failed", "file")
    message = response.json()["error"]["message"]
    assert message.startswith("file: Tệp đã có chữ ký số (ChuKyNgoai)"), message
    assert nothing_stored()


def test_a_pdf_that_only_mentions_a_signature_dictionary_is_registered(docs, platform):
    """The upload's scan sees ``/ByteRange`` in the page's text; pyHanko finds no
    signature field: a draft like any other."""
    client, _ = docs
    response = client.register(client.token("clerk"), make_pdf("Khóa /ByteRange trong PDF"),
                               metadata=GOOD)
    assert response.status_code == 201, response.text


def test_a_revision_to_a_signed_pdf_is_refused_and_the_draft_keeps_its_file(docs, platform):
    import requests

    from shared.multipart import encode

    client, _ = docs
    registered = client.register(client.token("clerk"), PDF, metadata=GOOD).json()
    document_id = registered["document_id"]
    signed_pdf = make_signed_pdf()
    headers, body = encode({}, "v2.pdf", io.BytesIO(signed_pdf), len(signed_pdf))
    headers.update(client.docs_headers(client.token("clerk"), "revise_file"))
    response = requests.put(f"{client.docs_url}/v1/documents/{document_id}/file", data=body,
                            headers=headers, timeout=60)
    assert error_of(response) == (400, "validation_failed", "file")
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events") == 1
    assert scalar(platform.pg_dsn, "docs", "SELECT file->>'sha256' FROM documents") == PDF_SHA
    versions = [o.version_id for o in platform.object_store().client.list_objects(
        bucket_name=platform.bucket, include_version=True, recursive=True)]
    assert versions == [registered["file"]["version_id"]]  # the refused one is gone


def test_register_refuses_without_a_file(docs):
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), b"", fields={"metadata": json.dumps(GOOD)})
    # An empty file part is not a PDF either.
    assert error_of(response)[0] in (400, 415)
    assert nothing_stored()


@pytest.mark.parametrize("token_of, status, code", [
    (lambda c: None, 401, "unauthenticated"),
    (lambda c: c.token("clerk")[:-4] + "AAAA", 401, "unauthenticated"),
    (lambda c: c.token("leader"), 403, "forbidden"),
    (lambda c: c.token("auditor"), 403, "forbidden"),
])
def test_register_refuses_the_unauthenticated_and_the_wrong_role(docs, token_of, status, code):
    client, nothing_stored = docs
    response = client.register(token_of(client), make_pdf(), metadata=GOOD)
    assert error_of(response)[:2] == (status, code)
    assert nothing_stored()


def test_a_good_registration_stores_one_event_and_one_object(docs, platform):
    client, nothing_stored = docs
    response = client.register(client.token("clerk"), make_pdf(), metadata=GOOD)
    assert response.status_code == 201, response.text
    assert scalar(platform.pg_dsn, "docs", "SELECT count(*) FROM events") == 1
    assert platform.object_store().keys() == [response.json()["file"]["key"]]


def test_an_attachment_must_be_a_known_type_by_its_content(docs, platform):
    client, nothing_stored = docs
    response = client.register_files(
        client.token("clerk"), GOOD,
        [("file", "main.pdf", PDF, "application/pdf"),
         ("attachment", "bang-ke.pdf", make_pdf("bang ke"), "application/pdf"),
         ("attachment", "virus.docx", b"MZ\x90\x00" * 100, "application/msword")])
    assert error_of(response) == (415, "unsupported_media_type", "attachments.1")
    assert nothing_stored()


def test_a_registration_with_attachments_records_each_file(docs, platform):
    client, _ = docs
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    response = client.register_files(
        client.token("clerk"), GOOD,
        [("file", "main.pdf", PDF, "application/pdf"),
         ("attachment", "so-do.png", png, "image/png")])
    assert response.status_code == 201, response.text
    [attachment] = response.json()["attachments"]
    assert attachment["name"] == "so-do.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["sha256"] == hashlib.sha256(png).hexdigest()
    assert sorted(platform.object_store().keys()) == sorted(
        [response.json()["file"]["key"], attachment["key"]])


def submitted_payload(platform, document_id, agency=PROVINCE, signer_user=None, file=None):
    """docs' DocumentSubmitted, signed with docs' provisioned key."""
    file = file or {"key": "k", "sha256": "ab" * 32, "size": 1,
                    "content_type": "application/pdf", "version_id": None}
    event = new_event("DocumentSubmitted", {
        "document_id": document_id, "issuing_agency": agency, "state": "submitted",
        "signer_user": signer_user or f"leader@{agency}", "round": 1, "sha256": file["sha256"],
        "signer": {"competence": "", "position": "Chủ tịch", "full_name": "Nguyễn Văn An"},
        "file": file, "attachments": []},
        actor=Actor("c", agency, "clerk"), producer="docs", stream_id=f"document-{document_id}")
    return signed(platform, event.at(2, 2))


def stored_pdf(platform, document_id):
    pdf = make_pdf("du thao")
    return platform.object_store().put_stream(f"documents/{document_id}/main.pdf",
                                              io.BytesIO(pdf), max_size=len(pdf)).to_dict()


@pytest.fixture
def signing(run_container, platform):
    container = run_container(SigningService)
    return container, Client(platform)


DOC = "6f1c2a7e-0000-4000-8000-000000000001"


def signatures(platform):
    return scalar(platform.pg_dsn, "signing", "SELECT count(*) FROM events")


def numbered_payload(platform, document_id, number_notation="07/CV-UBND"):
    """docs' DocumentNumbered (given once the leader signed), signed with docs' key."""
    event = new_event("DocumentNumbered", {
        "document_id": document_id, "issuing_agency": PROVINCE, "number": 7,
        "series": "regular", "year": 2026, "number_notation": number_notation,
        "numbered_at": "2026-12-05T10:00:00+07:00", "place": "Nghệ An"},
        actor=system_actor("docs"), producer="docs",
        stream_id=f"document-{document_id}")
    return signed(platform, event.at(3, 3))


def test_signing_refuses_bad_requests_and_signs_once(signing, platform, monkeypatch):
    container, client = signing
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(submitted_payload(platform, DOC, file=stored_pdf(platform, DOC)))

    cases = [
        (client.token("leader"), "not-a-uuid", ValidationFailed),
        (client.token("leader"), "6f1c2a7e-0000-4000-8000-0000000000ff", NotFound),
        (client.token("clerk"), DOC, Forbidden),
        (client.token("leader", agency=DISTRICT_1), DOC, Forbidden),
        (client.token("leader", user="pho.chu.tich"), DOC, Forbidden),  # not the named one
        ("forged.token", DOC, Unauthenticated),
    ]
    for token, document_id, error in cases:
        with client.rpc(token) as rpc:
            with pytest.raises(error):
                rpc.signing.sign_document(document_id)
    with client.rpc(client.token("clerk")) as rpc:
        with pytest.raises(Conflict) as err:
            rpc.signing.seal_document(DOC)  # the seal never comes before the leader's
        assert err.value.field == "state"
    with client.rpc(client.token("leader")) as rpc:
        with pytest.raises(ValidationFailed):
            rpc.signing.return_document(DOC, "  ")
    assert signatures(platform) == 0

    with client.rpc(client.token("leader")) as rpc:
        assert rpc.signing.sign_document(DOC)["document_id"] == DOC
        with pytest.raises(Conflict):
            rpc.signing.sign_document(DOC)  # a replayed request
        with pytest.raises(Forbidden):
            rpc.signing.seal_document(DOC)  # a leader does not apply the agency's seal
    assert signatures(platform) == 1
    monkeypatch.setattr("services.signing.service.NUMBER_WAIT_SECONDS", 0)
    with client.rpc(client.token("clerk")) as rpc:
        with pytest.raises(Conflict, match="chưa cấp số") as err:  # Decree 30 Art. 14
            rpc.signing.seal_document(DOC)
        assert err.value.field == "number" and "Art. 14" in err.value.message
    assert signatures(platform) == 1
    with entrypoint_hook(container, "on_document_numbered") as handle:
        handle(numbered_payload(platform, DOC))
    with client.rpc(client.token("clerk")) as rpc:
        assert rpc.signing.seal_document(DOC)["document_id"] == DOC
        with pytest.raises(Conflict):
            rpc.signing.seal_document(DOC)
    assert signatures(platform) == 2
    assert sorted(platform.object_store().keys()) == [
        f"documents/{DOC}/{name}" for name in ("main.pdf", "sealed.pdf", "signed.pdf")]
    # Once docs issues it: the manifest of the final files, with the number, signed.
    issued = new_event("DocumentIssued", {"document_id": DOC, "number_notation": "07/CV-UBND"},
                       actor=Actor("c", PROVINCE, "clerk"), producer="docs",
                       stream_id=f"document-{DOC}").at(4, 4)
    issued = signed(platform, issued)
    with entrypoint_hook(container, "on_document_issued") as handle:
        handle(issued)
        handle(issued)  # redelivered: finalized once
    assert signatures(platform) == 3
    assert sorted(platform.object_store().keys()) == [
        f"documents/{DOC}/{name}" for name in
        ("main.pdf", "manifest.json", "manifest.p7s", "sealed.pdf", "signed.pdf")]


def test_signing_refuses_a_stored_file_that_is_not_the_one_submitted(signing, platform):
    container, client = signing
    stored = stored_pdf(platform, DOC)
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(submitted_payload(platform, DOC, file={**stored, "sha256": "ab" * 32}))
    with client.rpc(client.token("leader")) as rpc:
        with pytest.raises(StorageError, match="SHA-256 differs"):
            rpc.signing.sign_document(DOC)
    assert signatures(platform) == 0
    assert platform.object_store().keys() == [stored["key"]]  # no signed copy left behind


def test_a_revoked_leader_certificate_signs_nothing(signing, platform):
    container, client = signing
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(submitted_payload(platform, DOC, file=stored_pdf(platform, DOC)))
    admin = client.token("admin", agency=PROVINCE)  # its own agency's certificates
    with client.rpc(admin) as rpc:
        enrolled = rpc.signing.enroll(f"leader@{PROVINCE}", PROVINCE, "leader", "Nguyễn Văn An")
        rpc.signing.revoke_certificate(enrolled["serial"], "keyCompromise")
        with pytest.raises(ValidationFailed):
            rpc.signing.revoke_certificate(enrolled["serial"], "no such reason")
    with client.rpc(client.token("leader")) as rpc:
        with pytest.raises(Forbidden) as err:
            rpc.signing.sign_document(DOC)
    assert err.value.field == "certificate" and "revoked" in err.value.message
    assert signatures(platform) == 0
    with client.rpc(client.token("leader")) as rpc:
        with pytest.raises(Forbidden):
            rpc.signing.enroll(f"leader@{PROVINCE}", PROVINCE, "leader", "X")  # admins only


def test_signing_quarantines_a_malformed_event(signing, platform):
    container, _ = signing
    bad = {**submitted_payload(platform, DOC), "event_id": "not-a-uuid"}
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(bad)
    assert scalar(platform.pg_dsn, "signing", "SELECT count(*) FROM documents") == 0
    assert scalar(platform.pg_dsn, "signing", "SELECT reason FROM quarantine") == \
        "event_id: Not a valid UUID."


def test_remote_signing_refuses_bad_requests_changing_nothing(signing, platform):
    """sign_remotely and enroll_remote (CSC API, issue 16) without a provider configured:
    each refusal names its field, and no hand-out, event or file is made."""
    container, client = signing
    with entrypoint_hook(container, "on_document_submitted") as handle:
        handle(submitted_payload(platform, DOC, file=stored_pdf(platform, DOC)))
    leader = client.token("leader")
    cases = [
        (leader, DOC, "  ", ValidationFailed, "otp"),
        (leader, DOC, None, ValidationFailed, "otp"),
        (leader, "not-a-uuid", "123456", ValidationFailed, "document_id"),
        (client.token("clerk"), DOC, "123456", Forbidden, None),
        (leader, DOC, "123456", Forbidden, "credential"),  # no credential at a provider
    ]
    for token, document_id, otp, error, field in cases:
        with client.rpc(token) as rpc:
            with pytest.raises(error) as refused:
                rpc.signing.sign_remotely(document_id, otp)
        assert field is None or refused.value.field == field, (otp, refused.value)
    enrolments = [
        (client.token("admin"), PROVINCE, "smartca", "cred-1", ValidationFailed, "provider"),
        (client.token("admin"), PROVINCE, "smartca", "", ValidationFailed, "credential_id"),
        (client.token("admin", agency=DISTRICT_1), PROVINCE, "smartca", "cred-1", Forbidden,
         "agency"),
        (client.token("clerk"), PROVINCE, "smartca", "cred-1", Forbidden, None),
    ]
    for token, agency, provider, credential_id, error, field in enrolments:
        with client.rpc(token) as rpc:
            with pytest.raises(error) as refused:
                rpc.signing.enroll_remote(f"leader@{PROVINCE}", agency, "Nguyễn Văn An",
                                          provider, credential_id)
        assert field is None or refused.value.field == field, refused.value
    assert signatures(platform) == 0
    assert scalar(platform.pg_dsn, "signing", "SELECT count(*) FROM handouts") == 0
    assert scalar(platform.pg_dsn, "signing", "SELECT count(*) FROM certificates") == 0
    assert sorted(platform.object_store().keys()) == [f"documents/{DOC}/main.pdf"]
