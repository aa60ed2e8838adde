"""Text a student or a kernel controls, made harmless for where it is shown.

One function per target, used everywhere the course shows such text:

* `sanitise_html`: every HTML the course renders or hands to Formgrader (a markdown answer
  rendered the way nbconvert renders it, a displayed output, a raw cell) passes through one
  allow-list sanitiser, nh3 (the Rust library ammonia), on the *rendered* HTML: a markdown
  trick that changes what becomes HTML cannot get past it;
* `inert_markdown`: a student's markdown cell replaced by its sanitised rendering, in a form
  that any markdown renderer passes through unchanged (Formgrader and the feedback template
  render markdown cells again, with nbconvert's renderer, which allows raw HTML and
  `javascript:` links);
* `for_terminal`: control characters, escape sequences and bidi overrides shown as escapes;
* `for_markdown`: for a summary.md table cell or list item: the above, and every character
  Markdown or HTML gives a meaning escaped;
* `for_csv`: a cell a spreadsheet would read as a formula made inert.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

import nh3

# Formatting a lab, a library (captum's visualize_text: mark/font/text) or a student's
# markdown (nbconvert's renderer: tables, code, headings with anchors) may use.
TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em", "font",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "s", "small",
        "span", "strong", "sub", "sup", "table", "tbody", "td", "text", "tfoot", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"*": {"class", "style", "title", "align"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
              "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}, "font": {"color"},
              **{f"h{level}": {"id"} for level in range(1, 7)}}  # nbconvert's heading anchors
# No `background` (it takes url(), a request to any server when the page opens).
STYLES = {"background-color", "border", "border-radius", "color", "display", "font-family", "font-size",
          "font-style", "font-weight", "line-height", "margin", "opacity", "padding", "padding-right",
          "text-align", "text-decoration", "white-space", "width"}
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: only for images, see _url_filter
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*", re.I)


def _url_filter(tag: str, attribute: str, value: str) -> str | None:
    """nh3 checks the scheme of every URL; a data: URL is kept only as an image's bitmap
    (a data: page opened from a link is a page the student wrote; an SVG shown as an
    image runs no script)."""
    if attribute in ("href", "src") and value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and _DATA_IMAGE.fullmatch(value.strip()) else None
    return value


def sanitise_html(text: str) -> str:
    """HTML with only the allow-listed tags, attributes, styles and URL schemes; script and
    style elements go with their content, comments go."""
    return nh3.clean(text, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, attribute_filter=_url_filter,
                     filter_style_properties=STYLES, strip_comments=True, link_rel="noopener noreferrer nofollow")


class _Attachments(dict):
    """A cell's attachments as nbconvert's renderer reads them: a name the cell does not
    hold is an empty image (nbconvert would stop the whole notebook with an error)."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> dict:
        return {"image/png": ""}


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown rendered exactly as nbconvert's HTML exporter renders a markdown cell (the
    feedback template and Formgrader's both use it): raw HTML and every link scheme kept.
    Markdown the renderer fails on is shown as preformatted text."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    files = _Attachments({name: value for name, value in (attachments or {}).items()
                          if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values())})
    try:
        return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=files)).render(str(source))
    except Exception:  # a crafted cell must not stop the grading of the notebook
        return f"<pre>{html.escape(str(source))}</pre>"


# A tag as nh3 (html5ever) writes it: attribute values always in double quotes, which may hold ">".
_TAG = re.compile(r'<(?:[^">]|"[^"]*")*>')
# Characters that mean something to a markdown renderer (and MathJax's "\"): as character
# references they are the same text in HTML and nothing to markdown.
_MARKDOWN_SIGNS = str.maketrans({ch: f"&#{ord(ch)};" for ch in "`*_[]()!~\\|{}:$"})


def inert_markdown(source: str, attachments: dict | None = None) -> str:
    """A markdown cell's rendering, sanitised, as one line of HTML that a markdown renderer
    passes through unchanged: a `<div>` block with no blank line (so no markdown around it
    starts) and no markdown sign in its text. Rendering it again gives the same page."""
    clean = sanitise_html(render_markdown(source, attachments))
    parts, position = [], 0
    for tag in _TAG.finditer(clean):
        parts += [clean[position:tag.start()].translate(_MARKDOWN_SIGNS), tag.group(0)]
        position = tag.end()
    parts.append(clean[position:].translate(_MARKDOWN_SIGNS))
    # A newline as a character reference is the same character to HTML, and ends no line.
    return '<div class="course-answer">' + "".join(parts).replace("\n", "&#10;").replace("\r", "&#13;") + "</div>"


class _ActiveParts(HTMLParser):
    """What in an HTML document could run a script or load a page, as the browser parses it."""

    ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base", "meta",
                   "link", "style", "svg", "math", "template", "noscript", "portal"}
    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "background", "srcdoc"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.ACTIVE_TAGS:
            self.found.add(f"<{tag}>")
        for name, value in attrs:
            scheme = re.sub(r"[\x00-\x20]", "", value or "").lower()  # browsers ignore these inside a scheme
            if name.startswith("on"):
                self.found.add(f"{name}=")
            elif name in self.URL_ATTRIBUTES and (scheme.startswith(("javascript:", "vbscript:"))
                                                  or scheme.startswith("data:") and not scheme.startswith("data:image/")
                                                  or name == "srcdoc"):
                self.found.add(f"{name}={scheme.split(':')[0]}:" if ":" in scheme else f"{name}=")


def active_parts(text: str) -> list[str]:
    """The elements and attributes of an HTML document that could run a script or open a
    page (`<script>`, `onerror=`, `href=javascript:`, ...), sorted; empty for a safe one."""
    parser = _ActiveParts()
    parser.feed(text)
    parser.close()
    return sorted(parser.found)


# ------------------------------------------------------------------------------ plain text
def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def for_terminal(text: object, limit: int | None = None) -> str:
    """One line a terminal shows as it is: control characters (ESC, CR, newline, backspace),
    format characters (bidi overrides), surrogates (bytes that were not UTF-8) and separators
    other than a space become escapes such as \\x1b; cut to `limit` characters."""
    shown = "".join(ch if ch == " " or unicodedata.category(str(ch))[0] not in "CZ" else _escape(ch)
                    for ch in str(text))
    return shown if limit is None or len(shown) <= limit else shown[:limit - 1] + "…"


# Signs with a meaning anywhere in a line (`&` and `<` become character references first),
# and those with one at the start of a line's text ("# ", "- ", "1. ", "> ", "=").
# "_" between two letters or digits starts no emphasis (CommonMark): student_ids stay readable.
_MARKDOWN_INLINE = re.compile(r"([\\`*{}\[\]()!|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MARKDOWN_START = re.compile(r"^(\s*\d*)([#+\-=>]|(?<=\d)[.)])")


def for_markdown(text: object, limit: int | None = None) -> str:
    """Text inside a summary.md line, table cell or list item: on one line (see
    `for_terminal`), `&`, `<` and `>` as character references (no tag, no entity), and every
    markdown sign escaped with a backslash (no table column, emphasis, link, code, heading
    or list)."""
    one_line = html.escape(for_terminal(text, limit), quote=False)
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", one_line)
    return _MARKDOWN_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def for_csv(text: object) -> str:
    """A grades.csv cell: on one line (see `for_terminal`), and inert in a spreadsheet: a
    cell that starts (after spaces) with = + - @ gets a leading apostrophe (OWASP's advice
    on CSV injection). None is an empty cell."""
    shown = "" if text is None else for_terminal(text)
    return "'" + shown if re.match(r"\s*[=+\-@]", shown) else shown
