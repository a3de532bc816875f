"""Form pieces shared by several blueprints."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import wtforms.widgets
import wtforms.widgets.core
from markupsafe import Markup, escape
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation
from wtforms.widgets import Input
from wtforms.widgets.core import Button, clean_key

from app.extensions import db
from app.models.person import Department, Person
from app.models.platform import Platform
from app.models.profile import Profile
from app.services import lookup, urls


def html_params(**kwargs: Any) -> Markup:
    """WTForms' ``html_params``, the same output built with plain strings.

    WTForms formats each attribute through ``Markup.format`` (string.Formatter, escaping each
    argument): 15 µs for an input's five attributes, about 1.5 ms of a case page's 50 item forms.
    Sorted keys, ``True`` as a bare attribute, ``False`` left out, keys cleaned as WTForms does,
    every key and value escaped and a value's double quotes written ``&quot;`` (a Markup value
    is not escaped again). tests/unit/test_forms_html_params.py compares the two.
    """
    params = []
    for key, value in sorted(kwargs.items()):
        key = str(escape(clean_key(key)))
        if value is True:
            params.append(key)
        elif value is not False:
            params.append(f'{key}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))  # noqa: S704  # nosec B704  # every key and value escaped above


#: WTForms' own attribute writer, which tests compare html_params with.
WTFORMS_HTML_PARAMS = wtforms.widgets.core.html_params

# Inputs (text, hidden, password, CSRF…) and buttons render their attributes through this hook;
# labels, selects (each option too) and text areas through the module's function, which labels
# reach as wtforms.widgets.html_params. An account page's ten fields: 0.4–0.5 ms of its 7.
Input.html_params = staticmethod(html_params)
Button.html_params = staticmethod(html_params)
wtforms.widgets.core.html_params = html_params
wtforms.widgets.html_params = html_params


class WebAddress:
    """An http(s) address with a host, or nothing (app.services.urls: the rule every door uses)."""

    def __call__(self, form: Any, field: Any) -> None:
        if problem := urls.web_address_problem(field.data):
            raise StopValidation(problem)


def optional_int(value: Any) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class OptionalSelectField(SelectField):
    """A select whose first option is "none"; its data is an int id or None."""

    def __init__(self, *args: Any, blank: str = "— none —", **kwargs: Any) -> None:
        kwargs.setdefault("coerce", optional_int)
        super().__init__(*args, **kwargs)
        self.blank = blank

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        super().pre_validate(form)


class VersionField(HiddenField):
    """The version of the record the form was built from (stale-edit check)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = optional_int(valuelist[0]) if valuelist else None


