"""Make the platform's bucket, with object lock, as the S3 server's admin (once).

    python -m infra.bucket [--wait SECONDS]

Reads ``LIENTHONG_S3_ENDPOINT``, ``LIENTHONG_S3_BUCKET``, ``LIENTHONG_S3_SECURE``
and an identity allowed to make buckets (``LIENTHONG_S3_ACCESS_KEY`` and
``LIENTHONG_S3_SECRET_KEY``: SeaweedFS's admin identity, MinIO's root user);
the services' own identities may not. Waits for the server to answer, makes
the bucket if it is missing, and refuses a bucket that exists without object
lock: the documents' retention (WORM) could not be set in it.
"""

import argparse
import os
import sys
import time

from shared.objectstore import S3ObjectStore


class NotLocked(Exception):
    pass


def wait_for_server(store, timeout, sleep=time.sleep):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return store.client.bucket_exists(bucket_name=store.bucket)
        except Exception as err:  # not answering yet: connection refused, 503
            if time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not answer in {timeout:.0f} s:"
                                   f" {err}") from err
            sleep(0.5)


def make_bucket(store, timeout=60):
    """``"made"`` or ``"exists"``; :class:`NotLocked` for a bucket without object lock."""
    from minio.error import S3Error

    existed = wait_for_server(store, timeout)
    store.ensure_bucket()
    try:
        config = store.client.get_object_lock_config(bucket_name=store.bucket)
    except S3Error as err:
        raise NotLocked(f"bucket {store.bucket} has no object lock ({err.code}): make it"
                        " again with object lock, or name another bucket") from err
    if config is None:
        raise NotLocked(f"bucket {store.bucket} has no object lock")
    return "exists" if existed else "made"


def main(argv=None, environ=os.environ):
    parser = argparse.ArgumentParser(prog="python -m infra.bucket",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=60,
                        help="seconds to wait for the server to answer")
    args = parser.parse_args(argv)
    missing = [name for name in ("LIENTHONG_S3_ENDPOINT", "LIENTHONG_S3_ACCESS_KEY",
                                 "LIENTHONG_S3_SECRET_KEY", "LIENTHONG_S3_BUCKET")
               if not environ.get(name)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)}")
    store = S3ObjectStore(environ["LIENTHONG_S3_ENDPOINT"], environ["LIENTHONG_S3_ACCESS_KEY"],
                          environ["LIENTHONG_S3_SECRET_KEY"], environ["LIENTHONG_S3_BUCKET"],
                          secure=environ.get("LIENTHONG_S3_SECURE", "false").lower() == "true")
    try:
        outcome = make_bucket(store, args.wait)
    except NotLocked as err:
        raise SystemExit(str(err))
    print(f"bucket {store.bucket} ({outcome}, object lock on)", file=sys.stderr)
    return outcome


if __name__ == "__main__":
    main()
