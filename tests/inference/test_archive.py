"""The "Archived inference tables" admin: row count, streamed CSV export, drop."""

import csv
import io
import json

import pytest
from django.urls import reverse

from groups.services import group_delete
from inference import tables
from inference.models import ArchivedInferenceTable
from tests.inference.serving_factories import credit_rows, post, serving_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived(client) -> ArchivedInferenceTable:
    setup = serving_group(name="Old Scoring", deletion_policy="archive")
    instances = [{"inputs": r} for r in credit_rows(3)]
    post(client, setup.predict_url, {"instances": instances}, setup.key)
    group_delete(group=setup.group, actor=None)
    return ArchivedInferenceTable.objects.get(group_slug="old-scoring")


def test_the_list_shows_each_archived_table_with_its_row_count(staff_client, archived):
    response = staff_client.get(reverse("admin:inference_archivedinferencetable_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert archived.table_name in page
    assert archived.row_count == 3
    assert "Download CSV" in page


def test_csv_export_streams_every_row(staff_client, archived):
    url = reverse("admin:inference_archivedinferencetable_export", args=[archived.pk])

    response = staff_client.get(url)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f"{archived.table_name}.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    assert set(json.loads(rows[0]["inputs"])) == set(credit_rows(1)[0])
    assert json.loads(rows[0]["explanation"])


def test_export_is_for_staff_only(client, user, archived):
    client.force_login(user)
    url = reverse("admin:inference_archivedinferencetable_export", args=[archived.pk])
    assert client.get(url).status_code == 302  # to the admin login


def test_drop_action_drops_the_table_and_forgets_it(staff_client, archived):
    assert tables.table_exists(archived.table_name)
    response = staff_client.post(
        reverse("admin:inference_archivedinferencetable_changelist"),
        {"action": "delete_selected", "_selected_action": [archived.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not tables.table_exists(archived.table_name)
    assert not ArchivedInferenceTable.objects.exists()


def test_deleting_one_archive_from_its_page_drops_its_table(staff_client, archived):
    url = reverse("admin:inference_archivedinferencetable_delete", args=[archived.pk])
    assert (
        "Drop"
        in staff_client.get(
            reverse("admin:inference_archivedinferencetable_changelist")
        ).content.decode()
    )
    response = staff_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not tables.table_exists(archived.table_name)


def _staff_with(role: str):
    from tests.factories import role_user

    return role_user(role, is_staff=True)


def test_a_viewer_exports_an_archived_table_but_cannot_drop_it(client, archived):
    from core import roles

    client.force_login(_staff_with(roles.VIEWER))
    export = reverse("admin:inference_archivedinferencetable_export", args=[archived.pk])
    assert client.get(export).status_code == 200
    delete = reverse("admin:inference_archivedinferencetable_delete", args=[archived.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert tables.table_exists(archived.table_name)


def test_an_admin_drops_an_archived_table(client, archived):
    from core import roles

    client.force_login(_staff_with(roles.ADMIN))
    delete = reverse("admin:inference_archivedinferencetable_delete", args=[archived.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not tables.table_exists(archived.table_name)
    assert not ArchivedInferenceTable.objects.filter(pk=archived.pk).exists()


def test_a_staff_user_without_a_role_cannot_export(client, archived):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    export = reverse("admin:inference_archivedinferencetable_export", args=[archived.pk])
    assert client.get(export).status_code == 403


def test_the_archived_export_neutralises_formula_cells(staff_client, archived):
    log = tables.inference_log_model(archived.table_name)
    log.objects.filter(pk=log.objects.order_by("id").first().pk).update(routing_key="@SUM(1+1)")
    url = reverse("admin:inference_archivedinferencetable_export", args=[archived.pk])
    text = b"".join(staff_client.get(url).streaming_content).decode()
    records = list(csv.DictReader(io.StringIO(text)))
    assert records[0]["routing_key"] == "'@SUM(1+1)"
