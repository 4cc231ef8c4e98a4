"""The root command: its lazy command table, one-line errors, and a help that does not import the stages."""
from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from monoscope.cli import COMMANDS, app, load_commands


def test_command_table_matches_what_the_stage_modules_define():
    """Catches a command added to a stage module but not to COMMANDS (it would be unreachable), one listed
    under the wrong module, or a help line that drifted from the command's own docstring."""
    by_module: dict[str, dict] = {}
    for name, (module, short) in COMMANDS.items():
        by_module.setdefault(module, load_commands(module))
    defined = {n for cmds in by_module.values() for n in cmds}
    assert defined == set(COMMANDS)
    for name, (module, short) in COMMANDS.items():
        cmd = by_module[module][name]
        first_paragraph = " ".join((cmd.help or "").strip().split("\n\n")[0].split())
        assert first_paragraph == short, name


def test_root_help_lists_every_command_without_importing_torch():
    """Catches an eager import of a stage module (torch, transformers) on `monoscope --help`."""
    code = ("import sys; from monoscope.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")
    for name in COMMANDS:
        assert name in out


def test_every_subcommand_help_works_without_importing_torch_or_transformers():
    """Catches a stage package whose `__init__` (imported with its `cli` module) eagerly pulls in the model
    stack, and help text that Rich cannot render: each `monoscope X --help` must exit 0 and leave torch and
    transformers unimported (names the first command that imports them)."""
    code = ("import sys, io, contextlib\nfrom monoscope.cli import main, COMMANDS\n"
            "for name in COMMANDS:\n"
            "    buf = io.StringIO()\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(buf):\n"
            "            main([name, '--help'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code in (0, None), (name, e.code)\n"
            "    assert 'Usage' in buf.getvalue(), name\n"
            "    heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
            "    assert not heavy, (name, heavy)\n"
            "print('ALL-LIGHT')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("ALL-LIGHT"), r.stderr[-2000:]


def test_user_error_is_one_line_with_exit_code_2_and_debug_shows_the_traceback(tmp_path):
    """Catches a UserError escaping as a traceback (or with exit code 1)."""
    args = ["store-info", str(tmp_path / "no-such-store")]
    r = subprocess.run([sys.executable, "-m", "monoscope", *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    r = subprocess.run([sys.executable, "-m", "monoscope", *args, "--debug"], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_unknown_command_is_a_usage_error():
    r = CliRunner().invoke(app, ["no-such-command"])
    assert r.exit_code == 2


def test_unknown_model_fails_fast_in_at_most_three_lines(tmp_path):
    """Catches the hub client's retries and tracebacks leaking out (234 lines and 34 s before), and a store
    directory left behind by a run that failed before writing anything."""
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "store"
    r = subprocess.run([sys.executable, "-m", "monoscope", "harvest", "--model", "nosuchmodel", "--hooks",
                        "resid_post.1", "--out", str(out), "--tokens", "10"], capture_output=True, text=True, env=env)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode == 2 and 1 <= len(lines) <= 3, r.stdout + r.stderr
    assert "nosuchmodel" in lines[-1] and "embedded" in lines[-1]
    assert not out.exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_llm_prints_its_address_only_once_it_answers_and_a_taken_port_is_one_error_line():
    """Catches the address printed before the bind (it used to be printed, then the bind failed), and a taken
    port surfacing as a traceback after the model has loaded."""
    import urllib.request

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monoscope", "serve-llm", "--model", "glassllm", "--port",
                             str(port), "--log-level", "warning"], stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("serving"):
                break
        assert f"127.0.0.1:{port}/v1" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            assert r.status == 200 and b"glassllm" in r.read()
        taken = subprocess.run([sys.executable, "-m", "monoscope", "serve-llm", "--model", "glassllm", "--port",
                                str(port)], capture_output=True, text=True, timeout=60)
        lines = [ln for ln in taken.stderr.splitlines() if ln.strip()]
        assert taken.returncode == 2 and len(lines) == 1 and "cannot listen" in lines[0], taken.stderr
        assert "loading" not in taken.stderr   # it failed before spending time on the model
    finally:
        proc.terminate()
        proc.wait(20)
