import subprocess
import sys

import stenoscope


def test_version_and_help(cli):
    result = cli("--version")
    assert result.code == 0
    assert result.out.strip() == f"stenoscope {stenoscope.__version__}"
    result = cli("--help")
    assert result.code == 0
    assert "info" in result.out


def test_console_script_runs_without_torch_import():
    code = "import sys, stenoscope.cli; stenoscope.cli.main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_missing_input_is_one_line_exit_2(cli, tmp_path):
    result = cli("info", tmp_path / "nope.dcm")
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "nope.dcm" in result.err
    assert "Traceback" not in result.err


def test_public_api_names_resolve():
    for name in stenoscope.__all__:
        assert getattr(stenoscope, name) is not None
