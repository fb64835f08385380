from django import forms
from django.contrib.auth import get_user_model

from registry.models import INVENTORY_FIELDS, VALIDATION_FIELDS, RegisteredModel, risk_tiers


class InventoryForm(forms.ModelForm):
    """A model's inventory fields; the view drops the ones the person may not edit."""

    class Meta:
        model = RegisteredModel
        fields = [*INVENTORY_FIELDS, *VALIDATION_FIELDS]
        widgets = {
            "business_purpose": forms.Textarea(attrs={"rows": 3}),
            "intended_use": forms.Textarea(attrs={"rows": 3}),
            "known_limitations": forms.Textarea(attrs={"rows": 3}),
            "validated_on": forms.DateInput(attrs={"type": "date"}),
            "next_review_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, editable: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in editable:
                del self.fields[name]
        if "risk_tier" in self.fields:
            self.fields["risk_tier"] = forms.ChoiceField(
                choices=[("", "—"), *[(t, f"Tier {t}") for t in risk_tiers()]], required=False
            )
        if "validator" in self.fields:
            self.fields["validator"].queryset = (
                get_user_model().objects.filter(is_active=True).order_by("username")
            )
