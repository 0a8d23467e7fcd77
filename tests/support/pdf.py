"""Test PDFs come from the same generator as the demo's."""

from infra.samples import make_pdf  # noqa: F401
