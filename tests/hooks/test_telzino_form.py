"""The connection form in both generations, kept in step."""

from __future__ import annotations

import pytest

from telzino_provider.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from telzino_provider.get_provider_info import get_provider_info
from telzino_provider.hooks.telzino import TelzinoHook


def test_provider_info_carries_the_form():
    [conn] = get_provider_info()["connection-types"]
    assert conn["conn-fields"] == CONN_FIELDS
    assert conn["ui-field-behaviour"] == UI_FIELD_BEHAVIOUR
    assert CONN_FIELDS["client_secret"]["schema"]["format"] == "password"
    assert "password" not in UI_FIELD_BEHAVIOUR["hidden-fields"]


def test_ui_field_behaviour_classmethod_matches_provider_info():
    behaviour = TelzinoHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert behaviour["relabeling"] == UI_FIELD_BEHAVIOUR["relabeling"]
    assert behaviour["placeholders"] == UI_FIELD_BEHAVIOUR["placeholders"]


def test_widgets_match_conn_fields():
    pytest.importorskip("wtforms", reason="the widget form exists only where Airflow ships wtforms (< 3.0)")
    pytest.importorskip("flask_appbuilder")
    widgets = TelzinoHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)
    for name, spec in CONN_FIELDS.items():
        field = widgets[name]
        assert str(field.args[0]) == spec["label"]
        is_password = field.field_class.__name__ == "PasswordField"
        assert is_password == (spec["schema"].get("format") == "password"), name
