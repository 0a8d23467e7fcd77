"""The command line's own parts: tables, arguments, the token file, errors."""

import os
import stat

import pytest

from infra import cli
from infra.api import ApiError

DOC_ID = "6f1c2a9e-7b7e-4c59-9a8e-2b1f0c3d4e5f"


# -- tables --------------------------------------------------------------------------------


def test_a_table_aligns_its_columns_and_keeps_vietnamese_text():
    rows = [{"user_id": "van.thu", "full_name": "Trần Thị Bình", "role": "clerk"},
            {"user_id": "chu.tich.tinh", "full_name": "Nguyễn Văn An", "role": "leader"}]
    lines = cli.format_table(rows, ["user_id", "full_name", "role"]).splitlines()
    assert lines == [
        "USER_ID        FULL_NAME      ROLE",
        "van.thu        Trần Thị Bình  clerk",
        "chu.tich.tinh  Nguyễn Văn An  leader",
    ]
    # Every column starts at the same offset on every line.
    starts = {line.index(cell) for line, cell in zip(lines, ["FULL_NAME", "Trần", "Nguyễn"])}
    assert len(starts) == 1


def test_a_table_leaves_out_absent_columns_and_renders_odd_values():
    rows = [{"a": None, "b": True, "c": {"x": "ý"}, "d": "x" * 80}]
    table = cli.format_table(rows, ["a", "missing", "b", "c", "d"])
    header, line = table.splitlines()
    assert header.split() == ["A", "B", "C", "D"]
    assert 'yes  {"x":"ý"}' in line and line.endswith("x" * 59 + "…")
    assert cli.format_table([], ["a"]) == "(none)"
    assert cli.format_table([{"k": 1, "v": "một"}]).splitlines() == ["K  V", "1  một"]


def test_fields_print_as_aligned_key_values():
    text = cli.format_fields({"ok": True, "entries": 12, "nested": {"no": 1}})
    assert text.splitlines() == ["ok       yes", "entries  12"]


