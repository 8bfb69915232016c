"""A built-in English corpus: the docstrings of the Python standard library.

:func:`default_corpus` gathers prose at run time from the documentation
strings of standard-library modules that ship with every CPython, so a
language model can be trained without downloading anything and without data
files in the package.  The text is deterministic for a given Python version
(docstrings change a little between versions).

Examples
--------
>>> from fastrnn.corpus import default_corpus
>>> text = default_corpus(max_chars=2000)
>>> 1000 < len(text) <= 2000
True
>>> text == default_corpus(max_chars=2000)
True
"""
from __future__ import annotations

import functools
import importlib
import inspect
import operator
import re
import warnings

__all__ = ["default_corpus", "CORPUS_MODULES"]

#: Standard-library modules whose docstrings make up the corpus, in order.
#: Pure-Python modules with long, prose-like documentation; no module with
#: side effects on import (``this``, ``antigravity``), no GUI toolkit, nothing
#: that a minimal interpreter build is likely to lack (a missing module is
#: skipped).
CORPUS_MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs",
    "collections", "concurrent.futures", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "datetime", "decimal", "difflib", "email.message",
    "email.utils", "enum", "fileinput", "fnmatch", "fractions", "ftplib",
    "functools", "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "hmac",
    "html.parser", "http.client", "http.cookiejar", "http.server", "imaplib",
    "inspect", "io", "ipaddress", "itertools", "json", "logging",
    "logging.handlers", "mailbox", "mimetypes", "numbers", "operator",
    "optparse", "os", "pathlib", "pickle", "pkgutil", "platform", "plistlib",
    "poplib", "pprint", "queue", "random", "re", "sched", "secrets",
    "selectors", "shlex", "shutil", "smtplib", "socket", "socketserver",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "trace", "traceback", "types", "typing",
    "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid",
    "warnings", "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "zipfile",
)

# a paragraph is kept if at least this share of its characters are letters or spaces
_MIN_PROSE_SHARE = 0.85
# and if it has at least this many words
_MIN_WORDS = 4
_WS = re.compile(r"\s+")
_CODE_HINTS = (">>>", "...:", "::", "{", "}", "==", "->", "$ ", "#!", "\\")


def _members(module) -> list:
    """The module, then its public classes (with their methods) and functions.

    Only objects defined in that module (``__module__`` matches), in sorted
    name order, so that re-exports are not counted twice.
    """
    out = [module]
    for name in sorted(vars(module)):
        if name.startswith("_"):
            continue
        obj = vars(module)[name]
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            out.append(obj)
            for attr in sorted(vars(obj)):
                if attr.startswith("_"):
                    continue
                member = vars(obj)[attr]
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isroutine(member) or isinstance(member, property):
                    out.append(member)
        elif inspect.isroutine(obj):
            out.append(obj)
    return out


def _is_prose(paragraph: str) -> bool:
    if any(h in paragraph for h in _CODE_HINTS):
        return False
    if len(paragraph.split()) < _MIN_WORDS:
        return False
    letters = sum(c.isalpha() or c == " " for c in paragraph)
    return letters >= _MIN_PROSE_SHARE * len(paragraph)


def _paragraphs(doc: str):
    """Reflowed prose paragraphs of one docstring (indented blocks dropped)."""
    for block in re.split(r"\n\s*\n", doc):
        lines = block.split("\n")
        # an indented block is code, a table or an argument list
        if any(line.startswith((" ", "\t")) for line in lines):
            continue
        para = _WS.sub(" ", block).strip()
        if _is_prose(para):
            yield para


@functools.lru_cache(maxsize=1)
def _gather() -> str:
    seen: set[str] = set()
    paras: list[str] = []
    # deprecated names (typing.io, ...) warn when their docstrings are read
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in CORPUS_MODULES:
            try:
                module = importlib.import_module(name)
            except Exception:  # a module missing from this build is skipped
                continue
            for obj in _members(module):
                try:
                    doc = inspect.getdoc(obj)
                except Exception:
                    doc = None
                if not doc:
                    continue
                for para in _paragraphs(doc):
                    if para not in seen:  # inherited docstrings repeat
                        seen.add(para)
                        paras.append(para)
    return "\n".join(paras) + "\n"


def default_corpus(max_chars: int | None = None) -> str:
    """English prose from the docstrings of standard-library modules.

    The docstrings of the modules in :data:`CORPUS_MODULES` (each module,
    then its public classes, their methods and its functions, in sorted name
    order) are split into paragraphs; indented blocks and paragraphs that
    look like code are dropped, whitespace is collapsed to single spaces, and
    each paragraph appears once, on its own line.  Nothing is downloaded or
    read from outside the interpreter's own standard library.

    Parameters
    ----------
    max_chars : int or None, default None
        Upper bound on the length of the result; the text is cut at the last
        whole paragraph that fits (or mid-paragraph if even the first one is
        longer).  ``None`` returns everything (about 400,000 characters and
        90 distinct characters with CPython 3.11).

    Returns
    -------
    str
        Paragraphs separated by ``"\\n"``; the same string on every call with
        the same Python installation.

    Notes
    -----
    Thread safety: safe from several threads; the text is built once
    (cached) and strings are immutable.

    Examples
    --------
    >>> from fastrnn.corpus import default_corpus
    >>> text = default_corpus()
    >>> len(text) > 100_000
    True
    >>> len(default_corpus(max_chars=500)) <= 500
    True
    """
    if max_chars is not None:
        try:
            max_chars = operator.index(max_chars)
        except TypeError:
            raise TypeError(f"max_chars must be an int or None, got {max_chars!r}") from None
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    text = _gather()
    if max_chars is None or len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars)
    return text[: cut + 1] if cut > 0 else text[:max_chars]
