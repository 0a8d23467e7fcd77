"""Signing benchmark: PAdES and manifest signatures, and their verification, beside raw crypto.

Run from the repository root::

    python -m bench.signing

Pure in-process: no services, no database, no broker. It builds a dev PKI
(an agency root CA, and a leader's personal certificate and the agency's own
certificate in ECDSA P-256, RSA-3072 and RSA-2048), serves a local RFC 3161
TSA over HTTP on 127.0.0.1 (``tsa.TsaServer``, a thread of this process),
and measures in one run:

* raw baselines from ``cryptography``: SHA-256 of 1 MB; ECDSA P-256 and
  RSA-3072 (PKCS#1 v1.5) signing of a SHA-256 digest and of the 1 MB bytes
  (hashing included), and verifying likewise;
* ``pades.sign_as_leader`` (visible, PAdES B-LT: the chain and CRLs in the
  DSS) on a 1 MB PDF, then ``pades.seal_as_agency`` (B-LTA: and an archive
  time stamp) over a leader-signed copy, as the service makes them, for the
  three key types, with what one time stamp costs (over HTTP, and the TSA's
  own work), and the same two as B-T only (rows 2l, 2m), to show what the
  long-term validation data costs;
  then the same in two processes at once (forked from this one, as two
  instances of the signing service would run), to show the second core used;
* ``manifest.sign_manifest`` over a manifest with metadata and 5 files;
* ``verification.verify_pdf`` of a leader-signed and sealed 1 MB PDF (trust
  roots and CRLs given), ``longterm.verify_years_later`` of it (12 years on,
  every certificate expired) and ``verification.verify_manifest``.

Every figure of ours sits beside the raw baseline it is compared with, and
the ratio. It is a benchmark, not a test: it only refuses to time a
verification whose report is not ``ok``. The TSA server is stopped at the
end, also after an error, Ctrl-C or SIGTERM.
"""

import asyncio
import contextlib
import hashlib
import math
import multiprocessing
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from bench.common import (
    BenchBase, Result, BUDGET_S, _quietly, _terminate, _version, timed_loop, print_machine,
)
from infra.samples import make_pdf
from services.signing import appearance as looks
from services.signing import longterm, manifest, pades, pki, tsa, verification
from shared import fonts

# -- how much (every timed loop stops at its count or after BUDGET_S) -------------

PDF_PADDING = 1024 * 1024  # make_pdf(padding=...): a PDF of about 1 MB
N_RAW = 3_000              # raw signs, verifies and hashes
N_PADES = 200              # PAdES signatures (the budget stops these first)
N_TSA = 300                # time stamps alone
N_MANIFEST = 2_000         # manifest signatures and verifications
N_VERIFY_PDF = 200         # verify_pdf calls (the budget stops these first)

NOW = datetime.now(UTC)
CODE = "000.00.00.H41"
AGENCY = "Ủy ban nhân dân tỉnh Nghệ An"
LEADER = "Nguyễn Văn An"
ALGORITHMS = {"ec-p256": "ECDSA P-256", "rsa-3072": "RSA-3072"}
RSA_2048 = "rsa-2048"  # PAdES rows only (what most Vietnamese public CAs issue)
PROCESSES = 2          # the "at once" rows: one signing process per core
SHA256 = hashes.SHA256()


class CountingAuthority:
    """The TSA's ``respond``, counting the requests it answers and the time it takes."""

    def __init__(self, authority):
        self.authority = authority
        self.calls = 0
        self.ns = 0

    def respond(self, request_der):
        t0 = time.perf_counter_ns()
        try:
            return self.authority.respond(request_der)
        finally:
            self.ns += time.perf_counter_ns() - t0
            self.calls += 1


