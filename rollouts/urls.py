from django.urls import path

from rollouts import views

app_name = "rollouts"

# Mounted at groups/<slug>/rollouts/ (hub/urls.py).
urlpatterns = [
    path("", views.group_rollouts_view, name="group_rollouts"),
    path("start/", views.rollout_start_view, name="rollout_start"),
    path("<int:pk>/", views.rollout_detail, name="rollout_detail"),
    path("<int:pk>/pause/", views.rollout_pause_view, name="rollout_pause"),
    path("<int:pk>/resume/", views.rollout_resume_view, name="rollout_resume"),
    path("<int:pk>/abort/", views.rollout_abort_view, name="rollout_abort"),
]