def test_verify_lines_mark_each_check():
    verdict = {"ok": False, "pdf": {"ok": True, "checks": [
        {"check": "integrity", "ok": True, "detail": "chữ ký hợp lệ", "signature": "Sig1"}]},
        "manifest": {"ok": False, "checks": [{"check": "chain", "ok": False, "detail": "x",
                                              "signature": None}]}}
    lines = cli.verify_lines(verdict).splitlines()
    assert "  ✓ integrity [Sig1]: chữ ký hợp lệ" in lines
    assert "  ✗ chain: x" in lines and lines[-1] == "NOT OK"


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv, handler, expected", [
    (["login", "van.thu", "--password-stdin"], cli.cmd_login,
     {"user": "van.thu", "password_stdin": True, "print_token": False}),
    (["logout"], cli.cmd_logout, {}),
    (["password", "--password-stdin"], cli.cmd_password, {"password_stdin": True}),
    (["admin", "disable-user", "van.thu"], cli.cmd_admin_disable_user, {"user": "van.thu"}),
    (["send", "a.pdf", "--metadata", "m.json", "--attach", "x.docx", "--attach", "y.xlsx"],
     cli.cmd_send, {"file": "a.pdf", "metadata": "m.json", "attach": ["x.docx", "y.xlsx"]}),
    (["submit", DOC_ID, "--signer", "chu.tich"], cli.cmd_submit,
     {"id": DOC_ID, "signer": "chu.tich"}),
    (["approve", DOC_ID], cli.cmd_approve, {"id": DOC_ID}),
    (["return", DOC_ID, "--comment", "Sửa lại"], cli.cmd_return, {"comment": "Sửa lại"}),
    (["seal", DOC_ID], cli.cmd_seal, {"id": DOC_ID}),
    (["issue", DOC_ID], cli.cmd_issue, {"id": DOC_ID}),
    (["dispatch", DOC_ID, "--to", "000.00.00.H41", "--level", "commune"], cli.cmd_dispatch,
     {"to": ["000.00.00.H41"], "level": "commune", "consignment": None}),
    (["recall", DOC_ID, "--reason", "Gửi nhầm"], cli.cmd_recall,
     {"reason": "Gửi nhầm", "type": "revoke"}),
    (["answer-recall", DOC_ID, "--refuse", "--reason", "Đã xử lý"], cli.cmd_answer_recall,
     {"agree": False, "refuse": True, "reason": "Đã xử lý"}),
    (["show", DOC_ID], cli.cmd_show, {"id": DOC_ID}),
    (["inbox"], cli.cmd_inbox, {}),
    (["incoming", "--year", "2026"], cli.cmd_incoming, {"year": 2026}),
    (["accept", DOC_ID], cli.cmd_accept, {"id": DOC_ID}),
    (["reject", DOC_ID, "--reason", "Sai địa chỉ"], cli.cmd_reject, {"reason": "Sai địa chỉ"}),
    (["status", DOC_ID, "04", "--reason", "Giao xử lý"], cli.cmd_status,
     {"code": "04", "reason": "Giao xử lý"}),
    (["statuses", DOC_ID], cli.cmd_statuses, {"id": DOC_ID}),
    (["download", DOC_ID, "-o", "out.pdf"], cli.cmd_download, {"output": "out.pdf"}),
    (["verify", DOC_ID], cli.cmd_verify, {"id": DOC_ID}),
    (["audit", "verify"], cli.cmd_audit_verify, {}),
    (["audit", "status"], cli.cmd_audit_status, {}),
    (["audit", "history", DOC_ID], cli.cmd_audit_history, {"id": DOC_ID}),
    (["audit", "evidence", DOC_ID, "-o", "b.json"], cli.cmd_audit_evidence,
     {"output": "b.json"}),
    (["admin", "users"], cli.cmd_admin_users, {}),
    (["admin", "add-user", "u2", "--agency", "000.01.00.H41", "--role", "clerk", "--name",
      "Đỗ Văn Hùng"], cli.cmd_admin_add_user,
     {"user": "u2", "agency": "000.01.00.H41", "role": "clerk", "name": "Đỗ Văn Hùng"}),
    (["admin", "agencies"], cli.cmd_admin_agencies, {}),
    (["edxml", DOC_ID, "-o", "d.xml", "--inline"], cli.cmd_edxml_export,
     {"output": "d.xml", "inline": True, "status": False, "recipient": None}),
    (["edxml", DOC_ID, "-o", "s.xml", "--status", "--recipient", "000.01.00.H41"],
     cli.cmd_edxml_export, {"status": True, "recipient": "000.01.00.H41"}),
    (["admin", "dead-letters", "docs"], cli.cmd_admin_dead_letters, {"service": "docs"}),
    (["admin", "quarantine", "audit"], cli.cmd_admin_quarantine, {"service": "audit"}),
    (["admin", "replay", "routing", "7"], cli.cmd_admin_replay,
     {"service": "routing", "id": 7}),
    (["admin", "import-edxml", "p.xml"], cli.cmd_admin_import_edxml,
     {"file": "p.xml", "status": False}),
    (["admin", "certificates", "--agency", "000.01.00.H41"], cli.cmd_admin_certificates,
     {"agency": "000.01.00.H41"}),
])
def test_every_command_parses(argv, handler, expected):
    args = cli.build_parser().parse_args(argv)
    assert args.handler is handler
    assert args.needs_token is (argv[0] not in ("login", "logout"))
    for key, value in expected.items():
        assert getattr(args, key) == value, key


def test_global_flags_go_before_or_after_the_command():
    parser = cli.build_parser()
    before = parser.parse_args(["--json", "--api", "http://gw:1", "inbox"])
    after = parser.parse_args(["audit", "status", "--api", "http://gw:1", "--json"])
    plain = parser.parse_args(["inbox"])
    assert (before.json, before.api) == (True, "http://gw:1")
    assert (after.json, after.api) == (True, "http://gw:1")
    assert not hasattr(plain, "json") and not hasattr(plain, "api")


@pytest.mark.parametrize("argv", [
    ["submit", DOC_ID],                                    # --signer is required
    ["answer-recall", DOC_ID],                             # --agree or --refuse
    ["answer-recall", DOC_ID, "--agree", "--refuse"],
    ["status", DOC_ID, "07"],
    ["dispatch", DOC_ID, "--to", "X", "--level", "province"],
    ["admin", "add-user", "u", "--agency", "A", "--role", "king", "--name", "N"],
    ["audit"],
    [],
])
def test_bad_arguments_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(argv)
    assert exit_.value.code == 2


