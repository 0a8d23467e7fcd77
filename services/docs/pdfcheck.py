"""Whether a registered PDF already carries a digital signature.

A draft is signed by the platform (the leader, then the agency): a PDF signed
elsewhere is refused at registration, where the clerk can still fix it,
instead of failing the leader's approval later. The upload's scan
(:class:`shared.objectstore.UnsignedPdfCheck`) flags a candidate; only then is
the stored file read back, spooled to disk past a few MiB (never whole in
memory), and its signature fields read with pyHanko on a real thread
(:func:`shared.green.run_cpu`), off the eventlet hub.
"""

import logging
import tempfile

from shared.errors import ValidationFailed
from shared.green import run_cpu
from shared.objectstore import CHUNK, PART_SIZE

log = logging.getLogger(__name__)


def signature_fields(fileobj):
    """Names of the PDF's signature fields that hold a signature ([] if none, or if
    pyHanko cannot read the file: the other checks judge that)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(fileobj, strict=False)
        return [sig.field_name for sig in reader.embedded_signatures]
    except Exception as err:
        log.warning("could not read the PDF's signature fields: %r", err)
        return []


def refuse_if_signed(files, stored, field="file"):
    """Raise :class:`ValidationFailed` naming ``field`` if the stored PDF is signed."""
    with tempfile.SpooledTemporaryFile(max_size=PART_SIZE) as spool:
        response = files.open(stored.key, stored.version_id)
        try:
            while chunk := response.read(CHUNK):
                spool.write(chunk)
        finally:
            response.close()
        spool.seek(0)
        names = run_cpu(signature_fields, spool)
    if names:
        raise ValidationFailed(
            f"{field}: Tệp đã có chữ ký số ({', '.join(names)}); hãy đăng ký bản chưa ký:"
            " chữ ký của lãnh đạo và của cơ quan được thêm khi duyệt và ban hành (the file"
            " is already digitally signed; register the unsigned draft)", field=field)
