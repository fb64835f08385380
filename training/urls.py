from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("new/", views.job_new, name="job_new"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry", views.job_retry, name="job_retry"),
    path("jobs/<int:pk>/join-group", views.job_join_group, name="job_join_group"),
    # jobs/<pk>/deploy starts a gated rollout: hub/urls.py (hub/deploy_views.py).
    path("runs/new", views.run_start, name="run_start"),
]
