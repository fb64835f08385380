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
]
