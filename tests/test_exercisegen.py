"""pgcourse.tools.exercisegen: the exercise generator; solution blocks become runnable stubs, nothing else changes."""

import nbformat
import pytest

from pgcourse.tools.exercisegen import STUB, make_exercise, strip_solutions


def test_strip_keeps_signature_and_indentation():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(1)"
    out = strip_solutions(src)
    assert out == f"def f(x):\n    '''doc'''\n    {STUB}\n\nprint(1)"
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["f"](1)


@pytest.mark.parametrize("src, msg", [
    ("### BEGIN SOLUTION\nx = 1", "without a matching"),
    ("x = 1\n### END SOLUTION", "without a '### BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_unbalanced_markers_are_errors(src, msg):
    with pytest.raises(ValueError, match=msg):
        strip_solutions(src, "nb")


def test_solution_only_cells_and_outputs_are_dropped():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"),
                nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.v4.new_output("stream", text="hi")],
                                          execution_count=3),
                nbformat.v4.new_code_cell("# solution-only\nassert x == 1")]
    ex = make_exercise(nb, "01_t.ipynb")
    codes = [c for c in ex.cells if c.cell_type == "code"]
    assert [c.source for c in codes] == ["x = 1"]
    assert codes[0].outputs == [] and codes[0].execution_count is None
    assert "solutions/01_t.ipynb" in ex.cells[0].source
    assert len(nb.cells) == 3  # the solution notebook is not modified
