"""Static checks that the engine runs on cupy as well as numpy.

1. Every attribute used on `xp` (or on an `array_module(...)` result) exists in cupy: checked
   against cupy itself when it imports, else against CUPY_NAMES, names cupy is known to provide.
2. numpy (`np.`) is used only where the data are host-side by design: constructors that create
   parameters, the initialisers, Dropout's host-side mask and state-dict loading. An `np.` call
   in a forward or backward pass would run on the host (or fail) under cupy.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import numpy as np
import pytest

import cnnviz
import cnnviz.core

CORE = Path(cnnviz.core.__file__).resolve().parent
PACKAGE = Path(cnnviz.__file__).resolve().parent
CORE_FILES = sorted(CORE.rglob("*.py"))

# Names cupy provides (cupy 13 API reference), used when cupy cannot be imported. Keep it to
# names you have checked in cupy's docs: anything else used on xp must fail the test.
CUPY_NAMES = {
    "abs", "absolute", "add", "all", "allclose", "any", "arange", "argmax", "argmin",
    "array", "asarray", "ascontiguousarray", "bool_", "broadcast_to", "clip", "concatenate",
    "copy", "cos", "dot", "einsum", "empty", "empty_like", "equal", "exp", "expand_dims",
    "eye", "float16", "float32", "float64", "full", "full_like", "greater", "int8", "int16",
    "int32", "int64", "isfinite", "isnan", "lib", "lib.stride_tricks",
    "lib.stride_tricks.as_strided", "linspace", "log", "log1p", "logical_and", "logical_not",
    "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "ndarray", "negative",
    "ones", "ones_like", "pad", "prod", "random", "reshape", "sign", "sin", "sqrt", "square",
    "stack", "subtract", "sum", "tanh", "tensordot", "transpose", "uint8", "where", "zeros",
    "zeros_like",
}

# (file relative to cnnviz/core, enclosing function) -> numpy attributes allowed there.
ALLOWED_NP = {
    ("init.py", "he_normal"): {"sqrt", "float32"},
    ("init.py", "initial_weights"): {"float32"},
    ("init.py", "glorot_uniform"): {"sqrt", "float32"},
    ("layers/conv.py", "Conv2D.__init__"): {"random.default_rng", "zeros", "zeros_like",
                                            "float32"},
    ("layers/dense.py", "Dense.__init__"): {"random.default_rng", "zeros", "zeros_like",
                                            "float32"},
    ("layers/norm.py", "_BatchNorm.__init__"): {"ones", "zeros", "zeros_like", "float32"},
    ("layers/dropout.py", "Dropout.__init__"): {"random.default_rng"},
    # the mask is drawn on the host from a seeded numpy Generator, then moved with xp.asarray
    ("layers/dropout.py", "Dropout.forward"): {"float32"},
    ("model.py", "build_model"): {"random.default_rng"},
    ("model.py", "Sequential.load_state_dict"): {"asarray"},
    ("optim.py", "Optimizer.load_state_dict"): {"asarray"},
}


def _chain(node):
    """Attribute chain -> (root, [attr, ...]); root is a name or "array_module()"."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    attrs.reverse()
    if isinstance(node, ast.Name):
        return node.id, attrs
    if isinstance(node, ast.Call) and _is_array_module_call(node):
        return "array_module()", attrs
    return None, attrs


def _is_array_module_call(node):
    f = node.func
    return (isinstance(f, ast.Name) and f.id in ("array_module", "get_array_module")) or (
        isinstance(f, ast.Attribute) and f.attr in ("array_module", "get_array_module"))


