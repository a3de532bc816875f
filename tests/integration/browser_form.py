"""What a browser would post for a form on a page, left as it was rendered (no JavaScript needed)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._first_option: str | None = None
        self._selected = False
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {}
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "reset", "file"):
                self._form[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._first_option, self._selected = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a and not self._selected:
                self._form[self._select] = value
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea = name
            self._form[name] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select and self._form is not None:
            if not self._selected:
                # No option marked selected: the browser sends the first one.
                self._form[self._select] = self._first_option or ""
            self._select = None
        elif tag == "textarea" and self._textarea and self._form is not None:
            # A browser drops the one line break that may follow <textarea>.
            value = self._form[self._textarea]
            self._form[self._textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self._textarea = None
        elif tag == "form":
            self._form = None


def form_values(html: str, containing: str) -> dict[str, Any]:
    """The values the form holding the field ``containing`` would submit as rendered."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if containing in form:
            return form
    raise AssertionError(f"no form with a {containing} field on the page")
