"""signing: leaders' approval and digital signatures (chữ ký số)."""

from services.signing import asn1_dump, pdf_hex

# Before any CMS is built or PDF read here: asn1crypto 1.5.1 re-encoded
# structures exponentially (RSA-3072 PAdES took 5-20 s), pyHanko reads a
# signature's hex /Contents a byte at a time; each module says more.
asn1_dump.install()
pdf_hex.install()