class PickerWidget:
    """A text box, and (after an ambiguous search) radio buttons naming the candidates.

    The radios post under the field's own name with an id as value, so choosing one and sending
    the form again names that record whatever the text box says. No script needed.
    """

    def __call__(self, field: PickerField, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("type", "text")
        kwargs.setdefault("autocomplete", "off")
        kwargs.setdefault("placeholder", field.placeholder)
        # html_params escapes every value (as WTForms' own widgets rely on).
        html = [Markup("<input %s>") % Markup(html_params(name=field.name, value=field._value(), **kwargs))]  # noqa: S704  # nosec B704  # html_params escapes every value
        if field.candidates:
            html.append(Markup('<fieldset class="picker__choices"><legend>%s</legend>') % field.choose_prompt())
            for n, record in enumerate(field.candidates):
                radio_id = f"{field.id}-choice-{n}"
                html.append(
                    Markup('<div class="field--check"><input %s> <label for="%s">%s</label></div>')
                    % (
                        Markup(html_params(type="radio", name=field.name, value=record.id, id=radio_id)),  # noqa: S704  # nosec B704  # html_params escapes every value
                        radio_id,
                        field.token(record),
                    )
                )
            html.append(Markup("</fieldset>"))
        return Markup("").join(html)


class PickerField(StringField):
    """Names one record by typing instead of choosing from a list of them all (issue "Scale", part 4).

    Its data is an int id or None, like the OptionalSelectField it replaces, and it accepts a posted
    id as before. Anything else typed is resolved when the form validates, with bounded queries
    (app.services.lookup): a unique match becomes the id; several matches come back as a field
    error with at most lookup.LIMIT candidates to choose from; no match is a field error.
    Routes narrow what may be chosen through ``where`` (SQL clauses) before validating.
    """

    widget = PickerWidget()
    noun, plural = "record", "records"

    def __init__(self, label: Any = None, validators: Any = None, blank: str = "— none —", **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self.blank = blank
        self.where: list[Any] = []
        self.candidates: list[Any] = []
        self.typed: str | None = None
        self._record: Any = None

    # What a subclass supplies.
    def resolve(self, text: str) -> lookup.Match:
        raise NotImplementedError

    def token(self, record: Any) -> str:
        raise NotImplementedError

    def load(self, record_id: int) -> Any:
        raise NotImplementedError

    @property
    def placeholder(self) -> str:
        empty = self.blank.strip("— ").strip()
        return f"Type a name or email{f' (empty: {empty})' if empty else ''}"

    def choose_prompt(self) -> str:
        return f"Choose one of the {self.plural} matching “{self.typed}”"

    def process_data(self, value: Any) -> None:
        self.data = getattr(value, "id", value) if value not in ("", None) else None
        self.data = optional_int(self.data)

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return  # not posted: keep the record's current value
        values = [str(v).strip() for v in valuelist if str(v).strip()]
        chosen = [v for v in values if v.isdigit()]
        # A chosen candidate (radio, an id) wins over what is still in the text box.
        self.typed = chosen[-1] if chosen else (values[0] if values else "")
        self.data = None

    def _value(self) -> str:
        if self.typed is not None and self.data is None:
            return self.typed
        record = self.record
        return self.token(record) if record is not None else ""

    @property
    def record(self) -> Any:
        """The chosen record (None when nothing is chosen)."""
        if self.data is None:
            return None
        if self._record is None or self._record.id != self.data:
            self._record = self.load(self.data)
        return self._record

    def pre_validate(self, form: Any) -> None:
        if self.typed is None or not self.typed:
            return
        current = self.load(self.object_data) if self.object_data is not None else None
        if current is not None and self.typed in (str(current.id), self.token(current)):
            # The value the record already has stays valid even if it is out of scope now (e.g. a departed steward).
            self.data, self._record = current.id, current
            return
        match = self.resolve(self.typed)
        if match.found is not None:
            self.data, self._record = match.found.id, match.found
            return
        self.candidates = match.candidates
        if not match.candidates:
            if self.typed.isdigit():
                raise StopValidation(f"That {self.noun} cannot be chosen here.")
            raise StopValidation(f"No {self.noun} here matches “{self.typed}”. Type part of the name, or the email.")
        more = f" (the first {len(match.candidates)} are shown)" if match.more else ""
        raise StopValidation(f"Several {self.plural} match “{self.typed}”{more}: choose one below, or type more of the name.")


class PersonPickerField(PickerField):
    """Names one person: by name, work email or id. Departed people only with ``include_departed``."""

    noun, plural = "person", "people"

    def __init__(self, *args: Any, include_departed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.include_departed = include_departed
        self.exclude: list[int] = []

    def resolve(self, text: str) -> lookup.Match:
        return lookup.find_person(text, include_departed=self.include_departed, exclude=self.exclude, where=self.where)

    def token(self, record: Any) -> str:
        return lookup.person_token(record)

    def load(self, record_id: int) -> Any:
        return db.session.get(Person, record_id)


class ProfilePickerField(PickerField):
    """Names one profile: by name, handle, sign-up email, holder's name or id."""

    noun, plural = "profile", "profiles"

    @property
    def placeholder(self) -> str:
        empty = self.blank.strip("— ").strip()
        return f"Type a profile name, handle or holder{f' (empty: {empty})' if empty else ''}"

    def resolve(self, text: str) -> lookup.Match:
        return lookup.find_profile(text, where=self.where)

    def token(self, record: Any) -> str:
        return lookup.profile_token(record)

    def load(self, record_id: int) -> Any:
        return db.session.get(Profile, record_id)


def resolve_filter(text: str | None, **scope: Any) -> tuple[int | None, lookup.Match]:
    """A list page's person filter (``?steward=…``): the id to filter by, and the match for the page.

    Empty means no filter; a value that names nobody, or several people, filters to nothing (-1)
    and the page offers the candidates as links.
    """
    if not text or not text.strip():
        return None, lookup.Match()
    match = lookup.find_person(text, include_departed=True, **scope)
    return (match.found.id if match.found is not None else -1), match


def choices(pairs: list[tuple[Any, str]]) -> list[SelectChoice]:
    """Options for a select field or a filter list, from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def platform_choices() -> list[SelectChoice]:
    # Ids and names only: a list's filter row needs no ORM object per option.
    return choices(
        [(row.id, row.name) for row in db.session.execute(sa.select(Platform.id, Platform.name).order_by(Platform.name))]
    )


#: What moves when a department is added, removed, renamed or edited: how many there are, the
#: newest id, the sum of their versions and the last change.
_DEPARTMENTS_STAMP = sa.select(
    sa.func.count(), sa.func.max(Department.id), sa.func.sum(Department.version), sa.func.max(Department.updated_at)
)
#: (database, blank label) -> [stamp, options, options as HTML or None]: the departments as last
#: read by this process.
_DEPARTMENT_OPTIONS: dict[tuple[str, str], list[Any]] = {}


def _kept_departments(blank: str) -> list[Any]:
    """This process's [stamp, options, HTML] for ``blank``, read again when the departments' stamp moved."""
    stamp = tuple(db.session.execute(_DEPARTMENTS_STAMP).one())
    key = (db.engine.url.render_as_string(hide_password=True), blank)
    kept = _DEPARTMENT_OPTIONS.get(key)
    if kept is None or kept[0] != stamp:
        rows = db.session.execute(sa.select(Department.id, Department.name).order_by(Department.name))
        kept = _DEPARTMENT_OPTIONS[key] = [stamp, choices([("", blank)] + [(row.id, row.name) for row in rows]), None]
    return kept


def department_choices(blank: str = "— none —") -> list[SelectChoice]:
    """Every department as an option, by name, after ``blank``.

    The list pages' filter rows read them on every request. This process keeps them and reads
    them again only when the departments' stamp moves: one aggregate row instead of every
    department's (300 rows and 0.58 ms at 20,000 people, growing with the organisation).
    """
    return list(_kept_departments(blank)[1])


def department_options(blank: str, selected: int | None) -> Markup:
    """A list page's department filter: ``<option>`` elements for ``department_choices(blank)``,
    ``selected`` marked. Written once while the departments stay as they are, then only marked:
    300 options written through the template cost 0.4 ms a page at 20,000 people."""
    kept = _kept_departments(blank)
    if kept[2] is None:
        kept[2] = "".join(f'<option value="{escape(c.value)}">{escape(c.label)}</option>' for c in kept[1])
    html: str = kept[2]
    if selected is not None:
        mark = f'<option value="{int(selected)}">'
        html = html.replace(mark, mark[:-1] + " selected>", 1)
    return Markup(html)  # noqa: S704  # nosec B704  # every value and label escaped above; selected is an int


def apply_errors(form: Any, error: Any) -> None:
    """Put a service's ValidationFailed field errors on the form's fields (or the form, if no field matches)."""
    for name, messages in getattr(error, "field_errors", {}).items():
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors"):
            if not isinstance(target.errors, list):
                target.errors = list(target.errors)
            target.errors.extend(messages)
        else:
            form.form_errors.extend(messages)
    if not getattr(error, "field_errors", None):
        form.form_errors.append(error.message)