class Bench(BenchBase):
    def __init__(self, cleanup):
        super().__init__()
        self.cleanup = cleanup
        self.rows = []      # ("title", text) or ("row", label, Result, [baseline labels])
        self.base = {}      # label -> Result of a raw baseline
        self.cpu_ms = {}    # name -> CPU ms of this process per call
        self.notes = []

    # -- the world: PKI, TSA, documents -----------------------------------------------

    def setup(self):
        year_ago, later = NOW - timedelta(days=365), NOW + timedelta(days=3650)
        # As in the tests: the TSA has its own root; the agency's CA publishes a CRL URL.
        self.tsa_ca = pki.create_root_ca("TSA Root (bench)", year_ago, later)
        self.ca = pki.create_root_ca(f"CA {CODE}", year_ago, later,
                                     crl_url="http://ca.bench/crl")
        self.leader, self.org = {}, {}
        for alg in (*ALGORITHMS, RSA_2048):
            self.leader[alg] = pki.issue_personal_cert(self.ca, LEADER, CODE, "leader",
                                                       agency_name=AGENCY, key_algorithm=alg)
            self.org[alg] = pki.issue_organisation_cert(self.ca, CODE, AGENCY,
                                                        key_algorithm=alg)
        self.authority = tsa.TimeStampAuthority(tsa.issue_tsa_cert(self.tsa_ca))
        self.counting = CountingAuthority(self.authority)
        server = tsa.TsaServer(self.counting)
        self.tsa_url = server.start()
        self.cleanup.callback(_quietly, "stop TSA server", server.stop)

        self.roots = [self.ca.certificate, self.tsa_ca.certificate]
        self.crls = [self.ca.crl(NOW + timedelta(days=7)),
                     self.tsa_ca.crl(NOW + timedelta(days=7))]
        # What the service gives each signature (B-LT): the roots and current CRLs.
        self.long_term = longterm.LongTerm(tuple(self.roots), tuple(self.crls))
        self.pdf = make_pdf("Quyet dinh so 12/QD-UBND", padding=PDF_PADDING)
        # Signed copies made once, untimed: the seal's input and verify's input.
        self.signed = {alg: self.sign_leader(alg) for alg in (*ALGORITHMS, RSA_2048)}
        self.sealed = {alg: self.seal(alg) for alg in ALGORITHMS}
        files = {"main.pdf": self.sealed["ec-p256"],
                 **{f"phu-luc-{i}.pdf": make_pdf(f"Phu luc {i}", padding=20_000 * i)
                    for i in range(1, 5)}}
        self.manifest_files = files
        self.manifest = manifest.manifest_bytes(manifest.build_manifest({
            "document_id": "7c0c2a52-4f6b-4bd3-9c55-0a3d1f2e9b10", "issuing_agency": CODE,
            "number_notation": "12/QĐ-UBND", "signer": LEADER,
            "summary": "Về việc thành lập tổ công tác liên thông văn bản điện tử",
            "approved_sha256": hashlib.sha256(self.pdf).hexdigest()}, files))
        self.manifest_sig = {alg: manifest.sign_manifest(self.manifest, self.org[alg])
                             for alg in ALGORITHMS}

    def sign_leader(self, alg, timestamper=None, long_term=True):
        return pades.sign_as_leader(self.pdf, self.leader[alg], "Phó Chủ tịch", LEADER, "KT.",
                                    on_behalf_of="Chủ tịch",
                                    timestamper_url=timestamper or self.tsa_url,
                                    long_term=self.long_term if long_term else None)

    def seal(self, alg, long_term=True):
        return pades.seal_as_agency(self.signed[alg], self.org[alg],
                                    timestamper_url=self.tsa_url,
                                    long_term=self.long_term if long_term else None,
                                    archive=long_term)

    # -- machine facts ------------------------------------------------------------------

    def facts(self):
        font = fonts.find_fonts()["LienThongSerif"]
        print_machine("Liên thông signing benchmark")
        print(f"  libraries          : cryptography {cryptography.__version__}"
              f" ({openssl.openssl_version_text()}), {_version('pyhanko')},"
              f" {_version('pyhanko-certvalidator')}, {_version('asn1crypto')},"
              f" {_version('pillow')}, {_version('aiohttp')}")
        print(f"  load average       : {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
              " (1 / 5 / 15 min, before the first measurement)")
        print("  keys               : leader and agency certificates in ECDSA P-256,"
              " RSA-3072 and RSA-2048, one ECDSA P-256 root CA; TSA: ECDSA P-256 under its"
              " own root")
        print(f"  TSA                : {self.tsa_url} (tsa.TsaServer, a thread of this"
              " process: its work shares the benchmark's cores)")
        print(f"  appearance font    : {font} (embedded, a subset per character set)")
        print(f"  PDF                : {len(self.pdf):,} bytes (make_pdf, padding"
              f" {PDF_PADDING:,}); leader-signed {len(self.signed['ec-p256']):,} (ECDSA) /"
              f" {len(self.signed['rsa-3072']):,} (RSA); sealed"
              f" {len(self.sealed['ec-p256']):,} / {len(self.sealed['rsa-3072']):,}")
        print(f"  manifest           : {len(self.manifest):,} bytes of canonical JSON, metadata"
              f" and {len(self.manifest_files)} files; detached CMS"
              f" {len(self.manifest_sig['ec-p256']):,} bytes (ECDSA) /"
              f" {len(self.manifest_sig['rsa-3072']):,} (RSA)")
        print(f"  time budget        : {BUDGET_S:.0f} s per timed loop, one untimed call"
              " before each")
        print()

    # -- measuring ------------------------------------------------------------------------

    def measure(self, name, n, op, latency_of="1 call", info=False):
        op(None)  # warm up once
        cpu = time.process_time()
        lat, s = timed_loop(range(n), op)
        # CPU of this process (the TSA's thread included) per call: what a core does,
        # whatever else the machine runs.
        self.cpu_ms[name] = (time.process_time() - cpu) / max(len(lat), 1) * 1e3
        return Result(name, len(lat), s, lat, latency_of, info=info)

    def baseline(self, label, name, n, op):
        self.base[label] = result = self.measure(name, n, op)
        self.rows.append(("row", label, result, []))

    def ours(self, name, n, op, baselines, latency_of="1 call"):
        result = self.add(self.measure(name, n, op, latency_of))
        self.rows.append(("row", "", result, baselines))
        return result

    def part(self, name, n, op):
        result = self.measure("   of which: " + name, n, op, info=True)
        self.rows.append(("row", "", result, []))
        return result

    # -- 0. raw baselines -------------------------------------------------------------------

    def raw(self):
        self.rows.append(("title", "raw baselines (cryptography, same keys as ours)"))
        data = self.pdf
        digest = hashlib.sha256(data).digest()
        ec_key = self.leader["ec-p256"].private_key
        rsa_key = self.leader["rsa-3072"].private_key
        prehashed = utils.Prehashed(SHA256)
        pkcs1 = padding.PKCS1v15()
        self.baseline("b1", "SHA-256 of the 1 MB PDF", N_RAW,
                      lambda _: hashlib.sha256(data).digest())
        self.baseline("b2", "ECDSA P-256 sign, 32-byte digest", N_RAW,
                      lambda _: ec_key.sign(digest, ec.ECDSA(prehashed)))
        self.baseline("b3", "ECDSA P-256 sign, 1 MB (hash incl.)", N_RAW,
                      lambda _: ec_key.sign(data, ec.ECDSA(SHA256)))
        self.baseline("b4", "RSA-3072 sign, 32-byte digest", N_RAW,
                      lambda _: rsa_key.sign(digest, pkcs1, prehashed))
        self.baseline("b5", "RSA-3072 sign, 1 MB (hash incl.)", N_RAW,
                      lambda _: rsa_key.sign(data, pkcs1, SHA256))
        rsa2048 = self.leader[RSA_2048].private_key
        self.baseline("b10", "RSA-2048 sign, 32-byte digest", N_RAW,
                      lambda _: rsa2048.sign(digest, pkcs1, prehashed))
        self.baseline("b11", "RSA-2048 sign, 1 MB (hash incl.)", N_RAW,
                      lambda _: rsa2048.sign(data, pkcs1, SHA256))
        ec_pub, rsa_pub = ec_key.public_key(), rsa_key.public_key()
        ec_sig_d = ec_key.sign(digest, ec.ECDSA(prehashed))
        ec_sig = ec_key.sign(data, ec.ECDSA(SHA256))
        rsa_sig = rsa_key.sign(data, pkcs1, SHA256)  # the same value as over the digest
        self.baseline("b6", "ECDSA P-256 verify, 32-byte digest", N_RAW,
                      lambda _: ec_pub.verify(ec_sig_d, digest, ec.ECDSA(prehashed)))
        self.baseline("b7", "ECDSA P-256 verify, 1 MB (hash incl.)", N_RAW,
                      lambda _: ec_pub.verify(ec_sig, data, ec.ECDSA(SHA256)))
        self.baseline("b8", "RSA-3072 verify, 32-byte digest", N_RAW,
                      lambda _: rsa_pub.verify(rsa_sig, digest, pkcs1, prehashed))
        self.baseline("b9", "RSA-3072 verify, 1 MB (hash incl.)", N_RAW,
                      lambda _: rsa_pub.verify(rsa_sig, data, pkcs1, SHA256))

    # -- 1. time stamps alone ---------------------------------------------------------------

    def timestamps(self):
        self.rows.append(("title", "time stamps (RFC 3161, local TSA)"))
        digest = hashlib.sha256(b"bench").digest()

        def round_trip(_):
            # The client pades makes from a URL, in an event loop of its own as in sign_pdf.
            asyncio.run(pades.HTTPTimeStamper(self.tsa_url).async_timestamp(digest, "sha256"))

        def ours(_):
            # The time stamper pades keeps for a URL (one SSL context per process).
            asyncio.run(pades._timestamper(self.tsa_url).async_timestamp(digest, "sha256"))

        _, request = pades.HTTPTimeStamper(self.tsa_url).request_cms(digest, "sha256")
        request_der = request.dump()
        self.tsa_http = self.ours("1a. time stamp over HTTP (pyHanko's client)", N_TSA,
                                  round_trip, ["b2"], "1 request")
        self.tsa_ours = self.ours("1b. time stamp over HTTP (pades' client)", N_TSA,
                                  ours, ["b2"], "1 request")
        self.tsa_respond = self.part("TimeStampAuthority.respond", N_TSA,
                                     lambda _: self.authority.respond(request_der))

    # -- 2. PAdES ---------------------------------------------------------------------------

    def pades(self):
        self.rows.append(("title", "PAdES on the 1 MB PDF: leader B-LT, seal B-LTA (as the"
                                   " service signs); 2l-2m B-T only"))
        self.pades_rows = {}  # name -> (TSA requests, TSA ms, per signature)
        self._pades_row("2a. leader, visible, ECDSA P-256", ["b3", "b2", "b1"],
                        lambda _: self.sign_leader("ec-p256"))
        # pades also takes a TimeStamper object: pyHanko's own, kept across calls, sizes
        # each signature from its dummy token (pades from a URL measures the size once).
        shared = pades.HTTPTimeStamper(self.tsa_url)
        self._pades_row("2b. leader, ECDSA P-256, pyHanko's HTTPTimeStamper reused", ["b3"],
                        lambda _: self.sign_leader("ec-p256", shared))
        self._pades_row("2c. leader, visible, RSA-3072", ["b5", "b4", "b1"],
                        lambda _: self.sign_leader("rsa-3072"))
        self.part("leader's signature image (PIL)", N_PADES,
                  lambda _: looks.signature_image(LEADER, (616, 248)))
        self._pades_row("2d. agency seal over the leader's, ECDSA P-256", ["b3", "b2"],
                        lambda _: self.seal("ec-p256"))
        self._pades_row("2e. agency seal over the leader's, RSA-3072", ["b5", "b4"],
                        lambda _: self.seal("rsa-3072"))
        self.part("font subset for the seal's name (fontTools)", N_PADES,
                  lambda _: looks._Subset(looks.BOLD, set(AGENCY.upper()) | looks.DIGITS))
        self._pades_row("2f. leader, visible, RSA-2048", ["b11", "b10"],
                        lambda _: self.sign_leader(RSA_2048))
        self._pades_row("2g. agency seal over the leader's, RSA-2048", ["b11", "b10"],
                        lambda _: self.seal(RSA_2048))
        self._pades_row("2l. leader, visible, ECDSA P-256, B-T only", ["b3", "b2", "b1"],
                        lambda _: self.sign_leader("ec-p256", long_term=False))
        self._pades_row("2m. agency seal, ECDSA P-256, B-T only", ["b3", "b2"],
                        lambda _: self.seal("ec-p256", long_term=False))
        self.at_once = {}
        for label, alg, kind, base in (
                ("2h", "ec-p256", "leader", "b3"), ("2i", "ec-p256", "seal", "b3"),
                ("2j", "rsa-3072", "leader", "b5"), ("2k", RSA_2048, "seal", "b11")):
            name = (f"{label}. {kind}, {alg.upper().replace('EC-P256', 'ECDSA P-256')},"
                    f" {PROCESSES} processes at once")
            self.at_once[name] = result = self.add(self._at_once(name, alg, kind))
            self.rows.append(("row", "", result, [base]))

    def _at_once(self, name, alg, kind):
        """``PROCESSES`` forked copies of this process signing at once, for the budget."""
        _FORKED["bench"] = self
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            tsa_cpu = time.process_time()  # this process only answers the TSA requests now
            done = pool.map(_signing_loop, [(alg, kind)] * PROCESSES)
            tsa_cpu = time.process_time() - tsa_cpu
        latencies = [ns for lat, _, _ in done for ns in lat]
        self.cpu_ms[name] = (sum(cpu for _, _, cpu in done) + tsa_cpu) / len(latencies) * 1e3
        return Result(name, len(latencies), max(s for _, s, _ in done), latencies,
                      "1 signature")

    def _pades_row(self, name, baselines, op):
        calls, ns = self.counting.calls, self.counting.ns
        result = self.ours(name, N_PADES, op, baselines, "1 signature")
        signatures = result.ops + 1  # the TSA also answered the warm-up signature
        self.pades_rows[name] = ((self.counting.calls - calls) / signatures,
                                 (self.counting.ns - ns) / signatures / 1e6)

    # -- 3. manifest ------------------------------------------------------------------------

    def manifests(self):
        self.rows.append(("title", f"manifest ({len(self.manifest):,} bytes), detached CMS"))
        for n, (alg, label) in enumerate(ALGORITHMS.items()):
            identity = self.org[alg]
            self.ours(f"3{'ab'[n]}. sign_manifest, {label}", N_MANIFEST,
                      lambda _, i=identity: manifest.sign_manifest(self.manifest, i),
                      ["b2" if alg == "ec-p256" else "b4"], "1 signature")

    # -- 4. verification --------------------------------------------------------------------

    def verifications(self):
        self.rows.append(("title", "verification (offline: trust roots and CRLs given)"))
        expected_pdf = {"agency_code": CODE, "roles": ["leader", "agency"]}
        expected_manifest = {"agency_code": CODE, "role": "agency"}
        for n, (alg, label) in enumerate(ALGORITHMS.items()):
            sealed = self.sealed[alg]
            _require_ok(f"verify_pdf ({label})", verification.verify_pdf(
                sealed, self.roots, self.crls, expected_pdf))
            b_digest, b_data = ("b6", "b7") if alg == "ec-p256" else ("b8", "b9")
            self.ours(f"4{'ab'[n]}. verify_pdf, leader + seal, {label}", N_VERIFY_PDF,
                      lambda _, pdf=sealed: verification.verify_pdf(
                          pdf, self.roots, self.crls, expected_pdf),
                      [b_data, b_digest], "1 PDF")
        later = NOW + timedelta(days=12 * 365)  # every certificate has expired
        lta = self.sealed["ec-p256"]
        if not all(r["ok"] for r in longterm.verify_years_later(lta, self.roots, later)):
            raise RuntimeError("verify_years_later is not ok, nothing to time")
        self.ours("4e. verify_years_later (12 years on), leader + seal, ECDSA P-256",
                  N_VERIFY_PDF, lambda _: longterm.verify_years_later(lta, self.roots, later),
                  ["b7", "b6"], "1 PDF")
        for n, (alg, label) in enumerate(ALGORITHMS.items()):
            signature = self.manifest_sig[alg]
            _require_ok(f"verify_manifest ({label})", verification.verify_manifest(
                self.manifest, signature, self.roots, self.crls, expected_manifest))
            self.ours(f"4{'cd'[n]}. verify_manifest, {label}", N_MANIFEST,
                      lambda _, sig=signature: verification.verify_manifest(
                          self.manifest, sig, self.roots, self.crls, expected_manifest),
                      ["b6" if alg == "ec-p256" else "b8"], "1 manifest")

    # -- report -----------------------------------------------------------------------------

    def report(self):
        names = [self._name(r) for r in self.rows if r[0] == "row"]
        width = max(len(n) for n in names)
        header = (f"{'measurement':<{width}} {'ops':>6} {'s':>6} {'ops/s':>10} {'p50 ms':>9}"
                  f" {'p99 ms':>9}  {'baseline':<8} {'ours/base':>10}")
        print(header)
        print("-" * len(header))
        for row in self.rows:
            if row[0] == "title":
                print(row[1] if row is self.rows[0] else f"\n{row[1]}")
                continue
            _, label, r, baselines = row
            first = baselines[0] if baselines else ""
            print(f"{self._name(row):<{width}} {r.ops:>6} {r.seconds:>6.2f} {r.rate:>10.1f}"
                  f" {_ms(r.pct(0.50)):>9} {_ms(r.pct(0.99)):>9}  {first:<8}"
                  f" {_ratio(r, self.base.get(first)):>10}".rstrip())
            for other in baselines[1:]:  # more baselines for the same row: ratio only
                print(f"{'':<{width}} {'':>6} {'':>6} {'':>10} {'':>9} {'':>9}  {other:<8}"
                      f" {_ratio(r, self.base[other]):>10}")
        print()
        print("ops = calls done (signatures, verifications, hashes, time stamps); fewer than"
              f" planned when the {BUDGET_S:.0f} s budget ran out. p50/p99 = latency of one call;"
              " with under 100 calls, p99 is close to the slowest call.")
        print("baseline = the b-row compared with (its ops/s is on its own line at the top);"
              " ours/base = our ops/s divided by the baseline's ops/s (1.00x = as fast as raw).")
        print("Figures move between runs (tens of percent on a shared VM): compare a figure with"
              " the baseline beside it, measured minutes apart in the same process.")
        for note in self._notes():
            print(note)

    def _notes(self):
        pyhanko_ms = self.tsa_http.pct(0.5) / 1e6
        http_ms = self.tsa_ours.pct(0.5) / 1e6
        server_ms = self.tsa_respond.pct(0.5) / 1e6
        yield (f"1. One time stamp: {pyhanko_ms:.2f} ms p50 over HTTP with pyHanko's"
               " HTTPTimeStamper (a new aiohttp session and SSL context per request),"
               f" {http_ms:.2f} ms with the one pades keeps per URL (one SSL context per"
               f" process); of which {server_ms:.2f} ms is the TSA building and signing the"
               " token (TimeStampAuthority.respond). The TSA runs in this process, so its"
               " work takes CPU from the signer, as it would on one host.")
        for r in self.results:
            if r.name not in self.pades_rows:
                continue
            requests, server_ms = self.pades_rows[r.name]
            p50_ms = r.pct(0.5) / 1e6
            tsa_ms = requests * (pyhanko_ms if r.name.startswith("2b") else http_ms)
            slow = [ns for ns in r.latencies if ns > 1e9]
            cpu_ms = self.cpu_ms[r.name]
            yield (f"{r.name.split('.')[0]}. {requests:.2f} TSA requests per signature, about"
                   f" {tsa_ms:.1f} ms of the p50 {p50_ms:.1f} ms ({tsa_ms / p50_ms:.0%}); the"
                   f" TSA's own work {server_ms:.1f} ms per signature. CPU per signature"
                   f" {cpu_ms:.1f} ms, the TSA's included: {1e3 / cpu_ms:.0f} signatures/s per"
                   f" core. Slowest call {max(r.latencies) / 1e6:,.0f} ms; {len(slow)} of"
                   f" {r.ops} calls over 1 s.")
        yield ("2. From a URL, pades keeps one time stamper per TSA URL and measures the"
               " space a signature needs once per (URL, certificate): one TSA request per"
               " signature (pyHanko alone asks twice: a dummy token to size the signature, then"
               " the real one). Row 2b passes pyHanko's own HTTPTimeStamper: one request, but"
               " the signature sized from the dummy each time and a new SSL context per"
               " request.")
        yield ("2. Ours per signature: read and parse the PDF, the appearance (drawn once per"
               " signer or agency and kept; the 'of which' rows are what drawing costs),"
               " write an incremental update, hash the signed byte range (about the whole"
               " 1 MB, b1), one raw signature over the signed attributes (b2/b4/b10), the time"
               " stamp, and the CMS. The seal also checks the leader's signature over the 1 MB"
               " first.")
        by_name = {r.name: r for r in self.results}
        for name, r in self.at_once.items():
            alone = by_name[{"2h": "2a. leader, visible, ECDSA P-256",
                             "2i": "2d. agency seal over the leader's, ECDSA P-256",
                             "2j": "2c. leader, visible, RSA-3072",
                             "2k": "2g. agency seal over the leader's, RSA-2048"}[name[:2]]]
            yield (f"{name[:2]}. {PROCESSES} forked processes signing at once (as {PROCESSES}"
                   f" instances of the signing service would): {r.rate:.1f}/s together,"
                   f" {r.rate / alone.rate:.2f}x row {alone.name[:2]} in one process"
                   f" ({r.rate / PROCESSES:.1f}/s per process); CPU per signature"
                   f" {self.cpu_ms[name]:.1f} ms (both processes and the TSA's thread), against"
                   f" {self.cpu_ms[alone.name]:.1f} ms in one. The TSA answers from this"
                   " process's thread on the same 2 cores; with other work on the machine, the"
                   " second core is only as free as that work leaves it.")
        yield ("3. The manifest is signed as the service does it (cryptography's PKCS7"
               " builder, chain included); the manifest is small, so hashing is negligible"
               " and the baseline is a raw sign of a digest.")
        yield ("4. verify_pdf checks 2 signatures: each hashes its byte range (~1 MB), checks"
               " the signer's and the time stamp's CMS signatures, the chains, the CRLs and"
               " key usage, and pyHanko's own validation on top; the raw baseline is a single"
               " verify. verify_manifest: one CMS signature, its chain and CRL.")

    @staticmethod
    def _name(row):
        _, label, r, _ = row
        return f"  {label} {r.name}" if label else r.name