class Scanner(ast.NodeVisitor):
    """Collects xp uses, numpy uses (with their enclosing function) and numpy imports."""

    def __init__(self, rel):
        self.rel = rel
        self.scope = []
        self.xp_names = {"xp"}
        self.np_names = set()
        self.xp_uses = []  # (rel, qualname, "a.b.c", lineno)
        self.np_uses = []
        self.problems = []  # (rel, lineno, message)

    # ---- set-up passes
    def scan(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "numpy" or a.name.startswith("numpy."):
                        self.np_names.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numpy":
                self.problems.append((self.rel, node.lineno, "`from numpy import` hides np uses"))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                    node.value, ast.Call) and _is_array_module_call(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                self.xp_names.update(t.id for t in targets if isinstance(t, ast.Name))
        self.visit(tree)
        return self

    # ---- scopes (annotations are type hints, not array code: skipped)
    def _visit_function(self, node):
        self.scope.append(node.name)
        for d in node.decorator_list:
            self.visit(d)
        args = node.args
        for default in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def visit_ClassDef(self, node):
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_AnnAssign(self, node):
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    @property
    def qualname(self):
        return ".".join(self.scope) or "<module>"

    # ---- uses
    def visit_Attribute(self, node):
        root, attrs = _chain(node)
        names = ([root] if root else []) + attrs
        where = (self.rel, self.qualname, node.lineno)
        if root in self.np_names:
            self.np_uses.append((where[0], where[1], ".".join(attrs), where[2]))
            return
        if root in self.xp_names or root == "array_module()" or "xp" in attrs[:-1]:
            last_xp = max((i for i, n in enumerate(names) if n in self.xp_names
                           or n == "array_module()"), default=None)
            suffix = names[last_xp + 1:] if last_xp is not None else []
            self.xp_uses.append((where[0], where[1], ".".join(suffix), where[2]))
            if root == "array_module()":
                inner = node
                while isinstance(inner, ast.Attribute):
                    inner = inner.value
                self.generic_visit(inner)
            return
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id in ("getattr", "hasattr") and node.args:
            first = node.args[0]
            if (isinstance(first, ast.Name) and first.id in self.xp_names | self.np_names) or (
                    isinstance(first, ast.Call) and _is_array_module_call(first)):
                self.problems.append((self.rel, node.lineno,
                                      f"{f.id}() on an array module cannot be checked"))
        self.generic_visit(node)

    def visit_Name(self, node):
        # a bare `cupy` name in core would bypass backend.py
        if node.id == "cupy":
            self.problems.append((self.rel, node.lineno, "cupy used outside backend.py"))


def scan_source(source, rel):
    return Scanner(rel).scan(ast.parse(source))


@functools.lru_cache(maxsize=1)
def scan_core():
    xp_uses, np_uses, problems = [], [], []
    for path in CORE_FILES:
        s = scan_source(path.read_text(encoding="utf-8"), path.relative_to(CORE).as_posix())
        xp_uses += s.xp_uses
        np_uses += s.np_uses
        problems += s.problems
    return xp_uses, np_uses, problems


def _cupy():
    try:
        return importlib.import_module("cupy")
    except Exception:  # not installed, or no CUDA libraries: fall back to the list
        return None


def _has(module, dotted):
    obj = module
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def missing_in_cupy(uses, cupy=None):
    """The xp uses that cupy (or, without cupy, CUPY_NAMES) does not provide."""
    if cupy is not None:
        return [u for u in uses if not u[2] or not _has(cupy, u[2])]
    return [u for u in uses if u[2] not in CUPY_NAMES]


def disallowed_np(uses):
    return [u for u in uses if u[2] not in ALLOWED_NP.get((u[0], u[1]), set())]


# ---------------------------------------------------------------- the engine


def test_scanner_sees_the_engine():
    xp_uses, np_uses, _ = scan_core()
    assert len(CORE_FILES) >= 10
    names = {u[2] for u in xp_uses}
    # spot checks that the scanner follows each way the engine reaches xp
    assert "lib.stride_tricks.as_strided" in names  # xp = array_module(x); xp.lib...
    assert "einsum" in names and "ascontiguousarray" in names
    assert any(u[2] == "tanh" and u[0] == "layers/activation.py" for u in xp_uses)  # direct
    assert any(u[2] == "zeros_like" and u[0] == "optim.py" for u in xp_uses)
    stale = set(ALLOWED_NP) - {(u[0], u[1]) for u in np_uses}
    assert not stale, f"ALLOWED_NP entries no longer used (remove them): {sorted(stale)}"


def test_every_xp_attribute_exists_in_cupy():
    xp_uses, _, problems = scan_core()
    assert not problems, problems
    missing = missing_in_cupy(xp_uses, _cupy())
    assert not missing, "not in cupy: " + ", ".join(f"{f}:{line} xp.{n}" for f, _, n, line in
                                                     missing)


def test_cupy_names_list_is_sane():
    """Every name kept in CUPY_NAMES is a real numpy name too (no typos in the list)."""
    assert not [n for n in CUPY_NAMES if not _has(np, n)]
    cupy = _cupy()
    if cupy is not None:
        assert not [n for n in CUPY_NAMES if not _has(cupy, n)]


def test_numpy_only_where_allowed():
    _, np_uses, problems = scan_core()
    assert not problems, problems
    bad = disallowed_np(np_uses)
    assert not bad, "numpy used on the array path: " + ", ".join(
        f"{f}:{line} in {q}: np.{n}" for f, q, n, line in bad)


def test_no_numpy_in_layer_forward_or_backward():
    """Stricter: only Dropout.forward (host mask dtype) touches numpy in a forward/backward."""
    _, np_uses, _ = scan_core()
    hot = [u for u in np_uses if u[0].startswith("layers/")
           and u[1].split(".")[-1] in ("forward", "backward")]
    assert [(f, q, n) for f, q, n, _ in hot] == [("layers/dropout.py", "Dropout.forward",
                                                  "float32")] * len(hot)


def test_only_backend_imports_cupy():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "backend.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            if any(m.split(".")[0] in ("cupy", "cupyx") for m in mods):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders


# ---------------------------------------------------------------- the checker can fail


BAD_LAYER = '''
import numpy as np
from cnnviz.backend import array_module

class Conv2D:
    def __init__(self):
        self.W = np.zeros(3, np.float32)

    def forward(self, x, training=False):
        xp = array_module(x)
        y = xp.einsum("ij->i", x) + xp.some_numpy_only_name(x)
        z = array_module(x).ndenumerate(x)
        w = xp.lib.stride_tricks.sliding_window_fake(x, 3)
        return np.dot(y, self.W) + z + w

    def backward(self, dy: np.ndarray) -> np.ndarray:
        xp = array_module(dy)
        return getattr(xp, "frombuffer")(dy)
'''


def test_checker_flags_numpy_only_names_and_np_on_arrays():
    s = scan_source(BAD_LAYER, "layers/conv.py")
    missing = {u[2] for u in missing_in_cupy(s.xp_uses)}
    assert missing == {"some_numpy_only_name", "ndenumerate",
                       "lib.stride_tricks.sliding_window_fake"}
    assert {u[2] for u in s.xp_uses} >= {"einsum"} and "einsum" not in missing
    bad = disallowed_np(s.np_uses)
    assert [(u[1], u[2]) for u in bad] == [("Conv2D.forward", "dot")]  # annotations skipped
    assert len(s.problems) == 1 and "getattr" in s.problems[0][2]
    cupy = _cupy()
    if cupy is not None:
        assert {u[2] for u in missing_in_cupy(s.xp_uses, cupy)} == missing


def test_checker_flags_from_numpy_imports():
    s = scan_source("from numpy import dot\n", "losses.py")
    assert s.problems and "from numpy" in s.problems[0][2]


@pytest.mark.parametrize("source", [
    "import numpy\ndef forward(x):\n    return numpy.dot(x, x)\n",
    "import numpy as onp\ndef backward(x):\n    return onp.exp(x)\n",
])
def test_checker_follows_numpy_aliases(source):
    s = scan_source(source, "losses.py")
    assert len(disallowed_np(s.np_uses)) == 1
