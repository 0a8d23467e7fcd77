"""Which leaders sign through a remote signing service (ký số từ xa), and with
which credential there: one row per certificate the platform's CA issued for
the public key of a credential at a provider (``remote``).

The provider is named, not addressed: its URL and the platform's token there
are the operator's configuration (``CSC_PROVIDERS``), so an administrator
configuring a leader cannot point the server at an arbitrary URL.
"""

from cryptography import x509
from psycopg import Connection

from shared.errors import Forbidden

DDL = """
CREATE TABLE IF NOT EXISTS remote_credentials (
    serial        text PRIMARY KEY REFERENCES certificates (serial),
    holder        text NOT NULL,
    agency        text NOT NULL,
    provider      text NOT NULL,
    credential_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS remote_credentials_holder ON remote_credentials (holder, agency);
"""


def record(conn: Connection, certificate: x509.Certificate, holder: str, agency: str,
           provider: str, credential_id: str) -> None:
    conn.execute("INSERT INTO remote_credentials (serial, holder, agency, provider,"
                 " credential_id) VALUES (%s, %s, %s, %s, %s)",
                 (format(certificate.serial_number, "x"), holder, agency, provider,
                  credential_id))


def current(conn: Connection, holder: str, agency: str) -> dict:
    """The holder's newest remote credential whose certificate is valid now:
    ``{"provider", "credential_id", "certificate"}``."""
    row = conn.execute(
        "SELECT r.provider, r.credential_id, c.pem FROM remote_credentials r JOIN"
        " certificates c USING (serial) WHERE r.holder = %s AND r.agency = %s AND"
        " c.holder = r.holder AND c.revoked_at IS NULL AND now() BETWEEN c.not_before AND"
        " c.not_after ORDER BY c.not_before DESC LIMIT 1", (holder, agency)).fetchone()
    if row is None:
        raise Forbidden(f"credential: {holder} has no valid credential at a remote signing"
                        f" service for {agency}; an administrator configures one"
                        " (enroll_remote)", field="credential")
    return {"provider": row[0], "credential_id": row[1],
            "certificate": x509.load_pem_x509_certificate(row[2].encode())}
