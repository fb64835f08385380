"""Forms for the group pages: they parse input; the rules are the services'.

`add_service_errors` puts a ServiceError's field-named messages on the form, on the field
of the same name when there is one, at the top otherwise.
"""

from django import forms
from django.db.models import QuerySet

from core.errors import ServiceError
from core.models import Team
from core.permissions import actable
from core.roles import SCOPES
from groups.models import (
    ApiKey,
    DeletionPolicy,
    Membership,
    ModelGroup,
    Role,
    RoutingMode,
)
from groups.services import (
    MemberSpec,
    api_key_errors,
    group_default_features,
    group_fields_errors,
    group_members_errors,
)
from registry.models import ModelVersion, VersionStatus

FIELD_LABELS = {
    "weight": "Weights",
    "role": "Roles",
    "model_version": "Members",
    "members": "Members",
}


def add_service_errors(form: forms.BaseForm, error: ServiceError) -> None:
    if not error.errors:
        form.add_error(None, error.message)
    for field, messages in error.errors.items():
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
            else:
                label = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
                form.add_error(None, f"{label}: {message}")


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.model.name} {obj.version} ({obj.get_status_display().lower()})"


def _versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("model").exclude(status=VersionStatus.RETIRED)


class GroupCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="The endpoint URL and the table are named after it, for good."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        help_text="Its Operators manage the group (default: your only team).",
    )
    routing_mode = forms.ChoiceField(
        choices=RoutingMode.choices,
        initial=RoutingMode.WEIGHTED,
        help_text="Sticky: every request sends a routing key, and the same key always meets "
        "the same model.",
    )
    deletion_policy = forms.ChoiceField(
        choices=DeletionPolicy.choices,
        initial=DeletionPolicy.ARCHIVE,
        help_text="What happens to the inference table when the group is deleted.",
    )
    requires_approval = forms.BooleanField(
        required=False,
        help_text="Promotions, rollbacks and traffic changes wait for a second person.",
    )
    champion = VersionChoiceField(queryset=ModelVersion.objects.none())
    champion_weight = forms.IntegerField(
        min_value=0, max_value=100, initial=100, label="Champion weight (%)"
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["champion"].queryset = _versions()
        teams = actable(user, Team.objects.order_by("name"), team_field="pk")
        self.fields["team"].queryset = teams
        self.only_team = next(iter(teams[:2]), None) if teams[:2].count() == 1 else None
        if self.only_team is not None:
            self.fields["team"].initial = self.only_team.pk

    def clean_team(self) -> Team:
        team = self.cleaned_data.get("team") or self.only_team
        if team is None:
            raise forms.ValidationError("Choose the team that owns the group.")
        return team


class ChallengerForm(forms.Form):
    model_version = VersionChoiceField(
        queryset=ModelVersion.objects.none(), required=False, label="Version"
    )
    role = forms.ChoiceField(
        choices=[(Role.CHALLENGER, "Challenger"), (Role.SHADOW, "Shadow")], initial=Role.CHALLENGER
    )
    weight = forms.IntegerField(min_value=0, max_value=100, initial=0, label="Weight (%)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = _versions()


ChallengerFormSet = forms.formset_factory(ChallengerForm, extra=3, max_num=20)


def create_members(form: GroupCreateForm, challengers: forms.BaseFormSet) -> list[MemberSpec]:
    """The members a valid create form and challenger formset describe."""
    members = [
        MemberSpec(
            form.cleaned_data["champion"], Role.CHAMPION, form.cleaned_data["champion_weight"]
        )
    ]
    for row in challengers.cleaned_data:
        if row.get("model_version"):
            members.append(MemberSpec(row["model_version"], row["role"], row["weight"]))
    return members


class PromoteForm(forms.Form):
    model_version = forms.ModelChoiceField(queryset=ModelVersion.objects.none())
    reason = forms.CharField(max_length=500, required=False)
    next = forms.CharField(required=False)
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args, group: ModelGroup, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = ModelVersion.objects.filter(
            memberships__group=group
        ).select_related("model")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class TrafficForm(forms.Form):
    """One weight field per champion and challenger, named `weight_<version id>`."""

    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, members: list[Membership], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.members = [m for m in members if m.role != Role.SHADOW]
        for membership in self.members:
            self.fields[f"weight_{membership.model_version_id}"] = forms.IntegerField(
                min_value=0,
                max_value=100,
                initial=membership.weight,
                label=f"{membership.model_version.model.name} {membership.model_version.version}",
            )

    def weight_fields(self) -> list[forms.BoundField]:
        return [self[f"weight_{m.model_version_id}"] for m in self.members]

    def weights(self) -> dict[int, int]:
        return {
            m.model_version_id: self.cleaned_data[f"weight_{m.model_version_id}"]
            for m in self.members
        }


# --- Admin -------------------------------------------------------------------------------


class GroupAdminForm(forms.ModelForm):
    """The admin's group form: the group's own fields, checked by the service's rules."""

    class Meta:
        model = ModelGroup
        fields = [
            "name",
            "description",
            "task",
            "routing_mode",
            "deletion_policy",
            "is_active",
            "requires_approval",
            "team",
            "features",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        errors = group_fields_errors(
            name=(cleaned.get("name") or "").strip(),
            routing_mode=cleaned.get("routing_mode") or "",
            deletion_policy=cleaned.get("deletion_policy") or "",
            exclude_pk=self.instance.pk,
        )
        errors.update(_features_errors(cleaned.get("features"), required=bool(self.instance.pk)))
        _add_errors(self, errors)
        return cleaned


def _features_errors(features: object, *, required: bool) -> dict[str, list[str]]:
    if required and not features:
        return {"features": ["List the feature names every member must accept."]}
    if features is not None and not (
        isinstance(features, list) and all(isinstance(f, str) and f for f in features)
    ):
        return {"features": ['A list of feature names, e.g. ["income", "age"].']}
    return {}


def _add_errors(form: forms.BaseForm, errors: dict[str, list[str]]) -> None:
    """Service-rule errors on the form, once each, on their field when the form has it."""
    for field, messages in errors.items():
        for message in messages:
            if field not in form.errors or message not in form.errors[field]:
                form.add_error(field if field in form.fields else None, message)


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    """Runs the service's member rules on the whole inline, so errors show on the page."""

    def members(self) -> list[MemberSpec]:
        specs = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("model_version"):
                continue
            specs.append(MemberSpec(data["model_version"], data["role"], data["weight"] or 0))
        return specs

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        members = self.members()
        group = self.instance
        features = group.features or group_default_features(members=members)
        errors = group_members_errors(members=members, features=features, active=group.is_active)
        messages = [
            f"{FIELD_LABELS.get(field, field)}: {message}"
            for field, field_messages in errors.items()
            for message in field_messages
        ]
        if messages:
            raise forms.ValidationError(messages)


class ApiKeyAdminForm(forms.ModelForm):
    """The admin's key form; the rules are the service's (`api_key_errors`)."""

    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="predict: predict and feedback; read: reads; manage: what an Operator does.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "team", "scopes", "all_groups", "groups", "expires_at"]

    def clean(self) -> dict:
        cleaned = super().clean()
        errors = api_key_errors(
            name=cleaned.get("name") or "",
            team=cleaned.get("team") or (self.instance.team if self.instance.pk else None),
            scopes=cleaned.get("scopes") or [],
            groups=cleaned.get("groups") or [],
            all_groups=bool(cleaned.get("all_groups")),
            expires_at=cleaned.get("expires_at") if self.instance.pk is None else None,
        )
        _add_errors(self, {f: m for f, m in errors.items() if f not in self.errors})
        return cleaned
