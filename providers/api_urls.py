from django.urls import path

from providers import api

urlpatterns = [
    path("providers/", api.ProviderListApi.as_view(), name="api-provider-list"),
    path(
        "providers/<int:provider_id>/", api.ProviderDetailApi.as_view(), name="api-provider-detail"
    ),
]
