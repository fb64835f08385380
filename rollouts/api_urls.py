from django.urls import path

from rollouts import api

urlpatterns = [
    path(
        "groups/<slug:slug>/rollouts/", api.RolloutListStartApi.as_view(), name="api-rollout-list"
    ),
    path(
        "groups/<slug:slug>/rollouts/<int:pk>/",
        api.RolloutDetailApi.as_view(),
        name="api-rollout-detail",
    ),
    path(
        "groups/<slug:slug>/rollouts/<int:pk>/pause/",
        api.RolloutPauseApi.as_view(),
        name="api-rollout-pause",
    ),
    path(
        "groups/<slug:slug>/rollouts/<int:pk>/resume/",
        api.RolloutResumeApi.as_view(),
        name="api-rollout-resume",
    ),
    path(
        "groups/<slug:slug>/rollouts/<int:pk>/abort/",
        api.RolloutAbortApi.as_view(),
        name="api-rollout-abort",
    ),
]