def test_dispatch_bodies():
    by_level = cli.dispatch_body(DOC_ID, ["000.00.00.H41"], "district")
    assert by_level == {"addressing": {"subtree": "000.00.00.H41", "level": "district"},
                        "consignment_id": f"{DOC_ID}:district:000.00.00.H41"}
    named = cli.dispatch_body(DOC_ID, ["B", "A"], consignment="c-1")
    assert named == {"addressing": {"agencies": ["B", "A"]}, "consignment_id": "c-1"}
    # The same target gives the same consignment id, whatever the order.
    assert (cli.dispatch_body(DOC_ID, ["A", "B"])["consignment_id"]
            == cli.dispatch_body(DOC_ID, ["B", "A"])["consignment_id"])
    with pytest.raises(cli.CliError):
        cli.dispatch_body(DOC_ID, ["A", "B"], "commune")


# -- the token -----------------------------------------------------------------------------


def test_the_token_file_is_private_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LIENTHONG_TOKEN", raising=False)
    assert cli.load_token() is None
    path = cli.save_token("header.payload.signature")
    assert path == str(tmp_path / "lienthong" / "token")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cli.load_token() == "header.payload.signature"

    # An old file readable by others is made private again when overwritten.
    os.chmod(path, 0o644)
    cli.save_token("second")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cli.load_token() == "second"

    monkeypatch.setenv("LIENTHONG_TOKEN", "from-env")
    assert cli.load_token() == "from-env"


def test_the_token_goes_under_home_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.token_path() == str(tmp_path / ".config" / "lienthong" / "token")


def test_login_saves_the_token_without_printing_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    calls = []

    def post(self, path, body=None):
        calls.append((path, body))
        return {"token": "secret-token", "expires_at": "2026-01-01T08:00:00Z"}
    monkeypatch.setattr(cli.Api, "post", post)
    monkeypatch.setattr("sys.stdin", _Stdin("mật khẩu\n"))

    assert cli.main(["login", "van.thu", "--password-stdin"]) == 0
    assert calls == [("/v1/auth/login", {"user_id": "van.thu", "password": "mật khẩu"})]
    assert "secret-token" not in capsys.readouterr().out
    assert cli.load_token() == "secret-token"

    monkeypatch.setattr("sys.stdin", _Stdin("mật khẩu\n"))
    assert cli.main(["login", "van.thu", "--password-stdin", "--print-token"]) == 0
    assert "secret-token" in capsys.readouterr().out

    assert cli.main(["logout"]) == 0
    assert cli.load_token() is None


class _Stdin:
    def __init__(self, text):
        self.lines = iter(text.splitlines(keepends=True))

    def readline(self):
        return next(self.lines, "")

    def isatty(self):
        return False


# -- errors --------------------------------------------------------------------------------


def test_error_format():
    assert cli.format_error("forbidden", "role leader may not seal", "chu.tich") == (
        "error: forbidden: role leader may not seal (field: chu.tich)")
    assert cli.format_error("not_found", "no such document") == (
        "error: not_found: no such document")


def test_api_errors_exit_2_with_the_format(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIENTHONG_TOKEN", "t")

    def post(self, path, body=None):
        raise ApiError(409, "conflict", "document is not submitted", "state")
    monkeypatch.setattr(cli.Api, "post", post)
    assert cli.main(["seal", DOC_ID]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: conflict: document is not submitted (field: state)")


def test_without_a_token_commands_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("LIENTHONG_TOKEN", raising=False)
    assert cli.main(["inbox"]) == 2
    assert capsys.readouterr().err.startswith("error: unauthenticated: not logged in")


def test_a_refused_connection_names_the_api(monkeypatch, capsys):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LIENTHONG_TOKEN", "t")
    monkeypatch.setenv("LIENTHONG_API", f"http://127.0.0.1:{port}")
    assert cli.main(["inbox"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unavailable: cannot reach the API at"
                          f" http://127.0.0.1:{port}")


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIENTHONG_TOKEN", "t")
    meta = tmp_path / "m.json"
    meta.write_text("{}")
    assert cli.main(["send", str(tmp_path / "absent.pdf"), "--metadata", str(meta)]) == 2
    assert capsys.readouterr().err.startswith("error: io_error: No such file")


def test_the_progress_bar_draws_on_its_stream():
    import io
    stream = io.StringIO()
    bar = cli.Progress("uploading", stream)
    for done in (0, 512, 512, 1024):
        bar(done, 1024)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and "100%" in text and text.endswith("\n")
