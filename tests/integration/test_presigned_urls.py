"""Download URLs are presigned on the S3 address users' browsers reach
(``S3_PUBLIC_ENDPOINT``), not on the internal one the services use.

Here the public name is ``localhost`` and the internal one ``127.0.0.1``: the
same real S3 server (SeaweedFS) under two names, as a reverse proxy or a DNS
name would give in a deployment.
"""

from urllib.parse import urlsplit

import pytest
import requests

from infra.stack import free_port
from services.docs.service import DocsService
from shared.objectstore import S3ObjectStore
from tests.support.client import Client
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration


def public_name(endpoint):
    host, port = endpoint.rsplit(":", 1)
    assert host == "127.0.0.1", "the test needs the server on an IP to name it otherwise"
    return f"localhost:{port}"


def test_docs_hands_out_urls_on_the_public_endpoint_that_download_the_file(run_container,
                                                                           platform):
    public = public_name(platform.s3.endpoint)
    run_container(DocsService, S3_PUBLIC_ENDPOINT=public)
    client = Client(platform)
    pdf = make_pdf("Công văn tải về")
    response = client.register(client.token("clerk"), pdf)
    assert response.status_code == 201, response.text
    with client.rpc(client.token("clerk")) as rpc:
        url = rpc.docs.file_url(response.json()["document_id"])
    assert urlsplit(url).netloc == public
    assert requests.get(url, timeout=30).content == pdf


def test_without_a_public_endpoint_urls_name_the_internal_one(platform):
    url = S3ObjectStore(platform.s3.endpoint, platform.s3.access_key, platform.s3.secret_key,
                        platform.bucket).presigned_get("documents/x/main.pdf")
    assert urlsplit(url).netloc == platform.s3.endpoint


def test_presigning_for_the_public_endpoint_calls_no_server():
    """minio signs locally once the region is known: a public name that does not
    answer here (a port nothing listens on) still gets its URL at once."""
    closed = f"localhost:{free_port()}"
    store = S3ObjectStore(f"127.0.0.1:{free_port()}", "key", "secret", "lienthong-any",
                          public_endpoint=closed)
    url = store.presigned_get("documents/x/main.pdf", version_id="v1")
    assert urlsplit(url).netloc == closed and "versionId=v1" in url
