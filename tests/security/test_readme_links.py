"""Every page the README sends an operator to exists (for staff).

Before: the README pointed to `/django-rq/metrics/`, which answers 404 even for staff.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import REPO

README = (REPO / "README.md").read_text()
# Paths written in code spans: `/health`, `/django-rq/`; not templates such as `/api/fleets/<id>`.
PATHS = sorted(set(re.findall(r"`(/[\w./-]*)`", README)))


def test_the_readme_names_the_operator_pages():
    assert {"/admin/", "/django-rq/", "/metrics", "/health"} <= set(PATHS), PATHS


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_each_path_in_the_readme_answers_staff(client, redis_conn, path):
    operator = get_user_model().objects.create_superuser("operator", password="op")
    client.force_login(operator)
    response = client.get(path)
    assert response.status_code not in (404, 500), (path, response.status_code)
