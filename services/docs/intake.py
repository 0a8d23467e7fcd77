"""The edge where a registration's files come in: the multipart request checked
before it is read, then each part streamed to the bucket with its checks
(``shared.objectstore``), never held whole."""

from services.docs.pdfcheck import refuse_if_signed
from services.docs.schemas import MAX_ATTACHMENTS, check_declared, file_name
from shared.documents import attachment_key, file_key
from shared.errors import PayloadTooLarge, ValidationFailed
from shared.multipart import MultipartStream
from shared.objectstore import AttachmentCheck, UnsignedPdfCheck


def multipart(request, limit):
    """The request's multipart stream, refused before a byte is read if it
    cannot hold at most ``MAX_ATTACHMENTS + 1`` files of ``limit`` bytes."""
    whole = limit * (MAX_ATTACHMENTS + 1)
    if request.content_length and request.content_length > whole + 64 * 1024:
        raise PayloadTooLarge(f"file: larger than the limit of {whole} bytes", field="file")
    if request.mimetype != "multipart/form-data":
        raise ValidationFailed("request: send multipart/form-data", field="content-type")
    return MultipartStream(request.stream, request.mimetype_params.get("boundary"))


def receive_files(files, form, document_id, command, stored, limit):
    """Stream the main PDF, then the attachments, to the bucket (into
    ``stored``, so the caller removes them if anything fails)."""
    names = []
    while (part := form.next_part()) is not None:
        index = len(stored)
        if part[0] != "file" or part[1] != ("file" if index == 0 else "attachment"):
            raise ValidationFailed(
                "file: the main PDF comes first, as the form field 'file', then"
                " attachments as 'attachment'", field="file")
        if index > MAX_ATTACHMENTS:
            raise ValidationFailed(f"attachments: at most {MAX_ATTACHMENTS}",
                                   field="attachments")
        key = file_key(document_id) if index == 0 else attachment_key(document_id, index - 1)
        check = (UnsignedPdfCheck() if index == 0
                 else AttachmentCheck(f"attachments.{index - 1}"))
        stored.append(files.put_stream(key, form.file_stream(), max_size=limit, check=check))
        if index == 0 and check.suspect:
            refuse_if_signed(files, stored[-1])
        check_declared(command["files"], index, stored[-1])
        names.append(file_name(part[2], index))
    if not stored:
        raise ValidationFailed("file: required, as the form field after metadata",
                               field="file")
    if command["files"] is not None and len(command["files"]) != len(stored):
        raise ValidationFailed(f"files: {len(command['files'])} declared,"
                               f" {len(stored)} uploaded", field="files")
    command["attachment_names"] = names[1:]
