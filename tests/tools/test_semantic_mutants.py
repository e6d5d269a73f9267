"""tools/mutants.py's hand-written mutants: each still applies to the code it names (none is stale)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location("mutants_tool", ROOT / "tools" / "mutants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_semantic_mutant_names_one_line_of_code_and_a_known_target():
    tool = load_tool()
    assert tool.SEMANTIC
    for m in tool.SEMANTIC:
        assert m.target in tool.TARGETS
        assert (ROOT / m.path).read_text("utf-8").count(m.before) == 1, m.why
        assert m.after != m.before and m.why


def test_the_gradcheck_verdict_mutants_cover_both_kinds_of_row_and_norms():
    whys = {m.why for m in load_tool().SEMANTIC if m.target == "gradcheck"}
    assert any("finite-difference rows" in w for w in whys) and any("autograd rows" in w for w in whys)
    assert sum("norms instead of elements" in w for w in whys) == 2
