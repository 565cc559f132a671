"""`python -m experiments.code_metrics` on a hand-made source tree."""
from __future__ import annotations

from pathlib import Path

from experiments.code_metrics import main, measure


def test_counts_lines_config_fields_and_quoted_numbers(tmp_path: Path, capsys) -> None:
    (tmp_path / "models" / "mlp").mkdir(parents=True)
    (tmp_path / "models" / "mlp" / "config.py").write_text(
        '"""The config."""\n\n\nclass MLPConfig:\n    a: int = 1  # took 12 s here\n    b: float = 0.5\n\n'
        '    def f(self) -> int:\n        """Scored 0.1039 on the windows."""\n        return 2\n')
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "x.py").write_text("# no number here\nx = 0.1234  # a value, not a comment number\n")
    m = measure(tmp_path)
    assert m.product_lines == 7 + 2 and m.mlp_config_fields == 2
    assert [line.split(":")[1] for line in m.number_lines] == ["5", "9"]
    assert main(["--root", str(tmp_path), "--list"]) == 0
    out = capsys.readouterr().out
    assert "MLPConfig fields: 2" in out and "quoting a number: 2" in out and "took 12 s here" in out
