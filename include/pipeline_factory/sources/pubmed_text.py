"""PubMed's inline markup rendered to readable, searchable text.

PubMed titles and abstracts carry HTML-like markup (``<i>``, ``<b>``,
``<u>``, ``<sup>``, ``<sub>``) and, since 2017, MathML.  Joining the bare
text nodes turns ``km·h<sup>-1</sup>`` into ``km·h-1``, ``r<sup>2</sup>``
into ``r2`` and a MathML ``V̇O2max`` into ``V . O 2 m a x``, and drops the
underline PubMed uses to turn ``<`` into "less than or equal".  Here:

* ``<sup>``/``<sub>`` become Unicode super/subscripts when every character has
  one (``h⁻¹``, ``r²``, ``CO₂``), else ``^``/``_`` notation (``p_{trend}``,
  ``OR_{Q3}``, one character without braces: ``x^a``);
* an underlined ``<``/``>`` becomes ``≤``/``≥``;
* MathML becomes its linear text: accents as combining marks, prescripts as
  superscripts (``V̇O2max``, ``³He/¹²⁹Xe``), fractions ``a/b``, roots ``√x``.

The original markup is kept separately (:func:`inner_xml`) for display.
"""

from __future__ import annotations

import re

from lxml import etree

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

_MINUS = "\u2212"
_SUP_FROM, _SUP_TO = f"0123456789+-{_MINUS}=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱ"
_SUB_FROM, _SUB_TO = f"0123456789+-{_MINUS}=()", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎"
_SUP, _SUB = str.maketrans(_SUP_FROM, _SUP_TO), str.maketrans(_SUB_FROM, _SUB_TO)
_SUP_CHARS, _SUB_CHARS = set(_SUP_FROM), set(_SUB_FROM)

#: MathML ``<mover>`` accents -> combining characters placed after the base.
_ACCENTS = {
    ".": "\u0307", "\u02d9": "\u0307", "..": "\u0308", "\u00a8": "\u0308",
    "\u00af": "\u0304", "\u203e": "\u0305", "-": "\u0304", "^": "\u0302", "\u02c6": "\u0302",
    "~": "\u0303", "\u02dc": "\u0303", "\u2192": "\u20d7", "\u20d7": "\u20d7",
}
#: Underlined comparison operators, as PubMed marks "less/greater than or equal".
_UNDERLINED = {"<": "≤", ">": "≥"}


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments, processing instructions
    return tag.rsplit("}", 1)[-1]


def _is_mathml(element: etree._Element) -> bool:
    return isinstance(element.tag, str) and element.tag.startswith(f"{{{MATHML_NS}}}")


def superscript(text: str) -> str:
    """``text`` as Unicode superscripts when all of it has one, else ``^x`` / ``^{text}``."""
    text = text.strip()
    if not text:
        return ""
    if set(text) <= _SUP_CHARS:
        return text.translate(_SUP)
    return f"^{text}" if len(text) == 1 else f"^{{{text}}}"


def subscript(text: str) -> str:
    """``text`` as Unicode subscripts when all of it has one, else ``_x`` / ``_{text}``."""
    text = text.strip()
    if not text:
        return ""
    if set(text) <= _SUB_CHARS:
        return text.translate(_SUB)
    return f"_{text}" if len(text) == 1 else f"_{{{text}}}"


def _math(element: etree._Element) -> str:
    """The linear text of one MathML element."""
    name = _local(element.tag)
    children = [c for c in element if isinstance(c.tag, str)]
    if name in ("mi", "mn", "mo", "ms"):
        return (element.text or "").strip()
    if name == "mtext":
        text = element.text or ""
        return " " if text and not text.strip() else text.strip()
    if name in ("mspace",):
        return " "
    if name == "none":
        return ""
    parts = [_math(c) for c in children]
    if name == "msub" and len(parts) == 2:
        return parts[0] + parts[1]  # linear text: V̇O2max, as PubMed's own text search has it
    if name == "msup" and len(parts) == 2:
        return parts[0] + superscript(parts[1])
    if name == "msubsup" and len(parts) == 3:
        return parts[0] + parts[1] + superscript(parts[2])
    if name in ("mover", "munder", "munderover") and parts:
        accents = [_ACCENTS.get(p.strip()) for p in parts[1:]]
        if all(accents):
            return parts[0] + "".join(a for a in accents if a)
        return "".join(parts)
    if name == "mfrac" and len(parts) == 2:
        wrap = [p if re.fullmatch(r"[\w.]+", p) else f"({p})" for p in parts]
        return f"{wrap[0]}/{wrap[1]}"
    if name == "msqrt":
        inner = "".join(parts)
        return f"√{inner}" if re.fullmatch(r"[\w.]+", inner) else f"√({inner})"
    if name == "mroot" and len(parts) == 2:
        return f"{superscript(parts[1])}√({parts[0]})"
    if name == "mmultiscripts":
        return _multiscripts(children)
    if name == "mfenced":
        return f"{element.get('open', '(')}{', '.join(parts)}{element.get('close', ')')}"
    return "".join(parts)  # math, mrow, mstyle, mpadded, semantics (first child wins below)


def _multiscripts(children: list[etree._Element]) -> str:
    """``<mmultiscripts>base (sub sup)* <mprescripts/> (presub presup)*``: isotopes such as ³He."""
    names = [_local(c.tag) for c in children]
    split = names.index("mprescripts") if "mprescripts" in names else len(children)
    base = _math(children[0]) if children else ""
    post, pre = children[1:split], children[split + 1 :]

    def scripts(pairs: list[etree._Element]) -> str:
        out = ""
        for i in range(0, len(pairs) - 1, 2):
            sub, sup = _math(pairs[i]), _math(pairs[i + 1])
            out += (subscript(sub) if sub else "") + (superscript(sup) if sup else "")
        return out

    return scripts(pre) + base + scripts(post)


def _render(element: etree._Element) -> str:
    """Text of ``element`` and its descendants, markup rendered (the element's tail excluded)."""
    if _is_mathml(element):
        if _local(element.tag) == "semantics":
            first = next((c for c in element if isinstance(c.tag, str)), None)
            return _math(first) if first is not None else ""
        return _math(element)
    out = element.text or ""
    for child in element:
        inner = _render(child)
        name = _local(child.tag)
        if name == "sup":
            out += superscript(inner)
        elif name == "sub":
            out += subscript(inner)
        elif name == "u" and inner.strip() in _UNDERLINED:
            out += _UNDERLINED[inner.strip()]
        else:  # <i>, <b>, <u> around words, MathML (already linear): their text as it is
            out += inner
        out += child.tail or ""
    return out


def render_text(element: etree._Element | None) -> str:
    """Readable text of a PubMed text element (title, abstract part), whitespace collapsed."""
    if element is None:
        return ""
    return re.sub(r"\s+", " ", _render(element)).strip()


def has_markup(element: etree._Element | None) -> bool:
    return element is not None and any(isinstance(c.tag, str) for c in element)


def inner_xml(element: etree._Element) -> str:
    """The element's content as PubMed sent it (text and child elements, whitespace collapsed)."""
    parts = [element.text or ""]
    for child in element:
        raw = etree.tostring(child, encoding="unicode", with_tail=False)
        parts.append(raw + (child.tail or ""))
    return re.sub(r"\s+", " ", "".join(parts)).strip()