_FORKED = {}  # what a forked signing process finds: the Bench


def _signing_loop(job):
    """In a forked process: sign (or seal) for the budget; its latencies, seconds and CPU."""
    alg, kind = job
    bench = _FORKED["bench"]
    op = (lambda _: bench.sign_leader(alg)) if kind == "leader" else (lambda _: bench.seal(alg))
    op(None)  # warm up, as every row does
    cpu = time.process_time()
    latencies, seconds = timed_loop(range(N_PADES), op)
    return latencies, seconds, time.process_time() - cpu


def _require_ok(what, report):
    if not report["ok"]:
        failed = [f"{c['signature']}: {c['check']}: {c['detail']}"
                  for c in report["checks"] if not c["ok"]]
        raise RuntimeError(f"{what} is not ok, nothing to time: {failed}")


def _ms(nanoseconds):
    return "-" if nanoseconds is None else f"{nanoseconds / 1e6:.3f}"


def _ratio(ours, base):
    if base is None:
        return ""
    ratio = ours.rate / base.rate
    # two significant digits, never in exponent form
    decimals = max(2, 1 - math.floor(math.log10(ratio))) if ratio > 0 else 2
    return f"{ratio:.{decimals}f}x"


def main():
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        bench = Bench(cleanup)
        print("setting up the PKI, the TSA and the signed PDFs ...", file=sys.stderr, flush=True)
        bench.setup()
        bench.facts()
        for step in (bench.raw, bench.timestamps, bench.pades, bench.manifests,
                     bench.verifications):
            print(f"running {step.__name__} ...", file=sys.stderr, flush=True)
            step()
        bench.report()
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s (TSA server stopped)")


if __name__ == "__main__":
    main()
