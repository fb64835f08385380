from django.urls import path

from groups import views

app_name = "groups"

urlpatterns = [
    path("", views.group_list, name="group_list"),
    path("new/", views.group_create_view, name="group_create"),
    path("<slug:slug>/", views.group_detail, name="group_detail"),
    path("<slug:slug>/promote/", views.group_promote_view, name="group_promote"),
    path("<slug:slug>/traffic/", views.group_traffic_view, name="group_traffic"),
    path("<slug:slug>/rollback/", views.group_rollback_view, name="group_rollback"),
    path(
        "<slug:slug>/pending/<int:pk>/approve/",
        views.pending_change_decide_view,
        {"decision": "approve"},
        name="pending_approve",
    ),
    path(
        "<slug:slug>/pending/<int:pk>/reject/",
        views.pending_change_decide_view,
        {"decision": "reject"},
        name="pending_reject",
    ),
]
