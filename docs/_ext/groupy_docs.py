"""Local Sphinx extension of the groupy documentation.

* Generates the API reference pages from ``docs/api_modules.txt`` (the one list of documented
  modules) into ``docs/api/_generated/`` before the sources are read.
* Resolves references to names a package re-exports (``:class:`P4ConvZ2``` in the docstring of
  ``groupy.gconv.chainer_gconv``) to where they are documented; references to other libraries
  (chainer, numpy, ...) and to private names stay plain text. Any other unresolved reference
  into groupy or gconv_experiments is a warning (and fails the build).
* Markup warnings of the packages' docstrings (docutils complaining about a docstring written
  as plain text) do not fail the build: they are listed in ``_build/docstring-warnings.txt``.
* ``command-help`` directive: the ``--help`` text of a command-line module, produced at build
  time by running ``python -m MODULE --help`` in this process, so that the documented options
  are always those of the code.
"""
import contextlib
import importlib
import io
import logging
import os
import re
import runpy
import sys
import warnings

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging as sphinx_logging
from sphinx.util.docutils import SphinxDirective

HELP_COLUMNS = "88"


def read_module_list(path):
    """Sections of the API reference: [(title, [module, ...]), ...] from api_modules.txt."""
    sections = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("=="):
                sections.append((line.strip("= ").strip(), []))
            elif not sections:
                raise ValueError(f"{path}:{number}: a module before the first '== title' line")
            elif not re.fullmatch(r"[A-Za-z_][\w.]*", line):
                raise ValueError(f"{path}:{number}: not a module name: {line!r}")
            else:
                sections[-1][1].append(line)
    return sections


def api_pages(sections):
    """{file name: MyST text} of the generated API pages, one per section."""
    pages = {}
    for index, (title, modules) in enumerate(sections, 1):
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        lines = [f"# {title}", ""]
        for module in modules:
            lines += [f"## `{module}`", "", "```{eval-rst}", f".. automodule:: {module}", "```", ""]
        pages[f"{index:02d}-{slug}.md"] = "\n".join(lines)
    return pages


def write_api_pages(app):
    srcdir = str(app.srcdir)
    out = os.path.join(srcdir, "api", "_generated")
    os.makedirs(out, exist_ok=True)
    pages = api_pages(read_module_list(os.path.join(srcdir, "api_modules.txt")))
    for name in os.listdir(out):
        if name.endswith(".md") and name not in pages:
            os.remove(os.path.join(out, name))
    for name, text in pages.items():
        path = os.path.join(out, name)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:  # unchanged pages keep their time stamp: no needless rebuild
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)


def command_help(module):
    """What ``python -m module --help`` prints (argparse's help, COLUMNS fixed)."""
    buffer = io.StringIO()
    saved_argv, saved_columns = sys.argv, os.environ.get("COLUMNS")
    sys.argv = ["python -m " + module, "--help"]
    os.environ["COLUMNS"] = HELP_COLUMNS
    code = None
    try:
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            # runpy's note that the module was imported before (by autodoc or another page)
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            except SystemExit as e:
                code = e.code
    finally:
        sys.argv = saved_argv
        if saved_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved_columns
    text = buffer.getvalue()
    if code not in (0, None) or "usage:" not in text:
        raise RuntimeError(f"python -m {module} --help exited with {code!r} and printed {text[:200]!r}")
    return text.rstrip() + "\n"


class CommandHelp(SphinxDirective):
    """``{command-help} MODULE``: the module's --help, as a console block."""

    required_arguments = 1
    option_spec = {"caption": directives.unchanged}

    def run(self):
        module = self.arguments[0]
        try:
            text = command_help(module)
        except Exception as e:  # a broken command line fails the build
            raise self.error(f"command-help {module}: {e}")
        block = nodes.literal_block(text, text, language="text")
        block["classes"].append("command-help")
        return [block]


OUR_PACKAGES = ("groupy", "gconv_experiments")


def _lookup(path):
    """The object a dotted path names, importing the longest importable module prefix."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _real_name(obj):
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if getattr(obj, "__spec__", None) is not None and hasattr(obj, "__name__"):
        return obj.__name__  # a module
    if module and qualname:
        return f"{module}.{qualname}"
    return None


def resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    # a role broken over two docstring lines leaves a space in its target: join it again
    target = re.sub(r"\s+", "", node.get("reftarget", ""))
    context = node.get("py:module")
    candidates = [target] + ([f"{context}.{target}"] if context else [])
    domain = env.get_domain("py")
    for candidate in candidates:
        obj = _lookup(candidate) if re.fullmatch(r"[A-Za-z_][\w.]*", candidate) else None
        real = _real_name(obj) if obj is not None else None
        if real is None:
            continue
        if real.split(".")[0] not in OUR_PACKAGES:
            return contnode  # another library's object: plain text
        if real != node.get("reftarget"):
            retry = node.deepcopy()
            retry["reftarget"] = real
            found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], real,
                                        retry, contnode)
            if found is not None:
                return found
    last = target.split(".")[-1]
    if last.startswith("_"):
        return contnode  # a private name (e.g. a base class): plain text
    if target.split(".")[0] not in OUR_PACKAGES and "." not in target:
        return contnode  # a word of a docstring's type field ("k", "pair", "callable")
    if target.split(".")[0] not in OUR_PACKAGES + ("",) and _lookup(target.split(".")[0]) is not None:
        return contnode  # another library (chainer.Variable, numpy.ndarray, collections...)
    return None


class DocstringMarkupFilter(logging.Filter):
    """Keeps docutils' markup warnings about the packages' docstrings out of the warning count."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def filter(self, record):
        location = str(getattr(record, "location", "") or "")
        if getattr(record, "type", "") == "docutils" and ":docstring of " in location:
            self.messages.append(f"{location}: {record.getMessage()}")
            return False
        return True


def install_docstring_filter(app):
    app._docstring_filter = DocstringMarkupFilter()
    for handler in logging.getLogger("sphinx").handlers:
        if handler.level == logging.WARNING:
            handler.filters.insert(0, app._docstring_filter)


def report_docstring_markup(app, exception):
    messages = getattr(app, "_docstring_filter", None)
    if messages is None or not messages.messages:
        return  # nothing read (a second builder on the same environment keeps the list)
    path = os.path.join(str(app.outdir), "..", "docstring-warnings.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(m + "\n" for m in sorted(set(messages.messages))))
    if messages.messages:
        sphinx_logging.getLogger(__name__).info(
            "%d docstring markup warnings (not fatal) listed in %s", len(set(messages.messages)),
            os.path.normpath(path))


def setup(app):
    install_docstring_filter(app)
    app.connect("builder-inited", write_api_pages)
    app.connect("missing-reference", resolve_reexport)
    app.connect("build-finished", report_docstring_markup)
    app.add_directive("command-help", CommandHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
