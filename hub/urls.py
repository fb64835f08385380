from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from hub import deploy_views, views

api_v1 = [
    path("", include("providers.api_urls")),
    path("", include("registry.api_urls")),
    path("", include("rollouts.api_urls")),
    path("", include("governance.api_urls")),  # groups/<slug>/history, ahead of groups
    path("", include("groups.api_urls")),
    path("", include("inference.api_urls")),
    path("", include("recipes.api_urls")),
    path("", include("training.api_urls")),
    # Deploy joins training and rollouts (both layer 6): hub/deploy.py. Both spellings work.
    re_path(
        r"^runs/(?P<pk>[0-9]+)/deploy/?$",
        deploy_views.RunDeployApi.as_view(),
        name="api-run-deploy",
    ),
    path("", include("monitoring.api_urls")),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF marks its views as not needing Django's login (it authenticates itself); the docs
    # are a page for people, so they send anonymous visitors to the login page.
    path(
        "api/docs/",
        # The split view serves Swagger UI's init script from ?script, not inline (CSP).
        login_required(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", template_name="hub/swagger_ui.html"
            )
        ),
        name="api-docs",
    ),
    # /inventory/, /groups/<slug>/history/, /models/<slug>/versions/<v>/report/ (governance)
    path("", include("governance.urls")),
    path("models/", include("registry.urls")),
    # A group's analytics tabs (/groups/<slug>/compare/, .../inferences/) and the
    # /inference/ pages: ahead of groups.urls, which would otherwise take /groups/<slug>/...
    path("", include("inference.urls")),
    path("", include("monitoring.urls")),  # /groups/<slug>/monitoring/, ahead of groups.urls
    path("groups/<slug:slug>/rollouts/", include("rollouts.urls")),
    path("groups/", include("groups.urls")),
    path("providers/", include("providers.urls")),
    path("training/jobs/<int:pk>/deploy", deploy_views.run_deploy, name="run_deploy"),
    path("training/", include("training.urls")),
    path("library/", include("recipes.urls")),
]

handler404 = "hub.views.api_not_found"
handler500 = "hub.views.api_server_error"
