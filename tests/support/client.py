"""The test's client: the platform's own client, pointed at one test's servers."""

from infra.client import Client as _Client
from infra.client import wait_for

PROVINCE = "000.00.00.H41"
DISTRICT_1 = "000.01.00.H41"
DISTRICT_2 = "000.02.00.H41"
OUTSIDER = "000.03.00.H41"

SIGNER = {"competence": "TM.", "on_behalf_of": "Ủy ban nhân dân", "position": "Chủ tịch",
          "full_name": "Nguyễn Văn An"}
DIRECTIVE = {"subject": "Chỉ thị về phòng, chống bão số 3", "document_type": "CT",
             "agency_abbreviation": "UBND", "signer": SIGNER,
             "recipients": [DISTRICT_1, DISTRICT_2]}


def urgent_dispatch(recipient, subject="Công điện về ứng phó bão"):
    """A Hỏa tốc Công điện of a province's People's Committee to ``recipient``."""
    return {"subject": subject, "document_type": "CĐ", "urgency": 3,
            "agency_abbreviation": "UBND", "signer": SIGNER, "recipients": [recipient]}


class Client(_Client):
    def __init__(self, platform):
        super().__init__(platform.amqp_uri, platform.docs_url, platform.gateway_key)
        self.platform = platform

    def token(self, role, agency=PROVINCE, user=None):
        return super().token(role, agency, user)

    def register(self, token, pdf, metadata=None, fields=None):
        return super().register(token, pdf, metadata if metadata is not None else DIRECTIVE,
                                fields)

    def issue(self, clerk, leader, pdf, metadata=None, timeout=30):
        return super().issue(clerk, leader, pdf,
                             metadata if metadata is not None else DIRECTIVE, timeout)

    def signed(self, title):
        """A document of the province registered, submitted and signed by its leader
        through the real services. Its id."""
        from infra.samples import make_pdf

        response = self.register(self.token("clerk"), make_pdf(title))
        assert response.status_code == 201, response.text
        document_id = response.json()["document_id"]
        with self.rpc(self.token("clerk")) as rpc:
            rpc.docs.submit(document_id, f"leader@{PROVINCE}")
        with self.rpc(self.token("leader")) as rpc:
            wait_for(lambda: rpc.signing.sign_document(document_id), what="signing to get it")
        return document_id

    def sealed(self, title):
        """:meth:`signed`, then sealed, docs knowing it sealed: ready to issue. Its id."""
        document_id = self.signed(title)
        with self.rpc(self.token("clerk")) as rpc:
            wait_for(lambda: rpc.signing.seal_document(document_id),
                     what="signing to learn the number given at the signature")
            wait_for(lambda: rpc.docs.get_document(document_id)["state"] == "sealed",
                     what="docs to follow the seal")
        return document_id

    def sign_seal_issue(self, document_id, timeout=30):
        """The province's leader signs, its clerk seals and issues ``document_id``."""
        return super().approve_and_issue(self.token("clerk"), self.token("leader"),
                                         document_id, timeout)
