"""``openssl ts -verify``: the independent judge of an RFC 3161 time stamp."""

import subprocess


def openssl_ts_verify(directory, data, token, ca_pem):
    """Run real openssl on ``data`` (bytes), ``token`` (DER TimeStampToken) and
    ``ca_pem`` (the roots to trust), written to ``directory``; the finished process."""
    (directory / "checkpoint.note").write_bytes(data)
    (directory / "checkpoint.tst").write_bytes(token)
    (directory / "ca.pem").write_text(ca_pem)
    return subprocess.run(["openssl", "ts", "-verify", "-data", str(directory / "checkpoint.note"),
                           "-token_in", "-in", str(directory / "checkpoint.tst"),
                           "-CAfile", str(directory / "ca.pem")],
                          capture_output=True, text=True, timeout=60, check=False)
