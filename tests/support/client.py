"""The test's client: the platform's own client, pointed at one test's servers."""

from infra.client import Client as _Client
from infra.client import wait_for  # noqa: F401

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

    def sign_seal_issue(self, document_id, timeout=30):
        """The province's leader signs, its clerk seals and issues ``document_id``."""
        return super().approve_and_issue(self.token("clerk"), self.token("leader"),
                                         document_id, timeout)
