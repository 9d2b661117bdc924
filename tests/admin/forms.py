"""Posting an admin add/change form as a browser would: every field and inline row as rendered, then edits."""

import datetime

from django.urls import reverse


def _field_values(form, data: dict) -> None:
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        elif isinstance(value, datetime.datetime):
            data[f"{key}_0"], data[f"{key}_1"] = value.date().isoformat(), value.time().isoformat()
        elif value is None:
            data[key] = ""
        else:
            data[key] = str(value)


def rendered_form_data(response) -> dict:
    """The POST a browser would send back unchanged for an admin add/change page."""
    data: dict = {}
    _field_values(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _field_values(formset.management_form, data)
        for form in formset.forms:
            _field_values(form, data)
    return data


def post_admin_form(client, model: str, *, pk=None, changes: dict | None = None):
    """GET the add (``pk`` None) or change page of ``cases.<model>``, apply ``changes``, POST it back."""
    url = reverse(f"admin:cases_{model}_change", args=[pk]) if pk else reverse(f"admin:cases_{model}_add")
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    data = rendered_form_data(page)
    for key, value in (changes or {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return client.post(url, data)
