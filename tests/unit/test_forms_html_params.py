"""The forms' attribute writer (app.forms.html_params) writes what WTForms' own does."""

from __future__ import annotations

from typing import Any

import pytest
import wtforms.widgets
import wtforms.widgets.core
from markupsafe import Markup
from wtforms import Form, HiddenField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.widgets import Input

from app import forms

CASES: list[dict[str, Any]] = [
    {},
    {"name": "text1", "id": "f", "class_": "text"},
    {"checked": True, "readonly": False, "name": "text1", "abc": "hello"},
    {"data_attr": "user.name", "aria_labeledby": "name", "for_": "x"},
    {"value": 'He said "hi" & <left>', "title": "it's"},
    {"value": Markup('<b class="x">bold</b>'), "placeholder": Markup("a &amp; b")},
    {"value": 0, "maxlength": 254, "minlength": 8, "required": True, "disabled": False},
    {"value": None, "autocomplete": "off", "type": "text"},
    {"value": "ünïcødé — “quotes”", "data_x_y": "1"},
]


@pytest.mark.parametrize("params", CASES)
def test_the_same_attributes_as_wtforms(params: dict[str, Any]) -> None:
    ours = forms.html_params(**params)
    assert isinstance(ours, Markup)
    assert ours == forms.WTFORMS_HTML_PARAMS(**params)


def test_inputs_and_buttons_render_through_it() -> None:
    assert Input.html_params is forms.html_params

    class Sample(Form):
        name = StringField(render_kw={"placeholder": 'Say "hello"'})
        secret = PasswordField()
        version = HiddenField()
        save = SubmitField("Save <now>")

    form = Sample(data={"name": "<script>alert(1)</script>", "version": 3})
    assert (
        str(form.name())
        == '<input id="name" name="name" placeholder="Say &#34;hello&#34;" type="text" value="&lt;script&gt;alert(1)&lt;/script&gt;">'
    )
    assert str(form.secret()) == '<input id="secret" name="secret" type="password" value="">'
    assert str(form.version()) == '<input id="version" name="version" type="hidden" value="3">'
    assert str(form.save()) == '<input id="save" name="save" type="submit" value="Save &lt;now&gt;">'


def test_labels_selects_and_text_areas_render_through_it() -> None:
    assert wtforms.widgets.core.html_params is forms.html_params
    assert wtforms.widgets.html_params is forms.html_params
    assert forms.WTFORMS_HTML_PARAMS is not forms.html_params

    class Sample(Form):
        kind = SelectField("Kind <of>", choices=forms.choices([("a", 'A "first"'), ("b&c", "B & C")]))
        notes = TextAreaField(render_kw={"rows": 3})

    form = Sample(data={"kind": "b&c", "notes": "<b>"})
    assert str(form.kind.label(class_="field__label")) == '<label class="field__label" for="kind">Kind &lt;of&gt;</label>'
    assert str(form.kind()) == (
        '<select id="kind" name="kind"><option value="a">A &#34;first&#34;</option>'
        '<option selected value="b&amp;c">B &amp; C</option></select>'
    )
    assert str(form.notes()) == '<textarea id="notes" name="notes" rows="3">\r\n&lt;b&gt;</textarea>'
