from django.urls import path, re_path

from recipes import api, assistant_api

ASSISTANT = r"^recipes/(?P<slug>[-a-zA-Z0-9_]+)/assistant"
VERSION = r"^recipes/(?P<slug>[-a-zA-Z0-9_]+)/versions/(?P<version>[0-9A-Za-z.+-]+)"

urlpatterns = [
    path(
        "schema/recipe-manifest",
        api.ManifestSchemaApi.as_view(),
        name="recipes-manifest-schema",
    ),
    path("recipes/", api.RecipeListCreateApi.as_view(), name="api-recipe-list"),
    re_path(
        r"^recipes/assistant/new/?$",
        assistant_api.AssistantRecipeNewApi.as_view(),
        name="api-recipe-assistant-new",
    ),
    path("recipes/<slug:slug>/", api.RecipeDetailApi.as_view(), name="api-recipe-detail"),
    # The issue writes actions without a trailing slash; both spellings work.
    re_path(
        r"^recipes/(?P<slug>[-a-zA-Z0-9_]+)/clone/?$",
        api.RecipeCloneApi.as_view(),
        name="api-recipe-clone",
    ),
    re_path(
        r"^recipes/(?P<slug>[-a-zA-Z0-9_]+)/check/?$",
        api.VersionCheckApi.as_view(),
        name="api-recipe-check",
    ),
    path(
        "recipes/<slug:slug>/versions/",
        api.VersionListCreateApi.as_view(),
        name="api-recipe-version-list",
    ),
    re_path(VERSION + r"/?$", api.VersionDetailApi.as_view(), name="api-recipe-version-detail"),
    re_path(
        VERSION + r"/approve/?$", api.VersionApproveApi.as_view(), name="api-recipe-version-approve"
    ),
    re_path(
        VERSION + r"/archive/?$", api.VersionArchiveApi.as_view(), name="api-recipe-version-archive"
    ),
    re_path(
        ASSISTANT + r"/messages/?$",
        assistant_api.AssistantMessageApi.as_view(),
        name="api-recipe-assistant-messages",
    ),
    re_path(
        ASSISTANT + r"/conversations/?$",
        assistant_api.ConversationListApi.as_view(),
        name="api-recipe-assistant-conversations",
    ),
    re_path(
        ASSISTANT + r"/conversations/(?P<conversation>[0-9]+)/?$",
        assistant_api.ConversationDetailApi.as_view(),
        name="api-recipe-assistant-conversation",
    ),
    re_path(
        ASSISTANT + r"/proposals/(?P<proposal>[0-9]+)/apply/?$",
        assistant_api.ProposalApplyApi.as_view(),
        name="api-recipe-assistant-proposal-apply",
    ),
    re_path(
        ASSISTANT + r"/proposals/(?P<proposal>[0-9]+)/explain/?$",
        assistant_api.ProposalExplainApi.as_view(),
        name="api-recipe-assistant-proposal-explain",
    ),
]
