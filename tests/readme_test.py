"""The README's Python snippets run as written, in order."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_snippets_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README snippet {i + 1}", "exec"), namespace)
    assert (tmp_path / "eenn.keras").exists()
    assert (tmp_path / "report.png").exists()
    assert len(namespace["result"].predictions) == 256
    assert namespace["report"].accuracy == namespace["summary"]["accuracy"]
