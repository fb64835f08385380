"""The recipes API: list and create recipes, versions (from a manifest or a JSON Patch),
the effective manifest with provenance, approval, archiving, clones, a dry-run check, and
the manifest schema.

Serializers check shapes; recipes.services checks the rest and raises ServiceErrors
(400 with JSON Pointer paths, 403 four-eyes, 409 stale patches), rendered by
core.api.exception_handler. Each view declares `perms`, then checks the object.
"""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import Pagination, SlugRelatedField, valid
from core.models import Team
from core.permissions import require
from recipes import selectors, services
from recipes.filters import RecipeFilterSet
from recipes.manifest import MANIFEST_SCHEMA
from recipes.models import Family, Level, Recipe, RecipeVersion

VIEW_RECIPE = "recipes.view_recipe"
VIEW_VERSION = "recipes.view_recipeversion"


class RecipeOutput(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")
    family = serializers.CharField()
    level = serializers.CharField()
    parent = serializers.SerializerMethodField()
    team = serializers.CharField(source="team.slug")
    tags = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    model = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    latest_approved_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Recipe"

    def get_parent(self, recipe: Recipe) -> str | None:
        return recipe.parent.slug if recipe.parent_id else None

    def get_model(self, recipe: Recipe) -> str | None:
        return recipe.model.slug if recipe.model_id else None

    def get_latest_version(self, recipe: Recipe) -> str | None:
        latest = services.recipe_version_latest(recipe)
        return latest.version if latest else None

    def get_latest_approved_version(self, recipe: Recipe) -> str | None:
        latest = services.recipe_version_latest_approved(recipe)
        return latest.version if latest else None


class VersionOutput(serializers.Serializer):
    recipe = serializers.CharField(source="recipe.slug")
    version = serializers.CharField()
    url = serializers.CharField(source="get_absolute_url")
    status = serializers.CharField()
    content_hash = serializers.CharField()
    change_note = serializers.CharField()
    parent_version = serializers.SerializerMethodField()
    previous = serializers.SerializerMethodField()
    author = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    approved_by = serializers.SerializerMethodField()
    approved_at = serializers.DateTimeField(allow_null=True)
    archived_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "RecipeVersionSummary"

    def get_parent_version(self, version: RecipeVersion) -> dict | None:
        parent = version.parent_version
        if parent is None:
            return None
        return {"recipe": parent.recipe.slug, "version": parent.version}

    def get_previous(self, version: RecipeVersion) -> str | None:
        return version.previous.version if version.previous_id else None

    def get_created_by(self, version: RecipeVersion) -> str | None:
        return version.created_by.username if version.created_by_id else None

    def get_approved_by(self, version: RecipeVersion) -> str | None:
        return version.approved_by.username if version.approved_by_id else None


class VersionDetailOutput(VersionOutput):
    manifest = serializers.JSONField(help_text="This recipe's own layer over its parent.")
    diff = serializers.JSONField(help_text="RFC 6902 operations from the previous version.")

    class Meta:
        ref_name = "RecipeVersion"


class EffectiveOutput(VersionDetailOutput):
    effective = serializers.JSONField()
    provenance = serializers.JSONField(
        help_text="JSON Pointer of each leaf -> {recipe, version, level, overrides, previous?}."
    )
    removed = serializers.JSONField(help_text="Leaves a layer removed with null.")

    class Meta:
        ref_name = "RecipeVersionEffective"


def _effective_body(version: RecipeVersion, request: Request) -> dict:
    body = dict(VersionDetailOutput(version, context={"request": request}).data)
    result = services.recipe_version_effective(version)
    return body | {
        "effective": result.manifest,
        "provenance": result.provenance,
        "removed": result.removed,
    }


def _recipe(request: Request, slug: str) -> Recipe:
    return selectors.recipe_get(slug=slug, user=request.user)


def _version(request: Request, slug: str, version: str) -> RecipeVersion:
    return selectors.version_get(recipe=_recipe(request, slug), version=version, user=request.user)


class ManifestSchemaApi(APIView):
    # The contract is public, like the model-metadata schema: tools validate before sending.
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={(200, "application/schema+json"): OpenApiTypes.OBJECT},
        operation_id="recipe_manifest_schema_retrieve",
        summary="The recipe manifest JSON Schema (draft 2020-12)",
    )
    def get(self, request: Request) -> Response:
        return Response(MANIFEST_SCHEMA, content_type="application/schema+json")


class RecipeCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    family = serializers.ChoiceField(choices=Family.choices)
    level = serializers.ChoiceField(choices=Level.choices, default=Level.BASELINE)
    parent = SlugRelatedField(
        slug_field="slug", queryset=Recipe.objects.all(), required=False, allow_null=True
    )
    team = SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    manifest = serializers.DictField(help_text="The whole effective manifest (an object).")
    change_note = serializers.CharField(required=False, allow_blank=True, default="First version.")

    class Meta:
        ref_name = "RecipeCreate"


class RecipeListCreateApi(APIView):
    """GET: the recipes the caller may read (RecipeFilterSet), paginated. POST: a recipe
    and its first draft version."""

    parser_classes = [JSONParser]
    perms = {"GET": VIEW_RECIPE, "POST": "recipes.add_recipe"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = RecipeFilterSet
    pagination_class = Pagination
    queryset = Recipe.objects.none()

    @extend_schema(operation_id="recipes_list", responses=RecipeOutput(many=True))
    def get(self, request: Request) -> Response:
        found = RecipeFilterSet(request.query_params, queryset=selectors.recipes(user=request.user))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(found.filtered(), request, view=self)
        return paginator.get_paginated_response(RecipeOutput(page, many=True).data)

    @extend_schema(
        operation_id="recipes_create", request=RecipeCreateInput, responses={201: RecipeOutput}
    )
    def post(self, request: Request) -> Response:
        data = valid(RecipeCreateInput(data=request.data))
        parent = data.get("parent")
        if parent is not None:
            require(request.user, VIEW_RECIPE, parent)
        recipe = services.recipe_create(
            name=data["name"],
            family=data["family"],
            level=data["level"],
            parent=parent,
            team=data.get("team"),
            tags=data.get("tags", []),
            description=data["description"],
            manifest=data["manifest"],
            change_note=data["change_note"],
            actor=request.user,
        )
        return Response(RecipeOutput(recipe).data, status=status.HTTP_201_CREATED)


class RecipeDetailApi(APIView):
    perms = {"GET": VIEW_RECIPE}

    @extend_schema(operation_id="recipes_retrieve", responses=RecipeOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(RecipeOutput(_recipe(request, slug)).data)


class ManifestChangeInput(serializers.Serializer):
    manifest = serializers.JSONField(required=False, help_text="The whole effective manifest.")
    patch = serializers.JSONField(
        required=False,
        help_text="RFC 6902 operations on the latest version's effective manifest; `test` "
        "operations are honoured (a failed one is a 409).",
    )
    base_version = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The version the change was made against: 409 unless it is still the latest.",
    )
    change_note = serializers.CharField(required=False, allow_blank=True, default="")

    class Meta:
        ref_name = "RecipeManifestChange"

    def validate(self, attrs: dict) -> dict:
        if ("manifest" in attrs) == ("patch" in attrs):
            raise serializers.ValidationError({"manifest": ['Send either "manifest" or "patch".']})
        return attrs


class _ManifestBody(serializers.Serializer):
    manifest = serializers.JSONField(help_text="The whole effective manifest.")
    base_version = serializers.CharField(required=False)
    change_note = serializers.CharField(required=False)

    class Meta:
        ref_name = "RecipeVersionFromManifest"


class _PatchBody(serializers.Serializer):
    patch = serializers.ListField(
        child=serializers.DictField(),
        help_text="RFC 6902 operations on the latest version's effective manifest.",
    )
    base_version = serializers.CharField(required=False)
    change_note = serializers.CharField(required=False)

    class Meta:
        ref_name = "RecipeVersionFromPatch"


# Documented as its two shapes; parsed by ManifestChangeInput.
_CHANGE_BODY = PolymorphicProxySerializer(
    component_name="RecipeVersionCreate",
    serializers=[_ManifestBody, _PatchBody],
    resource_type_field_name=None,
)


class VersionListCreateApi(APIView):
    """GET: every version, newest first. POST: a new draft version from the whole manifest
    or an RFC 6902 patch (semver: minor, or major when `requirements` changes)."""

    parser_classes = [JSONParser]
    perms = {"GET": VIEW_VERSION, "POST": "recipes.add_recipeversion"}

    @extend_schema(operation_id="recipe_versions_list", responses=VersionOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        recipe = _recipe(request, slug)
        return Response(VersionOutput(selectors.versions(recipe=recipe), many=True).data)

    @extend_schema(
        operation_id="recipe_versions_create",
        request=_CHANGE_BODY,
        responses={201: VersionDetailOutput},
    )
    def post(self, request: Request, slug: str) -> Response:
        recipe = _recipe(request, slug)
        require(request.user, "recipes.add_recipeversion", recipe)
        data = valid(ManifestChangeInput(data=request.data))
        version = services.recipe_version_create(
            recipe=recipe,
            manifest=data.get("manifest"),
            patch=data.get("patch"),
            base_version=data["base_version"],
            change_note=data["change_note"],
            actor=request.user,
        )
        return Response(VersionDetailOutput(version).data, status=status.HTTP_201_CREATED)


class VersionCheckApi(APIView):
    """A dry run of POST .../versions/: the version it would make, or the errors by JSON
    Pointer (400) / the stale patch (409). Nothing is written."""

    parser_classes = [JSONParser]
    perms = {"POST": "recipes.add_recipeversion"}

    @extend_schema(
        operation_id="recipe_versions_check", request=_CHANGE_BODY, responses={200: dict}
    )
    def post(self, request: Request, slug: str) -> Response:
        recipe = _recipe(request, slug)
        require(request.user, "recipes.add_recipeversion", RecipeVersion(recipe=recipe))
        data = valid(ManifestChangeInput(data=request.data))
        check = services.recipe_version_check(
            recipe=recipe,
            manifest=data.get("manifest"),
            patch=data.get("patch"),
            base_version=data["base_version"],
        )
        return Response(
            {
                "valid": True,
                "version": check.version,
                "content_hash": check.content_hash,
                "effective": check.effective,
                "diff": check.diff,
            }
        )


class VersionDetailApi(APIView):
    perms = {"GET": VIEW_VERSION}

    @extend_schema(
        operation_id="recipe_versions_retrieve",
        parameters=[
            OpenApiParameter(
                "effective",
                bool,
                description="1: include the merged manifest and the provenance of every leaf.",
            )
        ],
        responses=EffectiveOutput,
    )
    def get(self, request: Request, slug: str, version: str) -> Response:
        found = _version(request, slug, version)
        if request.query_params.get("effective") in ("1", "true", "yes"):
            return Response(_effective_body(found, request))
        return Response(VersionDetailOutput(found).data)


class VersionApproveApi(APIView):
    """draft -> approved, by an Approver who is not the author (four-eyes: 403 otherwise)."""

    perms = {"POST": "recipes.approve_recipeversion"}

    @extend_schema(operation_id="recipe_versions_approve", request=None, responses=VersionOutput)
    def post(self, request: Request, slug: str, version: str) -> Response:
        found = _version(request, slug, version)
        approved = services.recipe_version_approve(version=found, actor=request.user)
        return Response(VersionOutput(approved).data)


class VersionArchiveApi(APIView):
    perms = {"POST": "recipes.change_recipeversion"}

    @extend_schema(operation_id="recipe_versions_archive", request=None, responses=VersionOutput)
    def post(self, request: Request, slug: str, version: str) -> Response:
        found = _version(request, slug, version)
        archived = services.recipe_version_archive(version=found, actor=request.user)
        return Response(VersionOutput(archived).data)


class CloneInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    level = serializers.ChoiceField(choices=Level.choices)
    team = SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )

    class Meta:
        ref_name = "RecipeClone"


class RecipeCloneApi(APIView):
    """A child recipe that inherits from this one (its first version only renames it)."""

    parser_classes = [JSONParser]
    perms = {"POST": "recipes.add_recipe"}

    @extend_schema(operation_id="recipes_clone", request=CloneInput, responses={201: RecipeOutput})
    def post(self, request: Request, slug: str) -> Response:
        recipe = _recipe(request, slug)
        data = valid(CloneInput(data=request.data))
        child = services.recipe_clone(
            recipe=recipe,
            name=data["name"],
            level=data["level"],
            team=data.get("team"),
            actor=request.user,
        )
        return Response(RecipeOutput(child).data, status=status.HTTP_201_CREATED)
