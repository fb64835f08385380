from django.urls import path

from groups import views

app_name = "groups"

urlpatterns = [
    path("", views.group_list, name="group_list"),
    path("new/", views.group_list, name="group_create"),
    path("<slug:slug>/", views.group_list, name="group_detail"),
]
